"""Stage filter_books: keep the reviews of the chosen product categories."""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from stages.lib.data import load_fingerprint, load_splits, rows_by_language, save_splits
from stages.lib.errors import UserError, stage_entry
from stages.lib.io import write_json
from stages.lib.params import load_params, string_list

log = logging.getLogger("filter_books")

INPUT = Path("data/download")
OUTPUT = Path("data/filter_books")
METRICS = Path("metrics/filter_books.json")

SPEC = {"categories": string_list()}


def filter_books(tables: dict[str, pa.Table], categories: list[str]) -> dict[str, pa.Table]:
    """Keep rows whose ``product_category`` is in ``categories`` (vectorised)."""
    wanted = pa.array(categories, type=pa.string())
    kept = {split: table.filter(pc.is_in(table["product_category"], value_set=wanted))
            for split, table in tables.items()}
    emptied = [split for split, table in tables.items()
               if table.num_rows and not kept[split].num_rows]
    if emptied:
        present = sorted({c for t in tables.values() if t.num_rows
                          for c in pc.unique(t["product_category"]).to_pylist()})
        raise UserError(f"params.yaml: filter_books.categories {categories} leaves the "
                        f"{' and '.join(emptied)} split(s) empty. The categories in the data are: "
                        f"{', '.join(present)}.")
    return kept


@stage_entry
def main() -> None:
    params = load_params("filter_books", SPEC)
    tables = load_splits(INPUT)
    kept = filter_books(tables, params["categories"])
    save_splits(kept, OUTPUT, fingerprint=("filter_books", params, load_fingerprint(INPUT)))
    report = {"rows": rows_by_language(kept)}
    write_json(METRICS, report)
    log.info("rows: %s", report["rows"])


if __name__ == "__main__":
    main()
