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
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stages.lib.data import MARC_COLUMNS, MARC_SCHEMA
from stages.lib.errors import UserError

log = logging.getLogger("stages.lib.marc")

TEXT_COLUMNS = ("review_body", "review_title")
#: Fields every review needs, as text: a null there is an error, not a drop.
KEY_COLUMNS = tuple(c for c in MARC_COLUMNS if c not in TEXT_COLUMNS and c != "stars")
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
    present = set(table.column_names)
    missing = [c for c in MARC_COLUMNS
               if c not in present or table[c].null_count == table.num_rows]
    if missing:
        raise UserError(f"{origin.name}: column {', '.join(sorted(missing))} missing; MARC "
                        f"files have the fields {', '.join(MARC_COLUMNS)} on every line.")
    extra = sorted(present - set(MARC_COLUMNS))
    if extra:
        log.warning("%s: ignoring extra column(s) %s", origin.name, ", ".join(extra))

    _check_types(origin, table)
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


def _check_types(origin: Origin, table: pa.Table) -> None:
    """A text column of another type (a Hub split's), or a null id, language or category,
    is an error."""
    for column in (*KEY_COLUMNS, *TEXT_COLUMNS):
        kind = table[column].type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
                or pa.types.is_null(kind)):
            raise UserError(f"{origin.name}: {column} is {kind}; expected text, as in MARC.")
    nulls: dict[int, str] = {}  # row -> its first null field
    for column in KEY_COLUMNS:
        if table[column].null_count:
            nulls.setdefault(pc.index(pc.is_null(table[column]), True).as_py(), column)
    if nulls:
        row = min(nulls)
        where, review = origin.rows(table, [row])[row]
        raise UserError(f"{where}: {nulls[row]} is {describe(review, nulls[row])}; every review "
                        f"needs its {nulls[row]} as text (a JSON string).")


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


def _blank(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """True where ``text`` is null, empty or white space only (Unicode's)."""
    return pc.fill_null(pc.or_(pc.equal(pc.binary_length(text), 0), pc.utf8_is_space(text)),
                        True)
