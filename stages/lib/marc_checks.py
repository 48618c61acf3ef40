"""Check the reviews of a parsed MARC file (or a Hub split): every field there, of its type.

A null, missing or blank ``review_body`` or ``review_title`` drops its row, counted (it
can't be learnt from or scored). Anything else that is not what MARC has (a null or
missing id, language or category, a number or object where MARC has text, stars other
than 1 to 5) is a ``UserError`` naming the file, the line and the field.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.lib.data import MARC_COLUMNS, MARC_SCHEMA, string_buffers
from stages.lib.errors import UserError

log = logging.getLogger("stages.lib.marc")

TEXT_COLUMNS = ("review_body", "review_title")
#: Fields every review needs, as text: a null there is an error, not a drop.
KEY_COLUMNS = tuple(c for c in MARC_COLUMNS if c not in TEXT_COLUMNS and c != "stars")
#: Text fields that DuckDB's parse reads as JSON, marking in :data:`NOT_TEXT` the rows where
#: one held no JSON string. (As text, a number or an object would pass for one: titles such
#: as "5" are common, so looking such values up in the file would cost a pass over it.)
TYPED_COLUMNS = ("review_title",)
#: The parse's column of rows whose :data:`TYPED_COLUMNS` held no JSON string.
NOT_TEXT = "__text_field_not_a_string"
#: Fields read as text whose values that may be a JSON number, true/false, object or array
#: are looked up in the file to see which they were.
LOOKED_UP = (*KEY_COLUMNS, "review_body")
_NUMBER_OR_BOOLEAN = r"^(-?[0-9][0-9.eE+-]*|true|false)$"
_EXPECTED_STARS = 'a whole number from 1 to 5 (as 4 or "4")'


@dataclass(frozen=True)
class Origin:
    """Where a table's rows come from, to name one: a file (``lines`` gives the JSON
    Lines, to read a row's line again) or a Hub dataset's split (no ``lines``: its rows
    are named by number, its columns are typed). ``language_from`` is what says the rows'
    language in messages (a file's name, a Hub dataset's config)."""

    name: str
    lines: Callable[[], Iterable[bytes]] | None = None
    language_from: str = "the file name"

    def rows(self, table: pa.Table, rows: Iterable[int]) -> dict[int, tuple[str, Any]]:
        """``{row: (where, review)}``: "file, line 12" and the line's JSON object (None if
        it is not one), or "dataset (en/train), row 12" and the row's values."""
        wanted = set(rows)
        if self.lines is None:
            return {row: (f"{self.name}, row {row + 1}", table.slice(row, 1).to_pylist()[0])
                    for row in wanted}
        found = {}
        row = -1
        for number, raw in enumerate(self.lines(), start=1):
            if not raw.strip():
                continue
            row += 1
            if row in wanted:
                try:
                    review = json.loads(raw)
                except ValueError:
                    review = None
                found[row] = (f"{self.name}, line {number}", review)
                if len(found) == len(wanted):
                    break
        return found


def describe(review: Any, field: str) -> str:
    """What ``review`` (a JSON object) holds in ``field``, as the error says it."""
    if not isinstance(review, dict) or field not in review:
        return "missing"
    value = review[field]
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'}"
    kind = {bool: " (a JSON boolean)", int: " (a JSON number)", float: " (a JSON number)"}
    return json.dumps(value, ensure_ascii=False) + kind.get(type(value), "")


def check_marc_table(origin: Origin, table: pa.Table, language: str
                     ) -> tuple[pa.Table, dict[str, int]]:
    """Check a parsed MARC file; return it as MARC_SCHEMA and the drop counts."""
    if table.num_rows == 0:
        raise UserError(f"{origin.name} holds no reviews: expected one JSON object per line.")
    not_text = table[NOT_TEXT] if NOT_TEXT in table.column_names else None
    if not_text is not None:
        table = table.drop_columns([NOT_TEXT])
    present = set(table.column_names)
    missing = [c for c in MARC_COLUMNS if c not in present
               or (c != "stars" and table[c].null_count == table.num_rows)]
    if "stars" not in present:
        missing.append("stars")
    if missing:
        raise UserError(f"{origin.name}: column {', '.join(sorted(set(missing)))} missing; MARC "
                        f"files have the fields {', '.join(MARC_COLUMNS)} on every line.")
    extra = sorted(present - set(MARC_COLUMNS))
    if extra:
        log.warning("%s: ignoring extra column(s) %s", origin.name, ", ".join(extra))

    _check_types(origin, table, not_text)
    stars = _parse_stars(origin, table)
    table = table.select([c for c in MARC_COLUMNS if c != "stars"])
    table = table.add_column(MARC_COLUMNS.index("stars"), "stars", stars)
    table = table.cast(MARC_SCHEMA)

    wrong_language = pc.not_equal(table["language"], language)
    if pc.any(wrong_language).as_py():
        row = pc.index(wrong_language, True).as_py()
        where, _ = origin.rows(table, [row])[row]
        raise UserError(f"{where}: language is {table['language'][row].as_py()!r}, but "
                        f"{origin.language_from} says {language!r}.")

    dropped = {}
    keep = None
    for column in TEXT_COLUMNS:
        blank = _blank(table[column])
        dropped[f"empty_{column}"] = pc.sum(blank).as_py() or 0
        keep = pc.invert(blank) if keep is None else pc.and_(keep, pc.invert(blank))
    if any(dropped.values()):
        log.warning("%s: dropping %s (null, missing or blank)", origin.name,
                    ", ".join(f"{n} rows with {k}" for k, n in dropped.items() if n))
        table = table.filter(keep)
    return table, dropped


