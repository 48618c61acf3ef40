"""Resuming the train stage: where its checkpoints go and which one to resume from.

Trainer checkpoints go to ``checkpoints/train/<key>/``, outside the stage's DVC
outputs (DVC deletes those before it runs a stage); ``<key>`` hashes the params and
the exact inputs, so only a run of the same params on the same data resumes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("train")


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_key(params: Mapping[str, Any], rouge_params: Mapping[str, Any], data_dir: Path,
            base_model_dir: Path) -> str:
    """Identifies a training run: its params, data and base model (file contents)."""
    model_files = {f.name: _file_digest(f) for f in sorted(base_model_dir.iterdir())
                   if f.is_file()}
    data_files = {f.name: _file_digest(f) for f in sorted(data_dir.glob("*.parquet"))}
    key = ["train", dict(params), dict(rouge_params), data_files, model_files]
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def last_checkpoint(folder: Path) -> Path | None:
    """The newest complete ``checkpoint-<step>`` in ``folder``.

    Complete: its ``trainer_state.json``, which the Trainer writes last, is valid.
    """
    if not folder.is_dir():
        return None
    steps = []
    for path in folder.glob("checkpoint-*"):
        suffix = path.name.removeprefix("checkpoint-")
        if path.is_dir() and suffix.isdigit():
            steps.append((int(suffix), path))
    for _, path in sorted(steps, reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text())
            return path
        except (OSError, ValueError):
            continue  # killed while saving: fall back to the one before
    return None


def remove_other_runs(root: Path, keep: Path) -> None:
    """Delete checkpoints of other runs (other params or data): they can't be resumed here."""
    if root.is_dir():
        for folder in root.iterdir():
            if folder != keep and folder.is_dir():
                log.info("deleting checkpoints of another run: %s", folder)
                shutil.rmtree(folder, ignore_errors=True)
