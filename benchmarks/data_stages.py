"""Benchmark 1: the data stages (download from local files → drop_short_titles).

Ours: the stage functions, each stage's output saved as Parquet (``save_splits``) and
loaded back by the next, as the pipeline does. Reference: the course's code
path on the same files (``load_dataset("json")``, ``Dataset.filter`` with a
Python function per row, ``concatenate_datasets``, ``shuffle``, the title
filter as a per-row lambda). Each run is its own process, so peak RSS is each
side's own; ``python -m benchmarks.data_stages --side ours|course`` is that process.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    add_target,
    compare,
    medians,
    peak_rss_mb,
    run_child,
    run_interleaved,
)
from benchmarks.inputs import ROOT, Inputs

CATEGORIES = ["book", "digital_ebook_purchase"]
SEED = 42
MIN_WORDS = 3  # the course keeps titles of "more than 2" words
FILE_SPLITS = {"train": "train", "validation": "dev", "test": "test"}
MAX_RSS_MB = 2048


def _ids_digest(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:16]


class _Clock:
    """Seconds spent in each named part of a run."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self._last
        self._last = now


def run_ours(source: Path, languages: list[str], work: Path
             ) -> tuple[dict[str, list[str]], dict[str, float]]:
    """The four stage functions with the pipeline's save/load between them."""
    from stages.concat_shuffle import concat_shuffle
    from stages.download import download
    from stages.drop_short_titles import drop_short_titles
    from stages.filter_books import filter_books
    from stages.lib.data import load_splits, save_splits

    clock = _Clock()
    tables, _ = download(str(source), languages)
    clock.lap("download")
    save_splits(tables, work / "download")
    clock.lap("save download")
    tables = filter_books(load_splits(work / "download"), CATEGORIES)
    save_splits(tables, work / "filter_books")
    clock.lap("filter_books (load, run, save)")
    tables = concat_shuffle(load_splits(work / "filter_books"), SEED)
    save_splits(tables, work / "concat_shuffle")
    clock.lap("concat_shuffle (load, run, save)")
    tables = drop_short_titles(load_splits(work / "concat_shuffle"), MIN_WORDS)
    save_splits(tables, work / "drop_short_titles")
    clock.lap("drop_short_titles (load, run, save)")
    ids = {split: table["review_id"].to_pylist() for split, table in tables.items()
           if table.num_rows}
    return ids, clock.laps


def run_course(source: Path, languages: list[str]
               ) -> tuple[dict[str, list[str]], dict[str, float]]:
    """The course's code path, as its summarization chapter writes it, on local files."""
    from datasets import DatasetDict, concatenate_datasets, load_dataset

    clock = _Clock()
    per_language = []
    for language in languages:
        files = {}
        for split, file_split in FILE_SPLITS.items():
            for suffix in (".json", ".jsonl", ".json.gz", ".jsonl.gz"):
                path = source / f"dataset_{language}_{file_split}{suffix}"
                if path.is_file():
                    files[split] = str(path)
        per_language.append(load_dataset("json", data_files=files))

    def filter_books(example):
        return (
            example["product_category"] == "book"
            or example["product_category"] == "digital_ebook_purchase"
        )

    clock.lap("load_dataset json")
    per_language = [dataset.filter(filter_books) for dataset in per_language]
    clock.lap("filter books (per row)")
    books_dataset = DatasetDict()
    # The course loops over English's splits; the real files lack some splits in
    # some languages, so concatenate the languages that have each split.
    for split in FILE_SPLITS:
        parts = [dataset[split] for dataset in per_language if split in dataset]
        if parts:
            books_dataset[split] = concatenate_datasets(parts)
            books_dataset[split] = books_dataset[split].shuffle(seed=SEED)
    books_dataset = books_dataset.filter(lambda x: len(x["review_title"].split()) > 2)
    clock.lap("shuffle, title filter")
    ids = {split: dataset["review_id"] for split, dataset in books_dataset.items()
           if len(dataset)}
    return ids, clock.laps


