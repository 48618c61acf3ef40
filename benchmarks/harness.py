"""Benchmark plumbing: interleaved repeated runs, medians, ratios and the results files.

Every benchmark compares "ours" with a reference measured in the same process
run, alternating the two, so that a busy or throttled machine slows both alike
and the ratio of medians still holds.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

#: Libraries whose versions results.json records.
LIBRARIES = ("torch", "transformers", "datasets", "pyarrow", "duckdb", "tokenizers", "accelerate",
             "dvc", "numpy", "safetensors")

Metrics = dict[str, float]


def median(values: Iterable[float]) -> float:
    """The median of ``values`` (the mean of the middle two for an even count)."""
    values = list(values)
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def run_interleaved(candidates: Mapping[str, Callable[[], Metrics]], repeats: int,
                    warmup: int = 0) -> dict[str, list[Metrics]]:
    """Call each candidate ``repeats`` times, alternating them; return each one's metrics.

    The order is reversed every other round (A B, B A, ...), so neither side always
    runs first after a pause. ``warmup`` rounds run first and are discarded.
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    names = list(candidates)
    runs: dict[str, list[Metrics]] = {name: [] for name in names}
    for round_index in range(warmup + repeats):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            metrics = candidates[name]()
            if round_index >= warmup:
                runs[name].append(metrics)
    return runs


def medians(runs: Sequence[Metrics]) -> Metrics:
    """The median of each metric over ``runs`` (metrics every run reported)."""
    keys = [key for key in runs[0] if all(key in run for run in runs)]
    return {key: median(run[key] for run in runs) for key in keys}


def compare(name: str, *, title: str, unit: str, ours: Sequence[float],
            reference: Sequence[float], reference_name: str, higher_is_better: bool,
            ratio_kind: str = "speedup", min_ratio: float | None = None,
            max_ratio: float | None = None, max_ours: float | None = None,
            details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One benchmark's entry: medians of both sides, their ratio and the targets met.

    ``ratio_kind`` "speedup" makes ``ratio`` how many times faster ours is
    (reference time / our time, or our throughput / the reference's);
    "slowdown" makes it our time / the reference's (the tokenizer's limit).
    """
    ours_median, reference_median = median(ours), median(reference)
    if ratio_kind == "speedup":
        ratio = (ours_median / reference_median if higher_is_better
                 else reference_median / ours_median)
    elif ratio_kind == "slowdown":
        ratio = (reference_median / ours_median if higher_is_better
                 else ours_median / reference_median)
    else:
        raise ValueError(f"unknown ratio_kind {ratio_kind!r}")
    targets = []
    if min_ratio is not None:
        targets.append({"what": f"ratio >= {min_ratio:g}", "met": ratio >= min_ratio})
    if max_ratio is not None:
        targets.append({"what": f"ratio <= {max_ratio:g}", "met": ratio <= max_ratio})
    if max_ours is not None:
        targets.append({"what": f"ours < {max_ours:g} {unit}", "met": ours_median < max_ours})
    return {
        "name": name,
        "title": title,
        "unit": unit,
        "higher_is_better": higher_is_better,
        "ours_median": ours_median,
        "reference": reference_name,
        "reference_median": reference_median,
        "ratio": ratio,
        "ratio_kind": ratio_kind,
        "ours_runs": list(ours),
        "reference_runs": list(reference),
        "targets": targets,
        "details": dict(details or {}),
    }


def add_target(entry: dict[str, Any], what: str, met: bool) -> None:
    entry["targets"].append({"what": what, "met": bool(met)})


def not_run(name: str, title: str, reason: str, *, error: bool = False) -> dict[str, Any]:
    """An entry for a benchmark that was skipped (or failed) and why."""
    return {"name": name, "title": title, "status": "error" if error else "skipped",
            "reason": reason}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _total_ram_bytes() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError):
            return None


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for library in LIBRARIES:
        try:
            versions[library] = metadata.version(library)
        except metadata.PackageNotFoundError:
            versions[library] = None
    return versions


def machine_info() -> dict[str, Any]:
    """What the figures were measured on: CPU, cores, RAM, accelerator and versions."""
    ram = _total_ram_bytes()
    info: dict[str, Any] = {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "ram_gb": round(ram / 2**30, 1) if ram else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libraries": library_versions(),
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def git_revision(root: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def _number(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.3g} s" if value < 10 else f"{value:.1f} s"
    if abs(value) >= 1000:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"


def markdown_table(results: Mapping[str, Any]) -> str:
    """The results as a Markdown table (one row per benchmark), with the machine."""
    machine = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {machine['cpu_model']}, {machine['usable_cores']} usable cores, "
        f"{machine['ram_gb']} GB RAM"
        + (f", GPU {machine['gpu']}" if machine.get("gpu") else "")
        + (f"; torch threads {machine['torch_threads']}" if machine.get("torch_threads") else "")
        + f"; Python {machine['python']}, "
        + ", ".join(f"{k} {v}" for k, v in machine["libraries"].items() if v) + ".",
        f"Input: {results.get('input', {}).get('description', 'n/a')}. "
        f"Mode: {'quick' if results.get('quick') else 'full'}; "
        f"medians of {results.get('repeats', '?')} interleaved runs per side.",
        "",
        "| Benchmark | Ours (median) | Reference | Reference (median) | Ratio | Targets |",
        "|---|---|---|---|---|---|",
    ]
    for entry in results["benchmarks"]:
        if entry.get("status") in ("skipped", "error"):
            lines.append(f"| {entry['title']} | {entry['status']}: {entry['reason']} "
                         "| | | | |")
            continue
        unit = entry["unit"]
        suffix = "×" if entry["ratio_kind"] == "speedup" else "× (ours/ref)"
        targets = "; ".join(f"{t['what']}: {'met' if t['met'] else '**not met**'}"
                            for t in entry["targets"]) or "–"
        lines.append(f"| {entry['title']} | {_number(entry['ours_median'], unit)} "
                     f"| {entry['reference']} | {_number(entry['reference_median'], unit)} "
                     f"| {entry['ratio']:.2f}{suffix} | {targets} |")
    notes = [(entry["title"], entry["details"]["note"]) for entry in results["benchmarks"]
             if isinstance(entry.get("details"), dict) and entry["details"].get("note")]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {title}: {note}" for title, note in notes]
    return "\n".join(lines) + "\n"


def write_results(results: Mapping[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``results.json`` and ``results.md`` into ``out_dir``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "results.json", out_dir / "results.md"
    # Written directly, not via stages.lib.io, so the GPU machine needs nothing but this package.
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    os.replace(tmp, json_path)
    tmp = md_path.with_suffix(".md.tmp")
    tmp.write_text(markdown_table(results))
    os.replace(tmp, md_path)
    return json_path, md_path


def run_child(module: str, args: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None,
              timeout: float | None = None) -> dict[str, Any]:
    """Run ``python -m module args`` and return the JSON object on its last stdout line.

    Each measured side runs in its own process so that its peak RSS is its own.
    """
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=cwd,
                            capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, **(env or {})})
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"{module} {' '.join(args)} failed (exit {result.returncode}):\n"
                           f"{result.stderr[-3000:]}")
    return json.loads(lines[-1])


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KiB)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 2**20
