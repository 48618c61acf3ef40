"""Stage filter_books: keep the reviews of the chosen product categories.

``filter_books.categories`` (the course: book and digital_ebook_purchase) pick
the rows of every split. ``filter_books.warmup_categories`` additionally keeps
the *train* rows of other categories, as a split of their own, ``warmup``:
the train stage's first phase learns from them before it fine-tunes on the
books (the course throws these reviews away). ``others`` means every category
not in ``categories``; ``[]`` keeps no warmup split.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from stages.lib.data import (
    WARMUP_SPLIT,
    load_fingerprint,
    load_splits,
    rows_by_language,
    save_splits,
)
from stages.lib.errors import UserError, stage_entry
from stages.lib.io import write_json
from stages.lib.params import Field, load_params, string_list

log = logging.getLogger("filter_books")

INPUT = Path("data/download")
OUTPUT = Path("data/filter_books")
METRICS = Path("metrics/filter_books.json")

#: ``warmup_categories`` value for every category not in ``categories``.
OTHERS = "others"


def _warmup_categories() -> Field:
    names = string_list(non_empty=False)

    def check(value):
        return value if value == OTHERS else names.check(value)

    return Field(f"'{OTHERS}' (every category not in filter_books.categories) or "
                 f"{names.expected}", check)


SPEC = {"categories": string_list(), "warmup_categories": _warmup_categories()}


def filter_books(tables: dict[str, pa.Table], categories: list[str],
                 warmup_categories: list[str] | str = ()) -> dict[str, pa.Table]:
    """Keep rows whose ``product_category`` is in ``categories`` (vectorised).

    With ``warmup_categories`` (a list, or :data:`OTHERS`), the train rows of
    those categories (never of ``categories``) become the split :data:`WARMUP_SPLIT`.
    """
    wanted = pa.array(categories, type=pa.string())
    kept = {split: table.filter(pc.is_in(table["product_category"], value_set=wanted))
            for split, table in tables.items()}
    if warmup_categories and "train" in tables:
        train = tables["train"]
        if warmup_categories == OTHERS:
            mask = pc.invert(pc.is_in(train["product_category"], value_set=wanted))
        else:
            overlap = sorted(set(warmup_categories) & set(categories))
            if overlap:
                raise UserError(f"params.yaml: filter_books.warmup_categories lists "
                                f"{', '.join(overlap)}, which filter_books.categories has too; "
                                "a review can't be in both the warmup and the train split.")
            extra = pa.array(list(warmup_categories), type=pa.string())
            mask = pc.is_in(train["product_category"], value_set=extra)
        kept[WARMUP_SPLIT] = train.filter(mask)
    emptied = [split for split, table in tables.items()
               if table.num_rows and not kept[split].num_rows]
    if emptied:
        present = sorted({c for t in tables.values() if t.num_rows
                          for c in pc.unique(t["product_category"]).to_pylist()})
        raise UserError(f"params.yaml: filter_books.categories {categories} leaves the "
                        f"{' and '.join(emptied)} split(s) empty. The categories in the data are: "
                        f"{', '.join(present)}.")
    warmup = kept.get(WARMUP_SPLIT)
    if warmup is not None and not warmup.num_rows and tables["train"].num_rows:
        present = sorted(pc.unique(tables["train"]["product_category"]).to_pylist())
        raise UserError(f"params.yaml: filter_books.warmup_categories {warmup_categories} "
                        "matches no train rows outside filter_books.categories. The train "
                        f"split's categories are: {', '.join(present)}.")
    return kept


@stage_entry
def main() -> None:
    params = load_params("filter_books", SPEC)
    tables = load_splits(INPUT)
    kept = filter_books(tables, params["categories"], params["warmup_categories"])
    save_splits(kept, OUTPUT, fingerprint=("filter_books", params, load_fingerprint(INPUT)))
    report = {"rows": rows_by_language(kept)}
    write_json(METRICS, report)
    log.info("rows: %s", report["rows"])


if __name__ == "__main__":
    main()
