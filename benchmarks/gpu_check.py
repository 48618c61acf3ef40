"""The GPU check: the pipeline on the real files with the GPU profile, then throughput, one table.

    bash benchmarks/gpu.sh [MARC_DIR] [--wheels DIR]     # on a GPU machine (<= 8 minutes)
    python -m benchmarks.gpu_check --tiny                # the same code path on the CPU

Runs every stage of dvc.yaml, in its order, as ``python -m stages.<name>`` (DVC is not
needed) in a work folder holding params.yaml merged with ``profiles/gpu.yaml`` and
``download.source`` set to ``MARC_DIR``; the checkout is left as it was. Then
``benchmarks.gpu`` measures the mT5-small-shaped model with the seconds left, and one
table reports stage times, training steps/s and tokens/s, model FLOP utilisation and
validation ROUGE-1 per language against the baselines. ``--tiny``: the bundled sample,
tiny model and batches, the throughput benchmark's ``--tiny`` on the CPU (the tests).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from benchmarks.profile import merged, read_profile

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "gpu.yaml"
#: Import name -> distribution, of what the stages import beyond torch and transformers.
REQUIRED = {"datasets": "datasets", "duckdb": "duckdb", "dvclive": "dvclive", "dvc": "dvc",
            "scmrepo": "scmrepo", "rouge_score": "rouge_score", "nltk": "nltk",
            "pyarrow": "pyarrow", "yaml": "pyyaml", "vl_convert": "vl-convert-python"}
#: Over the profile in --tiny mode: a model and run small enough for the CPU in seconds.
TINY = {"download": {"source": "sample"},
        "base_model": {"scratch": {"vocab_size": 500, "d_model": 32, "d_ff": 64, "d_kv": 16,
                                   "num_heads": 2, "num_layers": 1, "num_decoder_layers": 1}},
        "tokenize": {"max_input_length": 32},
        "train": {"pretrain_epochs": 0, "others_epochs": 0, "epochs": 1, "batch_size": 64,
                  "min_phase_steps": 0, "precision": "auto", "cpu_processes": 1},
        "evaluate": {"num_beams": 1}, "rouge": {"bootstrap_samples": 50}}
#: Seconds the whole check may take on the GPU (gpu.sh's timeout is a little longer).
DEADLINE_S = 460
LANGUAGES_SHOWN = ("all", "en", "es")


def missing_packages(required: Mapping[str, str] | None = None) -> list[str]:
    """Distributions of ``required`` (default :data:`REQUIRED`) whose module is not found."""
    return [dist for module, dist in (REQUIRED if required is None else required).items()
            if importlib.util.find_spec(module) is None]


def install_wheels(wheels: Path, target: Path) -> None:
    """Install every wheel of ``wheels`` into ``target`` (no index, no dependencies) and
    put ``target`` on this process's and the stages' import path."""
    files = sorted(str(p) for p in wheels.glob("*.whl"))
    if not files:
        raise SystemExit(f"--wheels {wheels}: no .whl files there.")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                    "--target", str(target), *files], check=True)
    sys.path.insert(0, str(target))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target),
                                                            os.environ.get("PYTHONPATH")]))
    importlib.invalidate_caches()


def stage_names(dvc_yaml: Path = ROOT / "dvc.yaml") -> list[str]:
    """The stages of dvc.yaml in its order (each runs as ``python -m stages.<name>``)."""
    return list(yaml.safe_load(dvc_yaml.read_text(encoding="utf-8"))["stages"])


def prepare_work(work: Path, source: str, tiny: bool) -> dict[str, Any]:
    """``work``: params.yaml (the project's, the profile, the source) and the bundled
    sample; the stages write their outputs there. Returns the params written."""
    from stages.lib.params import read_params_file

    params = merged(read_params_file(ROOT / "params.yaml"), read_profile(PROFILE))
    params = merged(params, TINY if tiny else {"download": {"source": source}})
    work.mkdir(parents=True, exist_ok=True)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    (work / "data").mkdir(exist_ok=True)
    if not (work / "data" / "sample").exists():
        (work / "data" / "sample").symlink_to(ROOT / "data" / "sample")
    return params


def run_stages(work: Path, names: Sequence[str]) -> dict[str, float]:
    """Run each stage in ``work``; its wall seconds. Stops at the first that fails."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("HF_DATASETS_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    seconds = {}
    for name in names:
        print(f"[gpu-check] stage {name} ...", flush=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", f"stages.{name}"], cwd=work, env=env)
        seconds[name] = round(time.perf_counter() - start, 1)
        if done.returncode != 0:
            raise SystemExit(f"[gpu-check] stage {name} failed (exit {done.returncode}) after "
                             f"{seconds[name]} s; its outputs are in {work}.")
    return seconds


def throughput(out: Path, seconds_left: float, tiny: bool) -> dict[str, Any] | None:
    """``benchmarks.gpu`` on the mT5-small shape with a budget that fits ``seconds_left``
    (None when too little is left)."""
    from benchmarks.gpu import main as gpu_main

    if tiny:
        args = ["--device", "cpu", "--tiny", "--models", "scratch", "--examples", "12",
                "--gen-examples", "4", "--budget-s", "0.05"]
    else:
        # Two timed sides of `budget` each, plus generation, matmul peak and start-up (~80 s).
        budget = min(20.0, (seconds_left - 80) / 2)
        if budget < 3:
            print(f"[gpu-check] {seconds_left:.0f} s left: throughput benchmark skipped",
                  flush=True)
            return None
        args = ["--device", "cuda", "--models", "mt5-small", "--repeats", "1",
                "--budget-s", f"{budget:.0f}", "--peak-tflops", os.environ.get("PEAK_TFLOPS",
                                                                             "989")]
    if gpu_main([*args, "--out", str(out)]) != 0:
        return None
    return json.loads((out / "results.json").read_text())


def summary(stage_seconds: Mapping[str, float], work: Path,
            bench: Mapping[str, Any] | None) -> str:
    """The one table: stage times, training speed, MFU, ROUGE-1 per language vs baselines."""
    metrics = work / "metrics"
    lines = ["| what | value |", "|---|---|"]
    lines += [f"| stage {name} | {seconds:.1f} s |" for name, seconds in stage_seconds.items()]
    lines.append(f"| all stages | {sum(stage_seconds.values()):.1f} s |")
    train = json.loads((metrics / "train.json").read_text())
    speed = json.loads((metrics / "train_speed.json").read_text())
    steps = train["optimizer_steps"] + sum(train[phase]["optimizer_steps"]
                                           for phase in ("pretrain", "others") if phase in train)
    lines.append(f"| training ({speed['device']}, {speed['precision']}) | "
                 f"{speed['train_seconds']:.1f} s, {steps} optimizer steps, "
                 f"{steps / max(speed['train_seconds'], 1e-9):.2f} steps/s, "
                 f"{speed['train_input_tokens_per_second']:,.0f} input tokens/s |")
    for entry in (bench or {}).get("benchmarks", []):
        details = entry.get("details", {})
        if "mfu_vs_measured_matmul" in details:
            nominal = details.get("mfu_vs_nominal_peak", {}).get("ours")
            lines.append(f"| {entry['title']} | {entry['ours_median']:,.0f} tokens/s; MFU "
                         f"{details['mfu_vs_measured_matmul']['ours']:.1%} of measured matmul"
                         + (f", {nominal:.1%} of nominal peak" if nominal is not None else "")
                         + " |")
    scores = json.loads((metrics / "scores.json").read_text())
    methods = [name for name in scores if isinstance(scores[name], dict) and "all" in scores[name]]
    for language in LANGUAGES_SHOWN:
        cells = [f"{name} {scores[name][language]['R1']:.2f}" for name in methods
                 if language in scores[name]]
        if cells:
            lines.append(f"| validation ROUGE-1, {language} | {', '.join(cells)} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("marc", nargs="?", default=str(ROOT.parent / "shared" / "marc"),
                        help="folder of MARC's dataset_<lang>_<split>.json[.gz] files "
                             "(default: ../shared/marc)")
    parser.add_argument("--wheels", type=Path, default=None,
                        help="folder of wheels for the packages this machine lacks "
                             "(see ../shared/gpu/fetch-wheels.sh)")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the stages' outputs (default: a new temporary one)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out" / "gpu",
                        help="folder for the throughput results and summary.md")
    parser.add_argument("--tiny", action="store_true",
                        help="the bundled sample, a tiny model, on the CPU: the code path in "
                             "about a minute")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    missing = missing_packages()
    if missing and args.wheels is not None:
        install_wheels(args.wheels, work / "site")
        missing = missing_packages()
    if missing:
        print(f"[gpu-check] missing Python packages: {', '.join(missing)}. Bring their wheels "
              "(bash ../shared/gpu/fetch-wheels.sh .whl on a machine that reaches PyPI, into "
              "the checkout) and pass --wheels .whl, or pip install them.", file=sys.stderr)
        return 2
    if not args.tiny:
        import torch

        if not torch.cuda.is_available():
            print("[gpu-check] no CUDA GPU visible to torch; use --tiny for the CPU code path.",
                  file=sys.stderr)
            return 2
        if not Path(args.marc).is_dir():
            print(f"[gpu-check] {args.marc}: no such folder; pass the folder of MARC's files "
                  "(copied into the checkout on a machine that cannot reach ../shared).",
                  file=sys.stderr)
            return 2
    prepare_work(work, str(Path(args.marc).resolve()), args.tiny)
    print(f"[gpu-check] work folder {work}", flush=True)
    stage_seconds = run_stages(work, stage_names())
    left = DEADLINE_S - (time.perf_counter() - started)
    bench = throughput(args.out, left, args.tiny)
    table = summary(stage_seconds, work, bench)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.md").write_text(table, encoding="utf-8")
    print(table)
    print(f"[gpu-check] done in {time.perf_counter() - started:.0f} s; outputs in {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
