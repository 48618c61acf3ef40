"""Read MARC's JSON Lines files (as Amazon published them) into pyarrow tables."""

from __future__ import annotations

import functools
import gzip
import json
import logging
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import duckdb
import pyarrow as pa
import pyarrow.json as pa_json

from stages.lib import interrupts
from stages.lib.data import MARC_COLUMNS, MARC_SCHEMA
from stages.lib.errors import UserError
from stages.lib.marc_checks import NOT_TEXT, TYPED_COLUMNS, describe

log = logging.getLogger(__name__)

#: Languages of MARC (the corpus has no others).
MARC_LANGUAGES = ("de", "en", "es", "fr", "ja", "zh")
#: Split names in MARC's file names → split names in this pipeline.
FILE_SPLITS = {"train": "train", "dev": "validation", "test": "test"}

_MARC_FIELDS = frozenset(MARC_COLUMNS)
#: How many bytes from the start of a file ``_first_lines_fit_fast_parse`` looks at.
_FIRST_BYTES = 1 << 16
# The general parse, for files DuckDB rejects (bad JSON or UTF-8 anywhere, a line over
# its 16 MB object limit) or whose first lines do not fit it (extra fields, text fields
# holding objects): stars' type inferred, extra fields kept (the check names them), and
# blocks that hold the longest line (reviews of 100,000+ characters exist in the wild).
_GENERAL_PARSE = pa_json.ParseOptions(
    explicit_schema=pa.schema([f for f in MARC_SCHEMA if f.name != "stars"]),
    unexpected_field_behavior="infer")
_GENERAL_READ = pa_json.ReadOptions(block_size=32 << 20)


def find_split_files(folder: Path, language: str) -> dict[str, Path]:
    """``{split: path}`` of the MARC files of ``language`` in ``folder``."""
    found = {}
    for file_split, split in FILE_SPLITS.items():
        stem = f"dataset_{language}_{file_split}"
        candidates = [folder / f"{stem}{suffix}" for suffix in (".json", ".jsonl", ".json.gz",
                                                                ".jsonl.gz")]
        existing = [path for path in candidates if path.is_file()]
        if len(existing) > 1:
            raise UserError(f"{folder} holds several files for {language}/{file_split}: "
                            f"{', '.join(p.name for p in existing)}; keep one of them.")
        if existing:
            found[split] = existing[0]
    return found


def _open_binary(path: Path) -> BinaryIO:
    """The file's bytes, decompressed if its name ends in .gz."""
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_lines(path: Path) -> Iterator[bytes]:
    """The file's lines (bytes, decompressed)."""
    with _open_binary(path) as handle:
        yield from handle


