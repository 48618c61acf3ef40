"""Shared test helpers: MARC-format rows written in the test, and project copies."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Tests never reach the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

CATEGORIES = ("book", "digital_ebook_purchase", "toy", "kitchen")


def review(language: str, index: int, *, category: str = "book", title: str | None = None,
           body: str | None = None, stars: object = "4", **extra: object) -> dict:
    """One review in MARC's file format (stars as a string), with made-up text."""
    row = {
        "review_id": f"t-{language}-{index}",
        "product_id": f"tp-{language}-{index % 7}",
        "reviewer_id": f"tr-{language}-{index % 5}",
        "stars": stars,
        "review_body": body if body is not None else
        f"Review number {index} of a {category}. It was fine. I would buy it again.",
        "review_title": title if title is not None else " ".join(["word"] * (1 + index % 4)),
        "language": language,
        "product_category": category,
    }
    row.update(extra)
    return row


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def make_marc_folder(folder: Path, languages=("en", "es"), splits=("train", "dev", "test"),
                     rows_per_split: int = 12) -> Path:
    """A folder of small MARC files, every category in turn."""
    for language in languages:
        for split in splits:
            rows = [review(language, i + 100 * ("train", "dev", "test").index(split),
                           category=CATEGORIES[i % len(CATEGORIES)])
                    for i in range(rows_per_split)]
            write_jsonl(folder / f"dataset_{language}_{split}.json", rows)
    return folder


def copy_project(destination: Path) -> Path:
    """A copy of the project's tracked sources (no data outputs), as a fresh clone has."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, check=True, capture_output=True, text=True,
                           timeout=60).stdout.split()
    for name in files:
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def run_stage(project: Path, stage: str, *args: str, env: dict | None = None,
              timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", f"stages.{stage}", *args], cwd=project,
                          capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=timeout)


def set_params(project: Path, **sections: dict) -> None:
    """Update keys of params.yaml sections, e.g. ``set_params(p, download={"source": "x"})``."""
    import yaml

    path = project / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for section, values in sections.items():
        params.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))


@pytest.fixture
def cpu_only(monkeypatch) -> None:
    """The CPU path on any machine: this process sees no CUDA device, and the processes it
    starts get none. On a GPU the stages would train in bf16, and the tests that compare
    runs byte for byte or with hand-made answers assume the CPU's fp32."""
    import torch

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh copy of the project in a temporary folder."""
    return copy_project(tmp_path / "project")
