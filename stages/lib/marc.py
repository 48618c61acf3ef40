"""Read MARC's JSON Lines files (as Amazon published them) into checked pyarrow tables.

:func:`read_marc_file` is the one reader. It parses a file with DuckDB
(:func:`_parse_fast`), or line by line with the json module (:func:`_parse_lines`) when
DuckDB fails or the file holds something DuckDB's parse could let through unseen (a
number where MARC has text); both give the same table, which
:func:`stages.lib.marc_checks.check_marc_table` then checks. tests/test_marc_reader.py
checks both against a plain reference reader.
"""

from __future__ import annotations

import functools
import gzip
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.lib import interrupts
from stages.lib.data import MARC_COLUMNS
from stages.lib.errors import UserError
from stages.lib.marc_checks import Origin, check_marc_table, describe

#: Languages of MARC (the corpus has no others).
MARC_LANGUAGES = ("de", "en", "es", "fr", "ja", "zh")
#: Split names in MARC's file names → split names in this pipeline.
FILE_SPLITS = {"train": "train", "dev": "validation", "test": "test"}

#: Fields the fast parse reads as text: DuckDB writes a number, true/false, object or array
#: there as text, so :func:`_may_hold_json_values` looks for texts that may be one. (The
#: title is read as JSON instead: titles such as "5" are common.)
_READ_AS_TEXT = tuple(name for name in MARC_COLUMNS if name not in ("stars", "review_title"))
_NUMBER_OR_BOOLEAN = r"^(-?[0-9][0-9.eE+-]*|true|false)$"


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


def read_lines(path: Path) -> Iterator[bytes]:
    """The file's lines (bytes, decompressed if its name ends in .gz)."""
    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as handle:
        yield from handle


def read_marc_file(path: Path, language: str) -> tuple[pa.Table, pa.ChunkedArray,
                                                        dict[str, int]]:
    """Read and check the MARC file ``path`` of ``language``.

    Returns the reviews kept (``MARC_SCHEMA``, in the file's order), the ``review_id``
    of every review (dropped ones too, for the duplicate count) and the rows dropped
    per reason. Bad input (JSON, UTF-8, a field's type or value) is a ``UserError``
    naming the file and the line.
    """
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty: expected MARC reviews, one JSON object per line.")
    table = _parse_fast(path)
    if table is None:
        table = _parse_lines(path)
    checked, dropped = check_marc_table(Origin(str(path), lambda: read_lines(path)), table,
                                        language)
    return checked, table["review_id"], dropped


