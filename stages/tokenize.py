"""Stage tokenize: review bodies and titles as token ids for the base model.

The course's preprocessing: bodies truncated to ``max_input_length`` tokens
become ``input_ids``, titles truncated to ``max_target_length`` become
``labels``. Each split is tokenized with one batched call of the fast
(Rust, multi-threaded) tokenizer and the ids go straight into Arrow arrays, so
no Python runs per row. ``attention_mask`` is not stored: it is all ones until
batches are padded, and the collator makes it then.

Kept alongside: ``review_id``, ``language``, ``review_body`` and ``review_title``
(evaluation reports and scores per language against the untruncated titles).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from stages.lib import interrupts
from stages.lib.data import load_splits, write_splits
from stages.lib.errors import UserError, stage_entry
from stages.lib.io import atomic_outputs, damaged_output, dumps_json, require_output
from stages.lib.params import integer, load_params

log = logging.getLogger("tokenize")

INPUT = Path("data/drop_short_titles")
BASE_MODEL = Path("data/base_model")
OUTPUT = Path("data/tokenize")
METRICS = Path("metrics/tokenize.json")

SPEC = {
    "max_input_length": integer(minimum=1),
    "max_target_length": integer(minimum=1),
}

#: Columns carried over from the input, next to ``input_ids`` and ``labels``.
KEPT_COLUMNS = ("review_id", "language", "review_body", "review_title")


def load_tokenizer(path: str | Path = BASE_MODEL) -> PreTrainedTokenizerBase:
    """The base model's (fast) tokenizer, saved by stage base_model."""
    path = require_output(path, "tokenizer_config.json")
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as err:  # (tokenizers' and json's errors)
        interrupts.raise_if_received()
        raise damaged_output(path, err) from None
    if not tokenizer.is_fast:
        raise UserError(f"the tokenizer in {path} is not a fast (Rust) tokenizer; "
                        "tokenize needs one to process whole splits at once.")
    return tokenizer


def int_lists(lists: Sequence[Sequence[int]]) -> pa.ListArray:
    """``list<int32>`` Arrow array of ``lists``, built through numpy (no per-row Arrow calls)."""
    lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    offsets = np.zeros(len(lists) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int32,
                         count=int(offsets[-1]))
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))


def tokenize_table(table: pa.Table, tokenizer: PreTrainedTokenizerBase,
                   max_input_length: int, max_target_length: int) -> pa.Table:
    """``input_ids`` and ``labels`` of one split, with :data:`KEPT_COLUMNS`."""
    bodies = table["review_body"].to_pylist()
    titles = table["review_title"].to_pylist()
    if bodies:
        inputs = tokenizer(bodies, max_length=max_input_length, truncation=True,
                           return_attention_mask=False)["input_ids"]
        labels = tokenizer(text_target=titles, max_length=max_target_length, truncation=True,
                           return_attention_mask=False)["input_ids"]
    else:
        inputs, labels = [], []
    columns = {name: table[name] for name in KEPT_COLUMNS}
    return pa.table({"input_ids": int_lists(inputs), "labels": int_lists(labels), **columns})


def tokenize_splits(tables: Mapping[str, pa.Table], tokenizer: PreTrainedTokenizerBase,
                    max_input_length: int, max_target_length: int) -> dict[str, pa.Table]:
    """Every split tokenized (see :func:`tokenize_table`), in the same row order."""
    return {split: tokenize_table(table, tokenizer, max_input_length, max_target_length)
            for split, table in tables.items()}


def length_report(tables: Mapping[str, pa.Table], max_input_length: int,
                  max_target_length: int) -> dict[str, dict[str, float | int]]:
    """Per split: rows, mean tokens, and how many inputs/titles reach the limit (cut there)."""
    report = {}
    for split, table in tables.items():
        inputs = pc.list_value_length(table["input_ids"]).to_numpy()
        labels = pc.list_value_length(table["labels"]).to_numpy()
        rows = table.num_rows
        report[split] = {
            "rows": rows,
            "input_tokens_mean": round(float(inputs.mean()), 2) if rows else 0.0,
            "inputs_at_limit": int((inputs >= max_input_length).sum()),
            "label_tokens_mean": round(float(labels.mean()), 2) if rows else 0.0,
            "labels_at_limit": int((labels >= max_target_length).sum()),
        }
    return report


@stage_entry
def main() -> None:
    params = load_params("tokenize", SPEC)
    tables = load_splits(INPUT)
    tokenizer = load_tokenizer(BASE_MODEL)
    tokenized = tokenize_splits(tables, tokenizer, params["max_input_length"],
                                params["max_target_length"])
    report = length_report(tokenized, params["max_input_length"], params["max_target_length"])
    with atomic_outputs(OUTPUT, METRICS) as (data, metrics):
        write_splits(tokenized, data)
        metrics.write_text(dumps_json(report), encoding="utf-8")
    log.info("tokenized %s rows into %s",
             {split: table.num_rows for split, table in tokenized.items()}, OUTPUT)


if __name__ == "__main__":
    main()