def _read_with_python(path: Path) -> pa.Table:
    """Slow path for files the parsers reject: name the bad line, or read mixed stars.

    pyarrow refuses a column whose JSON type changes between lines (stars as 5 on
    one line and "5" on the next); such files are still valid MARC.
    """
    columns: dict[str, list] = {name: [] for name in MARC_COLUMNS}
    try:
        for number, raw in enumerate(read_lines(path), start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise UserError(f"{path}, line {number}: not UTF-8 text (byte {err.start}); MARC "
                                "files are UTF-8: re-encode the file.") from None
            try:
                value = json.loads(text)
            except json.JSONDecodeError as err:
                # (json's messages may end in " at": "Invalid control character at")
                raise UserError(f"{path}, line {number}: malformed JSON "
                                f"({err.msg.removesuffix(' at')}, column {err.colno}); "
                                "expected one review object per line.") from None
            if not isinstance(value, dict):
                raise UserError(f"{path}, line {number}: expected a JSON object, got "
                                f"{type(value).__name__}.")
            for name, values in columns.items():
                item = value.get(name)
                if name != "stars" and not isinstance(item, (str, type(None))):
                    raise UserError(f"{path}, line {number}: {name} is "
                                    f"{describe(value, name)}; every review needs its {name} "
                                    "as text (a JSON string).")
                # stars as 4 or "4" (4.0, true or an object are refused with the others)
                values.append(None if item is None else str(item))
            for name in value.keys() - columns.keys():
                columns.setdefault(f"extra:{name}", [])
    except (OSError, EOFError) as err:
        raise UserError(f"{path}: cannot be decompressed ({err}); the gzip file is truncated or "
                        "corrupt. Download it again.") from None
    extras = {name.removeprefix("extra:"): pa.nulls(len(columns["review_id"]))
              for name in columns if name.startswith("extra:")}
    table = pa.table({name: pa.array(values, type=pa.string())
                      for name, values in columns.items() if not name.startswith("extra:")})
    for name, values in extras.items():
        table = table.append_column(name, values)
    # A column absent from every line is missing, as in the fast path.
    absent = [name for name in MARC_COLUMNS if table[name].null_count == table.num_rows]
    return table.drop_columns(absent)


def parse_marc_file(path: Path) -> pa.Table:
    """Parse one MARC JSON Lines file as it is: the columns found, the text valid UTF-8.

    A file doubtful at any step goes on to the next, slower one: DuckDB's reader (MARC's
    eight fields as text), pyarrow's general parse, and a line by line reader that names
    the line at fault.
    """
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty: expected MARC reviews, one JSON object per line.")
    # DuckDB reads a path as a glob pattern: one with *, ? or [ could read other files.
    if not any(char in str(path) for char in "*?[") and _first_lines_fit_fast_parse(path):
        table = _parse_with_duckdb(path)
        if table is not None:
            return table
    try:
        with pa.input_stream(str(path), compression="detect") as stream:
            table = pa_json.read_json(stream, read_options=_GENERAL_READ,
                                      parse_options=_GENERAL_PARSE)
        _validate(table)  # pyarrow's reader lets bytes that are not UTF-8 through
        return table
    except (pa.ArrowInvalid, OSError, EOFError):
        interrupts.raise_if_received()
        return _read_with_python(path)


def _first_lines_fit_fast_parse(path: Path) -> bool:
    """Whether the file's first lines hold MARC's fields only, none of them an object or list.

    DuckDB's reader, given MARC's eight fields, skips any other field and writes an
    object in a text field as JSON text; the general parse names the first and rejects
    the second. A file with either on its first lines (a mirror's export with an extra
    column, say) takes the general parse, so the check can warn or name the line.
    Lines further on are not looked at: reading them would cost what the fast parse saves.
    """
    try:
        with _open_binary(path) as handle:
            head = handle.read(_FIRST_BYTES)
        lines = head.split(b"\n")
        if len(head) == _FIRST_BYTES:
            lines = lines[:-1]  # the last one may be cut short
        for line in lines:
            if not line.strip():
                continue
            review = json.loads(line)
            if not isinstance(review, dict) or not review.keys() <= _MARC_FIELDS:
                return False
            if any(isinstance(value, (dict, list)) for value in review.values()):
                return False
    except (OSError, EOFError, ValueError):  # ValueError: JSON or UTF-8 errors
        return False
    return True


def _parse_with_duckdb(path: Path) -> pa.Table | None:
    """MARC's eight fields as text (and :data:`NOT_TEXT`), parsed by DuckDB; None if DuckDB
    rejects the file.

    DuckDB's reader parses twice as fast as pyarrow's and checks that the text is
    UTF-8 (pyarrow's does not). Its threads parse 16 MB buffers; the rows come back in
    the file's order (insertion order kept). Offline: no extension is installed or loaded.
    """
    # The title is read as JSON, so a number or an object there is seen for what it is: a
    # JSON string's text starts with a quote (the body, as JSON too, would cost a quarter
    # more time; see marc_checks.TYPED_COLUMNS). The other fields are read as text.
    columns = {name: "JSON" if name in TYPED_COLUMNS else "VARCHAR" for name in MARC_COLUMNS}
    text = [f"{name}->>'$' AS {name}" if name in TYPED_COLUMNS else name for name in MARC_COLUMNS]
    not_text = " OR ".join(f"({name}::VARCHAR NOT LIKE '\"%' AND {name}::VARCHAR <> 'null')"
                           for name in TYPED_COLUMNS)
    try:
        with _duckdb().cursor() as cursor:
            relation = cursor.read_json(str(path), format="newline_delimited", columns=columns)
            return relation.select(", ".join([*text, f"coalesce({not_text}, false) AS "
                                                      f"{NOT_TEXT}"])).to_arrow_table()
    except (duckdb.Error, RuntimeError):
        # DuckDB turns a Ctrl-C into an error ("Query interrupted"): not one to fall back from.
        interrupts.raise_if_received()
        if not isinstance(sys.exc_info()[1], duckdb.Error):
            raise
        return None


@functools.cache
def _duckdb() -> duckdb.DuckDBPyConnection:
    """The process's in-memory DuckDB, opened once (0.03 s, as long as parsing a dev file).

    Each parse takes its own cursor, so threads may parse at the same time.
    """
    return duckdb.connect(config={
        "threads": pa.cpu_count(), "preserve_insertion_order": True,
        "autoinstall_known_extensions": False, "autoload_known_extensions": False})


def _validate(table: pa.Table) -> None:
    """``table.validate(full=True)``, the chunks shared among pyarrow's threads.

    The UTF-8 check of 400,000 reviews takes a tenth of a second on one core;
    pyarrow releases the GIL for it, so the chunks validate in parallel.
    """
    chunks = [chunk for column in table.columns for chunk in column.chunks]
    if pa.cpu_count() < 2 or len(chunks) < 2:
        table.validate(full=True)
        return
    with ThreadPoolExecutor(pa.cpu_count()) as pool:
        for _ in pool.map(lambda chunk: chunk.validate(full=True), chunks):
            pass
