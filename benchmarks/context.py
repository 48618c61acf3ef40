"""What the benchmarks share: mode, repeats, a scratch folder and lazily built inputs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.inputs import MARC_DIR, ROOT, Inputs, prepare_inputs

log = logging.getLogger("benchmarks")


class Skip(Exception):
    """A benchmark cannot run here (e.g. the stage it measures does not exist yet)."""


@dataclass
class Context:
    """Settings of one ``python -m benchmarks`` run and the artifacts benchmarks share.

    The artifacts live in ``scratch`` (a temporary folder), never in the repository.
    """

    quick: bool
    repeats: int
    scratch: Path
    marc: Path | None = MARC_DIR
    marc_rows: int | None = None
    threads: int | None = None
    root: Path = ROOT
    cache: dict[str, Any] = field(default_factory=dict)

    def inputs(self) -> Inputs:
        """The MARC-format files the data benchmark reads (prepared once)."""
        if "inputs" not in self.cache:
            self.cache["inputs"] = prepare_inputs(self.scratch / "inputs", self.quick, self.marc,
                                                  rows=self.marc_rows)
        return self.cache["inputs"]

    @property
    def dataset_path(self) -> Path:
        """Where our ``drop_short_titles`` output is kept for the model benchmarks."""
        return self.scratch / "drop_short_titles"

    def dataset(self) -> Path:
        """Our ``drop_short_titles`` output on the inputs (left by the data benchmark, or made)."""
        if not (self.dataset_path / "train.parquet").is_file():
            from benchmarks.data_stages import run_ours

            inputs = self.inputs()
            work = self.scratch / "data-once"
            log.info("building the dataset (our data stages on %s)", inputs.folder)
            run_ours(inputs.folder, list(inputs.languages), work)
            (work / "drop_short_titles").rename(self.dataset_path)
        return self.dataset_path

    def base_model(self) -> Path:
        """Stage base_model's scratch model and tokenizer, trained on :meth:`dataset`."""
        if "base_model" not in self.cache:
            from benchmarks.stage_api import build_base_model

            self.cache["base_model"] = build_base_model(self.dataset(),
                                                        self.scratch / "base_model")
        return self.cache["base_model"]

    def tokenized(self) -> Path:
        """Stage tokenize's output on :meth:`dataset` with :meth:`base_model`'s tokenizer."""
        path = self.scratch / "tokenize"
        if not (path / "train.parquet").is_file():
            from benchmarks.stage_api import stage_params
            from stages.lib.data import load_splits, save_splits
            from stages.tokenize import load_tokenizer, tokenize_splits

            params = stage_params("tokenize")
            tables = tokenize_splits(load_splits(self.dataset()), load_tokenizer(self.base_model()),
                                     params["max_input_length"], params["max_target_length"])
            save_splits(tables, path)
        return path

    def train_subset(self, train_rows: int, validation_rows: int) -> Path:
        """The first rows of :meth:`tokenized` (already shuffled): a short epoch to time."""
        path = self.scratch / f"tokenize-{train_rows}-{validation_rows}"
        if not (path / "train.parquet").is_file():
            from stages.lib.data import load_splits, save_splits

            tables = load_splits(self.tokenized())
            if tables["train"].num_rows == 0 or tables["validation"].num_rows == 0:
                raise Skip("the tokenized dataset needs train and validation rows")
            subset = {"train": tables["train"].slice(0, train_rows),
                      "validation": tables["validation"].slice(0, validation_rows),
                      "test": tables["train"].slice(0, 0)}
            save_splits(subset, path)
        return path