def child(side: str, source: Path, languages: list[str], work: Path) -> dict[str, Any]:
    """One measured run in this process: wall time of the work and peak RSS."""
    # Imports are not part of the timed work: the course's library, and for ours the
    # stage modules (the course's code has none to import).
    import datasets  # noqa: F401
    if side == "ours":
        import stages.concat_shuffle  # noqa: F401
        import stages.download  # noqa: F401
        import stages.drop_short_titles  # noqa: F401
        import stages.filter_books  # noqa: F401
        import stages.lib.data  # noqa: F401

    base_rss = peak_rss_mb()
    start = time.perf_counter()
    ids, laps = (run_ours(source, languages, work) if side == "ours"
                 else run_course(source, languages))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb(), "rss_after_imports_mb": base_rss,
            "laps": laps,
            "rows": {split: len(v) for split, v in ids.items()},
            "ids": {split: _ids_digest(v) for split, v in ids.items()}}


def benchmark(inputs: Inputs, repeats: int, scratch: Path, keep: Path | None = None
              ) -> list[dict[str, Any]]:
    """Run both sides ``repeats`` times, alternating; return the time and RSS entries.

    ``keep``: where to leave our last ``drop_short_titles`` output for later benchmarks.
    """
    outputs: dict[str, dict] = {}

    def side(name: str):
        def run() -> dict[str, float]:
            work = Path(tempfile.mkdtemp(prefix=f"data-{name}-", dir=scratch))
            # A fresh datasets cache per run: the course's first run parses the JSON and
            # writes Arrow cache files; a warm cache would skip that.
            env = {"HF_DATASETS_CACHE": str(work / "hf-cache"), "HF_DATASETS_OFFLINE": "1",
                   "HF_HUB_OFFLINE": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
                   "TQDM_DISABLE": "1", "PYTHONPATH": str(ROOT)}
            start = time.perf_counter()
            result = run_child("benchmarks.data_stages",
                               ["--side", name, "--source", str(inputs.folder),
                                "--languages", ",".join(inputs.languages), "--work", str(work)],
                               cwd=ROOT, env=env)
            result["process_seconds"] = time.perf_counter() - start
            outputs[name] = result
            if name == "ours" and keep is not None:
                if keep.exists():
                    shutil.rmtree(keep)
                shutil.move(str(work / "drop_short_titles"), str(keep))
            shutil.rmtree(work, ignore_errors=True)
            return {k: v for k, v in result.items() if isinstance(v, float)}
        return run

    runs = run_interleaved({"ours": side("ours"), "course": side("course")}, repeats)
    ours, course = medians(runs["ours"]), medians(runs["course"])
    same = outputs["ours"]["ids"] == outputs["course"]["ids"]
    entry = compare(
        "data_stages", title="Data stages: download → drop_short_titles (wall time)", unit="s",
        ours=[r["seconds"] for r in runs["ours"]],
        reference=[r["seconds"] for r in runs["course"]],
        reference_name="course code path (load_dataset json, per-row filter, shuffle)",
        higher_is_better=False, min_ratio=5.0,
        details={
            "rss_after_imports_mb": {"ours": ours["rss_after_imports_mb"],
                                     "reference": course["rss_after_imports_mb"]},
            "process_seconds": {"ours": ours["process_seconds"],
                                "reference": course["process_seconds"]},
            "rows_out": {"ours": outputs["ours"]["rows"], "reference": outputs["course"]["rows"]},
            "same_rows_in_same_order": same,
            "seconds_by_part": {"ours": outputs["ours"]["laps"],
                                "reference": outputs["course"]["laps"]},
            "input_train_rows": inputs.train_rows,
        })

    add_target(entry, "same rows in the same order as the course", same)
    rss = compare(
        "data_stages_rss", title="Data stages: peak RSS (each side in its own process)",
        unit="MB", ours=[r["peak_rss_mb"] for r in runs["ours"]],
        reference=[r["peak_rss_mb"] for r in runs["course"]],
        reference_name="course code path", higher_is_better=False, max_ours=MAX_RSS_MB,
        details={"rss_after_imports_mb": entry["details"]["rss_after_imports_mb"],
                 "note": "ratio: the course's peak RSS / ours (above 1: ours uses less)"})
    return [entry, rss]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--side", choices=("ours", "course"), required=True)
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--languages", default="en,es")
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    result = child(args.side, args.source, args.languages.split(","), args.work)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
