"""The datasets passed between stages: MARC's schema, saving and loading.

Stages work on pyarrow tables (vectorised, memory-mapped when loaded) and hand
them on as Hugging Face ``DatasetDict``s saved with ``save_to_disk``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, DatasetDict, NamedSplit, load_from_disk

from stages.lib.io import atomic_path, require_output

SPLITS = ("train", "validation", "test")
#: The split of train rows from other product categories (filter_books.warmup_categories),
#: which the train stage learns from before the books.
WARMUP_SPLIT = "warmup"

#: MARC's eight columns with the types of the Hugging Face version (stars as int32).
MARC_SCHEMA = pa.schema([
    ("review_id", pa.string()),
    ("product_id", pa.string()),
    ("reviewer_id", pa.string()),
    ("stars", pa.int32()),
    ("review_body", pa.string()),
    ("review_title", pa.string()),
    ("language", pa.string()),
    ("product_category", pa.string()),
])
MARC_COLUMNS = tuple(MARC_SCHEMA.names)
SHARD_BYTES = 500 << 20


def content_fingerprint(*parts: Any) -> str:
    """A deterministic datasets fingerprint from what produced the data.

    ``datasets`` would otherwise draw a random one, and the saved ``state.json``
    would differ on every run, defeating DVC's cache.
    """
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def save_splits(tables: Mapping[str, pa.Table], path: str | Path, fingerprint: str) -> None:
    """Save ``{split: table}`` as a DatasetDict at ``path``, atomically."""
    splits = DatasetDict({
        name: Dataset(table.combine_chunks(), split=NamedSplit(name),
                      fingerprint=content_fingerprint(fingerprint, name))
        for name, table in tables.items()
    })
    # An empty split would get zero shards, which load_from_disk cannot read back.
    shards = {name: max(1, -(-dataset.data.nbytes // SHARD_BYTES))
              for name, dataset in splits.items()}
    with atomic_path(path) as tmp:
        splits.save_to_disk(str(tmp), num_shards=shards)


def load_splits(path: str | Path) -> dict[str, pa.Table]:
    """Load a DatasetDict saved by an earlier stage as ``{split: table}``."""
    path = require_output(path, "dataset_dict.json")
    dataset_dict = load_from_disk(str(path))
    return {name: dataset.data.table for name, dataset in dataset_dict.items()}


def load_fingerprint(path: str | Path) -> str:
    """The fingerprint of a saved DatasetDict (its splits' fingerprints, hashed)."""
    parts = []
    for state in sorted(Path(path).glob("*/state.json")):
        parts.append((state.parent.name, json.loads(state.read_text())["_fingerprint"]))
    return content_fingerprint(parts)


def word_counts(strings: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Whitespace-separated words per string, as Python's ``len(s.split())``."""
    trimmed = pc.utf8_trim_whitespace(strings)
    counts = pc.list_value_length(pc.utf8_split_whitespace(trimmed))
    return pc.if_else(pc.equal(trimmed, ""), 0, counts)


def rows_by_language(tables: Mapping[str, pa.Table]) -> dict[str, dict[str, int]]:
    """``{split: {language: rows, ..., "all": rows}}``."""
    report = {}
    for split, table in tables.items():
        counts = {}
        if table.num_rows:
            value_counts = pc.value_counts(table["language"]).to_pylist()
            counts = {item["values"]: item["counts"] for item in value_counts}
        report[split] = {**dict(sorted(counts.items())), "all": table.num_rows}
    return report


def languages_in(tables: Mapping[str, pa.Table]) -> list[str]:
    found: set[str] = set()
    for table in tables.values():
        if table.num_rows:
            found.update(pc.unique(table["language"]).to_pylist())
    return sorted(found)
