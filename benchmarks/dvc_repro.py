"""Benchmark 5: ``dvc repro`` with nothing changed, and after editing one train param.

Runs in a temporary copy of the project (``git init`` + commit there), so the
main tree's outputs, lock file and cache are never touched. The no-op repro is
compared with ``dvc status`` (DVC's own floor: the same hashing and graph work,
running nothing); ``dvc --version`` (DVC's start-up alone) is recorded too. The
param edit must rerun only train and evaluate; it is compared with the first
``dvc repro`` of the whole pipeline in the copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.context import Context, Skip
from benchmarks.harness import add_target, compare, run_interleaved

GIT = ["git", "-c", "user.name=benchmarks", "-c", "user.email=benchmarks@localhost"]
NOOP_LIMIT_S = 3.0
#: Keys of params.yaml:train the edit may change, in order of preference.
EDITABLE = ("learning_rate", "weight_decay", "warmup_ratio", "label_smoothing")


def copy_project(root: Path, destination: Path) -> Path:
    """A copy of the project's tracked and unignored files, as a fresh clone has."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=root, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = root / name
        if source.is_file() and not name.startswith("benchmarks/results."):
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    subprocess.run([*GIT, "init", "-q"], cwd=destination, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=destination, check=True)
    subprocess.run([*GIT, "commit", "-qm", "benchmark copy"], cwd=destination, check=True)
    return destination


def timed(project: Path, *args: str, threads: int | None = None
          ) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    if threads is not None:  # torch's threads in the stages dvc runs
        env["OMP_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    result = subprocess.run(args, cwd=project, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-3000:]
        raise RuntimeError(f"`{' '.join(args)}` failed in {project} "
                           f"(exit {result.returncode}):\n{output}")
    return seconds, result


def ran(result: subprocess.CompletedProcess) -> set[str]:
    """The stages a ``dvc repro`` ran."""
    return {line.split("'")[1] for line in result.stdout.splitlines()
            if line.startswith("Running stage '")}


def pipeline_stages(project: Path) -> list[str]:
    return list(yaml.safe_load((project / "dvc.yaml").read_text()).get("stages", {}))


def _as_float(value: Any) -> float | None:
    """A float param's value (YAML reads "1e-3", without a dot, as a string)."""
    if isinstance(value, bool) or not isinstance(value, (float, str)):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def editable_param(params: dict[str, Any]) -> tuple[str, float]:
    """The train param the benchmark edits (a float that doesn't change the run's shape)."""
    train = params.get("train") or {}
    for key in (*EDITABLE, *train):
        value = _as_float(train.get(key))
        if value:
            return key, value
    raise Skip("params.yaml:train has no non-zero float param to edit (e.g. learning_rate)")


def set_param(project: Path, section: str, key: str, value: Any) -> None:
    """Change one value in params.yaml by editing its line, so comments and order stay."""
    path = project / "params.yaml"
    lines = path.read_text().splitlines(keepends=True)
    inside = False
    for index, line in enumerate(lines):
        if not line.startswith((" ", "\t", "#")) and line.strip():
            inside = line.split(":")[0].strip() == section
            continue
        stripped = line.lstrip()
        if inside and stripped.startswith(f"{key}:"):
            indent = line[:len(line) - len(stripped)]
            comment = line[line.index("#"):].rstrip("\n") if "#" in line else ""
            lines[index] = f"{indent}{key}: {value!r}{'   ' + comment if comment else ''}\n"
            path.write_text("".join(lines))
            return
    raise KeyError(f"{section}.{key} not found in {path}")


def quick_overrides(project: Path, quick: bool) -> dict[str, Any]:
    """With --quick, one training epoch in the copy (the full run keeps the project's params)."""
    if not quick:
        return {}
    set_param(project, "train", "epochs", 1)
    return {"train.epochs": 1}


def benchmark(ctx: Context) -> list[dict[str, Any]]:
    stages = pipeline_stages(ctx.root)
    missing = [s for s in ("train", "evaluate") if s not in stages]
    if missing:
        raise Skip(f"dvc.yaml has no {' or '.join(missing)} stage yet; this benchmark needs "
                   "the full pipeline")
    project = copy_project(ctx.root, ctx.scratch / "project")
    overrides = quick_overrides(project, ctx.quick)
    full_seconds, first = timed(project, "dvc", "repro", threads=ctx.threads)
    first_ran = ran(first)

    noop_ran: list[set[str]] = []

    def command(*args: str, record: bool = False):
        def run() -> dict[str, float]:
            seconds, result = timed(project, *args, threads=ctx.threads)
            if record:
                noop_ran.append(ran(result))
            return {"seconds": seconds}
        return run

    runs = run_interleaved({"repro": command("dvc", "repro", record=True),
                            "status": command("dvc", "status"),
                            "version": command("dvc", "--version")}, ctx.repeats)
    repro_s = [r["seconds"] for r in runs["repro"]]
    noop = compare(
        "dvc_noop", title="`dvc repro` with nothing changed", unit="s", ours=repro_s,
        reference=[r["seconds"] for r in runs["status"]],
        reference_name="`dvc status` (DVC's floor)", higher_is_better=False,
        max_ours=NOOP_LIMIT_S,
        details={"dvc_version_seconds": sorted(r["seconds"] for r in runs["version"]),
                 "stages": len(stages),
                 "note": "ratio: `dvc status` time / no-op `dvc repro` time (1 = at the floor)"})
    add_target(noop, "no stage ran", all(not r for r in noop_ran))

    params = yaml.safe_load((project / "params.yaml").read_text())
    key, original = editable_param(params)
    edit_runs, edit_ran = [], []
    # Each edit sets a value not seen before, so DVC's run cache cannot restore a result.
    edits = 1 if ctx.quick else min(ctx.repeats, 2)
    for index in range(edits):
        set_param(project, "train", key, original * (1.0 + 0.01 * (index + 1)))
        seconds, result = timed(project, "dvc", "repro", threads=ctx.threads)
        edit_runs.append(seconds)
        edit_ran.append(sorted(ran(result)))
    edit = compare(
        "dvc_train_param", title=f"`dvc repro` after editing train.{key}", unit="s",
        ours=edit_runs, reference=[full_seconds],
        reference_name="first `dvc repro` of the whole pipeline", higher_is_better=False,
        details={"stages_ran": edit_ran, "first_repro_ran": sorted(first_ran),
                 "param_overrides": overrides,
                 "note": f"train.{key} edited {edits} time(s); only train and evaluate may run"})
    add_target(edit, "only train and evaluate ran",
               all(set(r) == {"train", "evaluate"} for r in edit_ran))
    # The pipeline's trained model, for the generation benchmark.
    ctx.cache["pipeline_model"] = project / "data" / "train" / "model"
    ctx.cache["pipeline_note"] = (f"{params.get('download', {}).get('source', '?')} data, "
                                  f"train.epochs {params['train'].get('epochs')}")
    return [noop, edit]
