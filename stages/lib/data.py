"""The datasets passed between stages: MARC's schema, saving and loading.

Stages work on pyarrow tables and hand them on as one Parquet file per split,
``data/<stage>/<split>.parquet``, which ``datasets``, pandas and DuckDB read
(docs/data.md#the-files-between-stages).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

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
#: How the Parquet files are written, fixed so that the same rows give the same bytes.
#: Uncompressed: snappy or zstd took 0.35-0.45 s more to write and read 400,000 reviews
#: (against 0.2 s), to save half the disk space. A row group per million rows.
PARQUET_OPTIONS = {"compression": "none", "use_dictionary": False, "write_batch_size": 1024,
                   "row_group_size": 1 << 20}
#: Rows per chunk handed to the writer: its write batch, so that its pages end where they
#: would for one contiguous table, however the table was chunked (only the windows that
#: straddle two chunks are copied).
_WINDOW_ROWS = PARQUET_OPTIONS["write_batch_size"]


def save_splits(tables: Mapping[str, pa.Table], path: str | Path) -> None:
    """Save ``{split: table}`` in the folder ``path``, atomically (:func:`write_splits`)."""
    with atomic_path(path) as tmp:
        write_splits(tables, tmp)


def write_splits(tables: Mapping[str, pa.Table], folder: Path) -> None:
    """Write ``{split: table}`` as ``folder/<split>.parquet`` (``folder`` is made here; a
    temporary of :func:`stages.lib.io.atomic_outputs`)."""
    folder.mkdir()
    for name, table in tables.items():
        windows = [table.slice(start, _WINDOW_ROWS).combine_chunks()
                   for start in range(0, table.num_rows, _WINDOW_ROWS)]
        table = pa.concat_tables(windows) if windows else table
        pq.write_table(table.replace_schema_metadata(None), folder / f"{name}.parquet",
                       **PARQUET_OPTIONS)


def load_splits(path: str | Path) -> dict[str, pa.Table]:
    """Load the splits an earlier stage saved as ``{split: table}``: :data:`SPLITS` first,
    then any others (:data:`OTHERS_SPLIT`). A file that is missing, cut short or not
    Parquet is a ``UserError`` that says which stage to rerun."""
    path = require_output(path, f"{SPLITS[0]}.parquet")
    files = {file.stem: file for file in path.glob("*.parquet")}
    missing = [name for name in SPLITS if name not in files]
    if missing:
        raise damaged_output(path, f"{missing[0]}.parquet is missing")
    tables = {}
    for name in [*SPLITS, *sorted(files.keys() - set(SPLITS))]:
        try:
            # (Not pq.read_table: its first call imports pyarrow.dataset, 0.4 s. One thread:
            # threads decoding into fresh memory at once took 0.7 s, one 0.08 s, on two cores.)
            tables[name] = pq.ParquetFile(files[name], memory_map=True).read(use_threads=False)
        except (OSError, pa.ArrowException) as err:
            raise damaged_output(path, f"{files[name].name}: {err}") from None
    return tables


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
