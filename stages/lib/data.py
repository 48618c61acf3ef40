"""The datasets passed between stages: MARC's schema, saving and loading.

Stages work on pyarrow tables (vectorised, memory-mapped when loaded) and hand
them on as Hugging Face ``DatasetDict`` folders, in ``save_to_disk``'s format
(``datasets.load_from_disk`` reads them).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import DatasetInfo, Features
from datasets.utils.py_utils import asdict

from stages.lib.io import atomic_path, damaged_output, require_output

SPLITS = ("train", "validation", "test")
#: The split of rows from other product categories (filter_books.others_categories),
#: which the train stage learns from before the books.
OTHERS_SPLIT = "others"

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
SHARD_BYTES = 500 << 20  # save_to_disk's default max_shard_size
#: Rows per record batch in the saved Arrow files.
WRITE_BATCH_ROWS = 10_000


def content_fingerprint(*parts: Any) -> str:
    """A deterministic datasets fingerprint from what produced the data.

    ``datasets`` would otherwise draw a random one, and the saved ``state.json``
    would differ on every run, defeating DVC's cache.
    """
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _shard_bounds(rows: int, shards: int) -> list[tuple[int, int]]:
    """Contiguous ``(start, stop)`` row ranges, as ``Dataset.shard(contiguous=True)`` cuts them."""
    size, extra = divmod(rows, shards)
    bounds = []
    for index in range(shards):
        start = size * index + min(index, extra)
        bounds.append((start, start + size + (index < extra)))
    return bounds


def _write_arrow_stream(table: pa.Table, schema: pa.Schema, path: Path) -> None:
    """Write ``table`` as an Arrow IPC stream in record batches of ``WRITE_BATCH_ROWS`` rows.

    Windows of a fixed row count make the file's bytes depend on the rows only,
    not on how the table happened to be chunked in memory.
    """
    windows = [table.slice(start, WRITE_BATCH_ROWS)
               for start in range(0, table.num_rows, WRITE_BATCH_ROWS)]
    with (ThreadPoolExecutor(1) as joiner, pa.OSFile(str(path), "wb") as sink,
          pa.ipc.new_stream(sink, schema) as writer):
        # combine_chunks copies only windows that straddle two chunks; the next window
        # is joined while this one is written (both let go of the GIL).
        pending = None
        for window in windows:
            joined = joiner.submit(window.combine_chunks)
            if pending is not None:
                writer.write_table(pending.result())
            pending = joined
        if pending is not None:
            writer.write_table(pending.result())


def save_splits(tables: Mapping[str, pa.Table], path: str | Path, fingerprint: str) -> None:
    """Save ``{split: table}`` as a DatasetDict at ``path``, atomically (:func:`write_splits`)."""
    with atomic_path(path) as tmp:
        write_splits(tables, tmp, fingerprint)


def write_splits(tables: Mapping[str, pa.Table], folder: Path, fingerprint: Any) -> None:
    """Write ``{split: table}`` as a DatasetDict in ``folder`` (made here; a temporary of
    :func:`stages.lib.io.atomic_outputs`).

    The folder is what ``DatasetDict.save_to_disk`` writes (``load_from_disk``
    reads it; a test checks the two agree), but the Arrow data is streamed out
    in large record batches: ``save_to_disk`` converts its schema to features and
    back for every 1,000 rows, which took 0.5 s for 400,000 reviews against
    0.07 s for the write itself.
    """
    folder.mkdir()
    for name, table in tables.items():
        features = Features.from_arrow_schema(table.schema)
        schema = features.arrow_schema  # carries the features as metadata, as datasets does
        if not table.schema.equals(schema, check_metadata=False):
            table = table.cast(schema)
        table = table.replace_schema_metadata(schema.metadata)
        # An empty split still gets one (empty) shard: load_from_disk needs a file.
        shards = max(1, -(-table.nbytes // SHARD_BYTES))
        files = [f"data-{index:05d}-of-{shards:05d}.arrow" for index in range(shards)]
        split_folder = folder / name
        split_folder.mkdir()
        for file, (start, stop) in zip(files, _shard_bounds(table.num_rows, shards),
                                       strict=True):
            _write_arrow_stream(table.slice(start, stop - start), schema, split_folder / file)
        state = {"_data_files": [{"filename": file} for file in files],
                 "_fingerprint": content_fingerprint(fingerprint, name),
                 "_format_columns": None, "_format_kwargs": {}, "_format_type": None,
                 "_output_all_columns": False, "_split": name}
        (split_folder / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True),
                                                 encoding="utf-8")
        info = asdict(DatasetInfo(features=features))
        (split_folder / "dataset_info.json").write_text(
            json.dumps({key: info[key] for key in sorted(info)}, indent=2), encoding="utf-8")
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": list(tables)}),
                                              encoding="utf-8")


def load_splits(path: str | Path) -> dict[str, pa.Table]:
    """Load a DatasetDict saved by an earlier stage as ``{split: table}``, memory-mapped.

    Reads the Arrow files that ``state.json`` lists, as ``load_from_disk`` does,
    without building ``Dataset`` objects around them (their feature checks and
    thread pool cost more than the mapping itself). A file that is missing, cut
    short or not what a stage writes is a ``UserError`` that says which stage to rerun.
    """
    path = require_output(path, "dataset_dict.json")
    tables = {}
    try:
        names = json.loads((path / "dataset_dict.json").read_text(encoding="utf-8"))["splits"]
        for name in names:
            state = json.loads((path / name / "state.json").read_text(encoding="utf-8"))
            parts = [_read_arrow_stream(path / name / item["filename"])
                     for item in state["_data_files"]]
            tables[name] = parts[0] if len(parts) == 1 else pa.concat_tables(parts)
    except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as err:
        raise damaged_output(path, err) from None
    return tables


#: What a closed Arrow IPC stream ends with: a file without it was cut short.
_END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"


def _read_arrow_stream(path: Path) -> pa.Table:
    # The mapping stays open as long as the table's buffers need it.
    source = pa.memory_map(str(path))
    marker = len(_END_OF_STREAM)
    if source.size() < marker or source.read_at(marker, source.size() - marker) != _END_OF_STREAM:
        raise ValueError(f"{path.name} is cut short")
    return pa.ipc.open_stream(source).read_all()


def load_fingerprint(path: str | Path) -> str:
    """The fingerprint of a saved DatasetDict (its splits' fingerprints, hashed)."""
    parts = []
    for state in sorted(Path(path).glob("*/state.json")):
        parts.append((state.parent.name, json.loads(state.read_text())["_fingerprint"]))
    return content_fingerprint(parts)


def string_buffers(strings: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string array's offsets (one more than its rows) and bytes, as numpy views."""
    offset_type = np.int64 if pa.types.is_large_string(strings.type) else np.int32
    _, offsets_buffer, data_buffer = strings.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=offset_type)[
        strings.offset:strings.offset + len(strings) + 1]
    data = (np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None
            else np.zeros(0, dtype=np.uint8))
    return offsets, data


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
