"""Read MARC's JSON Lines files (as Amazon published them) into pyarrow tables."""

from __future__ import annotations

import functools
import gzip
import json
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from stages.lib.data import MARC_COLUMNS, MARC_SCHEMA, string_buffers
from stages.lib.errors import UserError

log = logging.getLogger(__name__)

#: Languages of MARC (the corpus has no others).
MARC_LANGUAGES = ("de", "en", "es", "fr", "ja", "zh")
#: Split names in MARC's file names → split names in this pipeline.
FILE_SPLITS = {"train": "train", "dev": "validation", "test": "test"}
TEXT_COLUMNS = ("review_body", "review_title")

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


def _lines(path: Path) -> Iterator[bytes]:
    with _open_binary(path) as handle:
        yield from handle


def _read_with_python(path: Path) -> pa.Table:
    """Slow path for files the parsers reject: name the bad line, or coerce mixed types.

    pyarrow refuses a column whose JSON type changes between lines (stars as 5 on
    one line and "5" on the next); such files are still valid MARC.
    """
    columns: dict[str, list] = {name: [] for name in MARC_COLUMNS}
    try:
        for number, raw in enumerate(_lines(path), start=1):
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
                raise UserError(f"{path}, line {number}: malformed JSON ({err.msg} at column "
                                f"{err.colno}); expected one review object per line.") from None
            if not isinstance(value, dict):
                raise UserError(f"{path}, line {number}: expected a JSON object, got "
                                f"{type(value).__name__}.")
            for name, values in columns.items():
                item = value.get(name)
                if isinstance(item, (dict, list)):
                    raise UserError(f"{path}, line {number}: {name} is a JSON "
                                    f"{type(item).__name__}; expected text.")
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


def _line_of_row(path: Path, row: int) -> int:
    """Line number (1-based) of the ``row``-th non-blank line."""
    seen = -1
    for number, raw in enumerate(_lines(path), start=1):
        if raw.strip():
            seen += 1
            if seen == row:
                return number
    return row + 1


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
    """MARC's eight fields as text, parsed by DuckDB; None if DuckDB rejects the file.

    DuckDB's reader parses twice as fast as pyarrow's and checks that the text is
    UTF-8 (pyarrow's does not). Its threads parse 16 MB buffers; the rows come back in
    the file's order (insertion order kept). Offline: no extension is installed or loaded.
    """
    try:
        with _duckdb().cursor() as cursor:
            relation = cursor.read_json(str(path), format="newline_delimited",
                                        columns={name: "VARCHAR" for name in MARC_COLUMNS})
            return relation.to_arrow_table()
    except duckdb.Error:
        return None


@functools.cache
def _duckdb() -> duckdb.DuckDBPyConnection:
    """The process's in-memory DuckDB, opened once (0.03 s, as long as parsing a dev file).

    Each parse takes its own cursor, so threads may parse at the same time.
    """
    return duckdb.connect(config={
        "threads": pa.cpu_count(), "preserve_insertion_order": True,
        "autoinstall_known_extensions": False, "autoload_known_extensions": False})


def check_marc_table(path: Path | str, table: pa.Table, language: str,
                     locate: Callable[[int], str] | None = None,
                     language_from: str = "the file name") -> tuple[pa.Table, dict[str, int]]:
    """Check a parsed MARC file; return it as MARC_SCHEMA and the drop counts.

    Rows whose review body or title is null or blank are dropped and counted: they
    cannot be used to learn or score a title. ``path`` names the file (or a Hub
    dataset's split) in messages, ``locate(row)`` a row (default: the file's line), and
    ``language_from`` what says the rows' language.
    """
    if locate is None:
        def locate(row: int) -> str:
            return f"{path}, line {_line_of_row(Path(path), row)}"
    present = set(table.column_names)
    if table.num_rows == 0:
        raise UserError(f"{path} holds no reviews: expected one JSON object per line.")
    missing = [c for c in MARC_COLUMNS if c not in present
               or (c != "stars" and table[c].null_count == table.num_rows)]
    if "stars" not in present:
        missing.append("stars")
    if missing:
        raise UserError(f"{path}: column {', '.join(sorted(set(missing)))} missing; MARC files "
                        f"have the fields {', '.join(MARC_COLUMNS)} on every line.")
    extra = sorted(present - set(MARC_COLUMNS))
    if extra:
        log.warning("%s: ignoring extra column(s) %s", path, ", ".join(extra))

    stars = _parse_stars(table["stars"], locate)
    table = table.select([c for c in MARC_COLUMNS if c != "stars"])
    table = table.add_column(MARC_COLUMNS.index("stars"), "stars", stars)
    table = table.cast(MARC_SCHEMA)

    wrong_language = pc.not_equal(table["language"], language)
    if pc.any(wrong_language).as_py():
        row = pc.index(wrong_language, True).as_py()
        raise UserError(f"{locate(row)}: language is {table['language'][row].as_py()!r}, "
                        f"but {language_from} says {language!r}.")

    dropped = {}
    keep = None
    for column in TEXT_COLUMNS:
        blank = _blank(table[column])
        dropped[f"empty_{column}"] = pc.sum(blank).as_py() or 0
        keep = pc.invert(blank) if keep is None else pc.and_(keep, pc.invert(blank))
    if any(dropped.values()):
        log.warning("%s: dropping %s", path, ", ".join(f"{n} rows with {k}"
                                                     for k, n in dropped.items() if n))
        table = table.filter(keep)
    return table, dropped


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