def _parse_lines(path: Path) -> pa.Table:
    """The file's reviews, parsed line by line: the columns found (stars as text, extra
    fields as null columns, for the check's warning). A line that is not a JSON object
    of text fields is a ``UserError`` naming it."""
    columns: dict[str, list] = {name: [] for name in MARC_COLUMNS}
    extras: set[str] = set()
    try:
        for number, raw in enumerate(read_lines(path), start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
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
                # stars as 4 or "4" (4.0, true or an object are refused by the check)
                values.append(None if item is None else str(item))
            extras.update(value.keys() - columns.keys())
    except (OSError, EOFError) as err:
        raise UserError(f"{path}: cannot be decompressed ({err}); the gzip file is truncated or "
                        "corrupt. Download it again.") from None
    table = pa.table({name: pa.array(values, type=pa.string())
                      for name, values in columns.items()})
    return _with_extra_columns(table, extras)


def _parse_fast(path: Path) -> pa.Table | None:
    """The table :func:`_parse_lines` gives, parsed by DuckDB; None where it may differ.

    DuckDB parses twice as fast as pyarrow's reader and checks that the text is UTF-8
    (its threads parse 16 MB buffers; the rows keep the file's order). It reads MARC's
    eight fields and skips any other: the first line's others are kept as null columns
    (the check warns about them); further on they go unnoticed. None for a file DuckDB
    rejects, or with a text field that may have held no JSON string. Offline: no DuckDB
    extension is installed or loaded.
    """
    # DuckDB reads a path as a glob pattern: one with *, ? or [ could read other files.
    if any(char in str(path) for char in "*?["):
        return None
    extras = _first_line_extras(path)
    if extras is None:
        return None
    columns = {name: "JSON" if name == "review_title" else "VARCHAR" for name in MARC_COLUMNS}
    # A JSON string's text starts with a quote: anything else but null is no text.
    select = [name if name != "review_title" else "review_title->>'$' AS review_title"
              for name in MARC_COLUMNS]
    title_not_text = ("coalesce(review_title::VARCHAR NOT LIKE '\"%' AND "
                      "review_title::VARCHAR <> 'null', false) AS title_not_text")
    try:
        with _duckdb().cursor() as cursor:
            relation = cursor.read_json(str(path), format="newline_delimited", columns=columns)
            table = relation.select(", ".join([*select, title_not_text])).to_arrow_table()
    except (duckdb.Error, RuntimeError):
        # DuckDB turns a Ctrl-C into an error ("Query interrupted"): not one to fall back from.
        interrupts.raise_if_received()
        if not isinstance(sys.exc_info()[1], duckdb.Error):
            raise
        return None
    if pc.any(table["title_not_text"]).as_py() or any(
            _may_hold_json_values(table[name]) for name in _READ_AS_TEXT):
        return None
    return _with_extra_columns(table.drop_columns(["title_not_text"]), extras)


def _first_line_extras(path: Path) -> list[str] | None:
    """The fields of the file's first review that MARC lacks; None if it is no JSON object."""
    try:
        line = next((raw for raw in read_lines(path) if raw.strip()), b"")
        review = json.loads(line)
    except (OSError, EOFError, ValueError):  # ValueError: JSON or UTF-8 errors
        return None
    return sorted(review.keys() - set(MARC_COLUMNS)) if isinstance(review, dict) else None


def _with_extra_columns(table: pa.Table, names: set[str] | list[str]) -> pa.Table:
    for name in sorted(names):
        table = table.append_column(name, pa.nulls(table.num_rows))
    return table


def _may_hold_json_values(texts: pa.ChunkedArray) -> bool:
    """Whether a text may be a JSON number, true/false, object or array that DuckDB wrote
    as text.

    Only texts whose first byte may start one are looked at (read from the Arrow
    buffers with numpy): a regular expression on every review body would take a tenth
    of a second per 400,000. An object or array must parse as one (review bodies start
    with "[" too).
    """
    for chunk in texts.chunks:
        if len(chunk) == chunk.null_count:
            continue
        offset_type = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(chunk.buffers()[1], dtype=offset_type)[
            chunk.offset:chunk.offset + len(chunk) + 1]
        data = np.frombuffer(chunk.buffers()[2] or b"\0", dtype=np.uint8)
        starts, lengths = offsets[:-1], np.diff(offsets)
        first = np.where(lengths > 0, data[np.minimum(starts, len(data) - 1)], 0)
        scalar = np.flatnonzero(_NUMBER_LEAD_BYTE[first] | ((first == ord("t")) & (lengths == 4))
                                | ((first == ord("f")) & (lengths == 5)))
        if len(scalar) and pc.any(pc.match_substring_regex(chunk.take(scalar),
                                                           _NUMBER_OR_BOOLEAN)).as_py():
            return True
        containers = np.flatnonzero((first == ord("{")) | (first == ord("[")))
        if len(containers) and any(map(_is_container, chunk.take(containers).to_pylist())):
            return True
    return False


#: First bytes of a JSON number.
_NUMBER_LEAD_BYTE = np.zeros(256, dtype=bool)
_NUMBER_LEAD_BYTE[[*b"-0123456789"]] = True


def _is_container(text: str) -> bool:
    try:
        return isinstance(json.loads(text), (dict, list))
    except ValueError:
        return False


@functools.cache
def _duckdb() -> duckdb.DuckDBPyConnection:
    """The process's in-memory DuckDB, opened once (0.03 s, as long as parsing a dev file).

    Each parse takes its own cursor, so threads may parse at the same time.
    """
    return duckdb.connect(config={
        "threads": pa.cpu_count(), "preserve_insertion_order": True,
        "autoinstall_known_extensions": False, "autoload_known_extensions": False})
