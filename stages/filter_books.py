"""Stage filter_books: keep the reviews of the chosen product categories.

``filter_books.categories`` (the course: book and digital_ebook_purchase) pick
the rows of every split. The rows of the other categories are what the course
throws away; ``filter_books.others_categories`` keeps those of the splits named
in ``filter_books.others_splits`` as a split of their own, ``others``: review/title
pairs that the train stage learns from before the books, and text for the
scratch tokenizer. They never hold a row of ``categories``, so no validation or
test book is ever trained on.
"""

from __future__ import annotations

import difflib
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from stages.lib.data import (
    OTHERS_SPLIT,
    SPLITS,
    load_splits,
    rows_by_language,
    write_splits,
)
from stages.lib.errors import UserError, stage_entry
from stages.lib.io import atomic_outputs, dumps_json
from stages.lib.params import Field, load_params, string_list

log = logging.getLogger("filter_books")

INPUT = Path("data/download")
OUTPUT = Path("data/filter_books")
METRICS = Path("metrics/filter_books.json")

#: ``others_categories`` value for every category not in ``categories``.
ALL = "all"
#: MARC's product categories (of every language).
MARC_CATEGORIES = frozenset({
    "apparel", "automotive", "baby_product", "beauty", "book", "camera",
    "digital_ebook_purchase", "digital_video_download", "drugstore", "electronics", "furniture",
    "grocery", "home", "home_improvement", "industrial_supplies", "jewelry", "kitchen",
    "lawn_and_garden", "luggage", "musical_instruments", "office_product", "other", "pc",
    "personal_care_appliances", "pet_products", "shoes", "sports", "toy", "video_games", "watch",
    "wireless"})


def _others_categories() -> Field:
    names = string_list(non_empty=False)

    def check(value):
        return value if value == ALL else names.check(value)

    return Field(f"'{ALL}' (every category not in filter_books.categories) or "
                 f"{names.expected}", check)


SPEC = {"categories": string_list(), "others_categories": _others_categories(),
        "others_splits": string_list(SPLITS, non_empty=False)}


def _check_names(key: str, names: list[str], present: set[str]) -> None:
    """Each name must be a category: one the data has, or one of MARC's (a language or a
    part of the corpus may lack one: a warning). Any other name is an error that names
    the closest category; MARC's names are lower case, so "Book" is one too."""
    known = present | MARC_CATEGORIES
    for name in names:
        if name in present:
            continue
        if name in MARC_CATEGORIES:
            log.warning("filter_books.%s lists '%s', a category no review here has", key, name)
            continue
        miscased = sorted(c for c in known if c.lower() == name.lower())
        close = miscased or difflib.get_close_matches(name.lower(), sorted(known), n=1,
                                                      cutoff=0.6)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        case = " (names are matched exactly, and MARC's are lower case)" if miscased else ""
        raise UserError(f"params.yaml: filter_books.{key} lists '{name}', which is not a "
                        f"product category{case}.{hint} The categories in the data are: "
                        f"{', '.join(sorted(present))}.")


def _of_categories(table: pa.Table, categories: pa.Array) -> pa.Table:
    """The rows whose product_category is one of ``categories`` (a null is none)."""
    return table.filter(pc.fill_null(pc.is_in(table["product_category"],
                                              value_set=categories), False))


def filter_books(tables: dict[str, pa.Table], categories: list[str],
                 others_categories: list[str] | str = (),
                 others_splits: list[str] = ("train",)) -> dict[str, pa.Table]:
    """Keep rows whose ``product_category`` is in ``categories`` (vectorised).

    With ``others_categories`` (a list, or :data:`ALL`), the rows of those
    categories (never of ``categories``) in ``others_splits`` become the split
    :data:`OTHERS_SPLIT`, in the order of ``others_splits``.
    """
    present = {c for t in tables.values() if t.num_rows
               for c in pc.unique(t["product_category"]).to_pylist() if c is not None}
    _check_names("categories", categories, present)
    wanted = pa.array(categories, type=pa.string())
    kept = {split: _of_categories(table, wanted) for split, table in tables.items()}
    emptied = [split for split, table in tables.items()
               if table.num_rows and not kept[split].num_rows]
    if emptied:
        raise UserError(f"params.yaml: filter_books.categories {categories} leaves the "
                        f"{' and '.join(emptied)} split(s) empty. The categories in the data are: "
                        f"{', '.join(sorted(present))}.")
    if not others_categories or not others_splits:
        return kept
    if others_categories == ALL:
        extra = pa.array(sorted(present - set(categories)), type=pa.string())
    else:
        _check_names("others_categories", others_categories, present)
        overlap = sorted(set(others_categories) & set(categories))
        if overlap:
            raise UserError(f"params.yaml: filter_books.others_categories lists "
                            f"{', '.join(overlap)}, which filter_books.categories has too; a "
                            "review can't be both a book to score and an other category.")
        extra = pa.array(list(others_categories), type=pa.string())
    parts = [_of_categories(tables[split], extra) for split in others_splits if split in tables]
    others = pa.concat_tables(parts) if parts else None
    if others is None or not others.num_rows:
        raise UserError(f"params.yaml: filter_books.others_categories {others_categories} "
                        f"matches no rows of the {', '.join(others_splits)} split(s) outside "
                        "filter_books.categories. Set filter_books.others_categories to [] to "
                        "train on the books alone.")
    kept[OTHERS_SPLIT] = others
    return kept


@stage_entry
def main() -> None:
    params = load_params("filter_books", SPEC)
    tables = load_splits(INPUT)
    kept = filter_books(tables, params["categories"], params["others_categories"],
                        params["others_splits"])
    report = {"rows": rows_by_language(kept)}
    with atomic_outputs(OUTPUT, METRICS) as (data, metrics):
        write_splits(kept, data)
        metrics.write_text(dumps_json(report), encoding="utf-8")
    log.info("rows: %s", report["rows"])


if __name__ == "__main__":
    main()