#: First bytes of the UTF-8 encodings of Unicode's white space: ASCII's (tab to carriage
#: return, space), and the lead bytes of U+0085, U+00A0 (C2), U+1680 (E1), U+2000-U+205F (E2)
#: and U+3000 (E3). A text that starts with none of them is not blank.
#: As a lookup table by byte value: one gather per text, where np.isin sorts.
_SPACE_LEAD_BYTE = np.zeros(256, dtype=bool)
_SPACE_LEAD_BYTE[[0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0xC2, 0xE1, 0xE2, 0xE3]] = True


def _may_start_with_space(chunk: pa.Array) -> np.ndarray:
    """Rows of a string array whose first byte may begin a white-space character."""
    offsets, data = string_buffers(chunk)
    starts = offsets[:-1]
    filled = offsets[1:] > starts
    first = np.zeros(len(chunk), dtype=np.uint8)
    first[filled] = data[starts[filled]]
    return filled & _SPACE_LEAD_BYTE[first]


def _blank(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """True where ``text`` is null, empty or whitespace only (Unicode's spaces).

    Only texts whose first byte may begin a space can be blank, so the full scan runs
    on those few (read from the Arrow buffers with numpy): scanning every review
    costs a tenth of a second per 400,000. Chunk by chunk, because ``take`` on a
    chunked array first joins its chunks: a copy of every review body.
    """
    empty = pc.fill_null(pc.equal(pc.binary_length(text), 0), True)
    blank_chunks = []
    for chunk in text.chunks:
        candidates = np.flatnonzero(_may_start_with_space(chunk))
        mask = np.zeros(len(chunk), dtype=bool)
        if len(candidates):
            spaces_only = pc.fill_null(pc.utf8_is_space(chunk.take(candidates)), False)
            mask[candidates[spaces_only.to_numpy(zero_copy_only=False)]] = True
        blank_chunks.append(mask)
    if not any(mask.any() for mask in blank_chunks):
        return empty
    return pc.or_(empty, pa.chunked_array([pa.array(np.concatenate(blank_chunks))]))


def _parse_stars(stars: pa.ChunkedArray, locate: Callable[[int], str]) -> pa.ChunkedArray:
    """MARC's files hold stars as strings "1".."5"; the Hub version as integers."""
    try:
        if pa.types.is_string(stars.type) or pa.types.is_large_string(stars.type):
            try:  # MARC's "1".."5" cast as they are; trimming every value costs more
                numbers = pc.cast(stars, pa.int32())
            except pa.ArrowInvalid:
                numbers = pc.cast(pc.utf8_trim_whitespace(stars), pa.int32())
        else:
            numbers = pc.cast(stars, pa.int32())
        valid = pc.and_(pc.greater_equal(numbers, 1), pc.less_equal(numbers, 5))
        valid = pc.fill_null(valid, False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        numbers, valid = None, None
    if valid is None or not pc.all(valid).as_py():
        if valid is None:
            as_text = pc.cast(stars, pa.string())
            pattern = pc.match_substring_regex(pc.utf8_trim_whitespace(as_text), r"^[1-5]$")
            valid = pc.fill_null(pattern, False)
        row = pc.index(valid, False).as_py()
        raise UserError(f"{locate(row)}: stars is {stars[row].as_py()!r}; expected 1 to 5 (a "
                        "number or a string such as \"4\").")
    return numbers