def _check_types(origin: Origin, table: pa.Table, not_text: pa.ChunkedArray | None) -> None:
    """A null key field, or a text field that held no JSON string, is an error."""
    suspects: dict[int, list[str]] = {}  # row -> fields to look at in the file
    for column in (*LOOKED_UP, *TYPED_COLUMNS):
        # A Hub split's column of numbers would otherwise be cast to text silently.
        kind = table[column].type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
                or pa.types.is_null(kind)):
            raise UserError(f"{origin.name}: {column} is {kind}; expected text, as in MARC.")
    for column in LOOKED_UP:
        values = table[column]
        if values.null_count and column in KEY_COLUMNS:
            row = pc.index(pc.is_null(values), True).as_py()
            suspects.setdefault(row, []).append(column)
        if origin.lines is not None:  # (a Hub split's columns are typed)
            for row in _maybe_not_text(values):
                suspects.setdefault(int(row), []).append(column)
    if not_text is not None and pc.any(not_text).as_py():
        row = pc.index(not_text, True).as_py()
        suspects.setdefault(row, []).extend(TYPED_COLUMNS)
    if not suspects:
        return
    # The first row (in the file's order) whose field is not text; a suspect may be a
    # string that only looks like a number ("5", a review title).
    for row, (where, review) in sorted(origin.rows(table, suspects).items()):
        for field in suspects[row]:
            value = review.get(field) if isinstance(review, dict) else None
            if isinstance(value, str) or (value is None and field in TEXT_COLUMNS
                                          and isinstance(review, dict)):
                continue
            raise UserError(f"{where}: {field} is {describe(review, field)}; every review "
                            f"needs its {field} as text (a JSON string).")


def _maybe_not_text(values: pa.ChunkedArray) -> np.ndarray:
    """Rows whose text may be a JSON number, true/false, object or array written as text.

    Only texts whose first byte may start one are looked at (as :func:`_blank` does):
    the regular expression on every review body would take a tenth of a second; an
    object or array must parse as one (review bodies start with "[" too).
    """
    found, offset = [], 0
    for chunk in values.chunks:
        offsets, data = string_buffers(chunk)
        starts = offsets[:-1]
        lengths = offsets[1:] - starts
        first = np.zeros(len(chunk), dtype=np.uint8)
        first[lengths > 0] = data[starts[lengths > 0]]
        scalar = np.flatnonzero(_NUMBER_LEAD_BYTE[first] | ((first == ord("t")) & (lengths == 4))
                                | ((first == ord("f")) & (lengths == 5)))
        if len(scalar):
            matches = pc.match_substring_regex(chunk.take(scalar), _NUMBER_OR_BOOLEAN)
            found.append(offset + scalar[pc.fill_null(matches, False).to_numpy(
                zero_copy_only=False)])
        containers = np.flatnonzero((first == ord("{")) | (first == ord("[")))
        texts = chunk.take(containers).to_pylist() if len(containers) else []
        found.append(offset + containers[[_is_container(text) for text in texts]]
                     if texts else np.zeros(0, dtype=np.int64))
        offset += len(chunk)
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _is_container(text: str) -> bool:
    try:
        return isinstance(json.loads(text), (dict, list))
    except ValueError:
        return False


#: First bytes of a JSON number.
_NUMBER_LEAD_BYTE = np.zeros(256, dtype=bool)
_NUMBER_LEAD_BYTE[[*b"-0123456789"]] = True


def _parse_stars(origin: Origin, table: pa.Table) -> pa.ChunkedArray:
    """MARC's files hold stars as strings "1".."5"; the Hub version as integers."""
    stars = table["stars"]
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
        where, review = origin.rows(table, [row])[row]
        # A file's value as its JSON says it; a Hub row's as Python shows it (typed columns).
        shown = describe(review, "stars") if origin.lines is not None else repr(stars[row].as_py())
        raise UserError(f"{where}: stars is {shown}; expected {_EXPECTED_STARS}.")
    return numbers


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


def file_origin(path: Path, lines: Callable[[Path], Iterable[bytes]]) -> Origin:
    """The origin of a MARC file's rows (``lines``: the file's lines, decompressed)."""
    return Origin(str(path), lambda: lines(path))
