"""``python -m benchmarks``: run every benchmark here; write results.json and results.md.

    python -m benchmarks             # full inputs (MARC replicated to 400,000 rows if present)
    python -m benchmarks --quick     # the same benchmarks on smaller inputs, in under 5 minutes
    python -m benchmarks --only data_stages,tokenize
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.context import Context, Skip
from benchmarks.harness import git_revision, machine_info, markdown_table, not_run, write_results
from benchmarks.inputs import MARC_DIR, ROOT

log = logging.getLogger("benchmarks")

TITLES = {
    "data_stages": "Data stages: download → drop_short_titles",
    "tokenize": "tokenize",
    "train": "Training step throughput (CPU)",
    "train_overhead": "Train stage's steps/s vs a bare PyTorch loop (CPU)",
    "generation": "Evaluation generation",
    "dvc": "dvc repro",
}


def _data_stages(ctx: Context) -> list[dict[str, Any]]:
    from benchmarks.data_stages import benchmark

    return benchmark(ctx.inputs(), ctx.repeats, ctx.scratch, keep=ctx.dataset_path)


def _tokenize(ctx: Context) -> list[dict[str, Any]]:
    from benchmarks.tokenization import benchmark

    return benchmark(ctx)


def _train(ctx: Context) -> list[dict[str, Any]]:
    from benchmarks.training import benchmark

    return benchmark(ctx)


def _train_overhead(ctx: Context) -> list[dict[str, Any]]:
    from benchmarks.step_overhead import benchmark

    return benchmark(ctx)


def _generation(ctx: Context) -> list[dict[str, Any]]:
    from benchmarks.generation import benchmark

    return benchmark(ctx)


def _dvc(ctx: Context) -> list[dict[str, Any]]:
    from benchmarks.dvc_repro import benchmark

    return benchmark(ctx)


#: In this order: generation uses the model that the dvc benchmark's `dvc repro` trains.
RUNNERS: dict[str, Callable[[Context], list[dict[str, Any]]]] = {
    "data_stages": _data_stages,
    "tokenize": _tokenize,
    "train": _train,
    "train_overhead": _train_overhead,
    "dvc": _dvc,
    "generation": _generation,
}


def run(names: list[str], ctx: Context, out: Path) -> dict[str, Any]:
    """Run the named benchmarks in order; write the results after each one."""
    started = time.perf_counter()
    inputs = ctx.inputs()
    results: dict[str, Any] = {
        "machine": machine_info(),
        "git": git_revision(ctx.root),
        "quick": ctx.quick,
        "repeats": ctx.repeats,
        "threads_option": ctx.threads,
        "input": {"description": inputs.description, "train_rows": inputs.train_rows},
        "benchmarks": [],
    }
    for name in names:
        print(f"[benchmarks] {name} ...", file=sys.stderr, flush=True)
        begin = time.perf_counter()
        try:
            entries = RUNNERS[name](ctx)
        except Skip as reason:
            entries = [not_run(name, TITLES[name], str(reason))]
        except Exception as err:  # noqa: BLE001  (one broken benchmark must not hide the rest)
            traceback.print_exc()
            entries = [not_run(name, TITLES[name], f"{type(err).__name__}: {err}", error=True)]
        for entry in entries:
            entry["benchmark_seconds"] = time.perf_counter() - begin
        results["benchmarks"] += entries
        results["seconds"] = time.perf_counter() - started
        write_results(results, out)
        print(f"[benchmarks] {name} done in {time.perf_counter() - begin:.0f} s",
              file=sys.stderr, flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="smaller inputs and fewer repeats (under 5 minutes)")
    parser.add_argument("--only", default=",".join(RUNNERS),
                        help=f"comma-separated benchmarks to run (default: all of "
                             f"{', '.join(RUNNERS)})")
    parser.add_argument("--repeats", type=int, default=None,
                        help="runs per side (default 5, or 3 with --quick)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks",
                        help="folder for results.json and results.md (default: benchmarks/)")
    parser.add_argument("--marc", default=str(MARC_DIR),
                        help="folder of real MARC files ('none': use the bundled sample)")
    parser.add_argument("--rows", type=int, default=None,
                        help="rows to replicate MARC's English train to (default 400,000, "
                             "or 50,000 with --quick)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch/OpenMP threads for every benchmark (default: torch's own "
                             "choice); set it on a machine shared with other jobs")
    parser.add_argument("--keep-scratch", action="store_true",
                        help="keep the temporary folder of inputs and outputs")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in RUNNERS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(RUNNERS)}")
    repeats = args.repeats or (3 if args.quick else 5)
    if repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be at least 1")
        import torch

        # torch only: OMP_NUM_THREADS would also shrink pyarrow's thread pool. The stages
        # that `dvc repro` runs get it through their environment (see dvc_repro).
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    scratch = Path(tempfile.mkdtemp(prefix="marc-benchmarks-"))
    marc = None if args.marc.lower() == "none" else Path(args.marc)
    ctx = Context(quick=args.quick, repeats=repeats, scratch=scratch, marc=marc,
                  marc_rows=args.rows, threads=args.threads)
    try:
        results = run(names, ctx, args.out)
    finally:
        if args.keep_scratch:
            print(f"[benchmarks] scratch folder kept: {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(markdown_table(results))
    print(f"wrote {args.out / 'results.json'} and {args.out / 'results.md'} "
          f"({results['seconds']:.0f} s)")
    return 1 if any(e.get("status") == "error" for e in results["benchmarks"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
