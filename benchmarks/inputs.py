"""Benchmark inputs: the real MARC files (replicated to full-corpus size) or the bundled sample.

The replicated files go to a temporary folder, never into the repository
(MARC may not be republished).
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARC_DIR = ROOT.parent / "shared" / "marc"
SAMPLE_DIR = ROOT / "data" / "sample"

#: Rows of English train to stand in for the full corpus (the real file has 103,032).
FULL_ROWS = 400_000
QUICK_ROWS = 50_000


@dataclass(frozen=True)
class Inputs:
    """A folder of MARC-format files both sides of the data benchmark read."""

    folder: Path
    languages: tuple[str, ...]
    description: str
    train_rows: int


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _marc_file(folder: Path, stem: str) -> Path | None:
    for suffix in (".json", ".jsonl", ".json.gz", ".jsonl.gz"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return None


def replicate_lines(lines: list[bytes], rows: int) -> list[bytes]:
    """``rows`` JSON lines cycling through ``lines``; later copies get distinct review ids."""
    if not lines:
        raise ValueError("nothing to replicate")
    marker = b'"review_id": "'
    out = []
    copy = 0
    while len(out) < rows:
        for line in lines[: rows - len(out)]:
            out.append(line if copy == 0 else
                       line.replace(marker, marker + f"copy{copy}-".encode(), 1))
        copy += 1
    return out


def prepare_marc(marc: Path, destination: Path, rows: int) -> Inputs:
    """Write MARC's English train replicated to ``rows`` rows, and the dev files, uncompressed."""
    destination.mkdir(parents=True, exist_ok=True)
    train = _marc_file(marc, "dataset_en_train")
    if train is None:
        raise FileNotFoundError(f"{marc} has no dataset_en_train.json[.gz]")
    with _open(train) as handle:
        lines = [line if line.endswith(b"\n") else line + b"\n"
                 for line in handle if line.strip()]
    real_rows = len(lines)
    with open(destination / "dataset_en_train.json", "wb") as handle:
        handle.writelines(replicate_lines(lines, rows))
    del lines
    languages = ["en"]
    for language in ("en", "es"):
        for split in ("dev", "test", "train"):
            if language == "en" and split == "train":
                continue
            source = _marc_file(marc, f"dataset_{language}_{split}")
            if source is None:
                continue
            with _open(source) as src, open(destination / f"dataset_{language}_{split}.json",
                                            "wb") as dst:
                shutil.copyfileobj(src, dst)
            if language not in languages:
                languages.append(language)
    return Inputs(destination, tuple(languages),
                  f"MARC from {marc} (English train {real_rows:,} rows replicated to "
                  f"{rows:,}; dev files as they are; languages {', '.join(languages)})", rows)


def prepare_inputs(destination: Path, quick: bool, marc: Path | None = MARC_DIR,
                   sample: Path = SAMPLE_DIR, rows: int | None = None) -> Inputs:
    """The benchmark's input folder: MARC if present, the bundled sample otherwise.

    ``rows``: English train rows to replicate MARC's to (default by ``quick``).
    """
    if marc is not None and _marc_file(marc, "dataset_en_train") is not None:
        return prepare_marc(marc, destination, rows or (QUICK_ROWS if quick else FULL_ROWS))
    languages = tuple(sorted({p.name.split("_")[1] for p in sample.glob("dataset_*_*.json*")}))
    train_rows = 0
    for path in sample.glob("dataset_*_train.json*"):
        with _open(path) as handle:
            train_rows += sum(1 for line in handle if line.strip())
    return Inputs(sample, languages, f"the bundled sample ({sample}; {train_rows:,} train rows)",
                  train_rows)
