"""Stage concat_shuffle: per split, concatenate the languages and shuffle them."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.lib.data import load_splits, rows_by_language, write_splits
from stages.lib.errors import stage_entry
from stages.lib.io import atomic_outputs, dumps_json
from stages.lib.params import load_params, seed

log = logging.getLogger("concat_shuffle")

INPUT = Path("data/filter_books")
OUTPUT = Path("data/concat_shuffle")
METRICS = Path("metrics/concat_shuffle.json")

SPEC = {"seed": seed()}


def concat_shuffle(tables: dict[str, pa.Table], seed: int) -> dict[str, pa.Table]:
    """Concatenate each split's languages (in the order they appear) and shuffle the rows.

    The permutation is the one ``datasets.Dataset.shuffle(seed=seed)`` draws
    (numpy's default_rng), so rows come out in the course's order.
    """
    shuffled = {}
    for split, table in tables.items():
        languages = pc.unique(table["language"]).to_pylist() if table.num_rows else []
        if len(languages) > 1:
            parts = [table.filter(pc.equal(table["language"], lang)) for lang in languages]
            joined = pa.concat_tables(parts)
        else:  # already in order: filtering would only copy the rows
            joined = table
        permutation = np.random.default_rng(seed).permutation(joined.num_rows)
        shuffled[split] = joined.take(pa.array(permutation))
    return shuffled


@stage_entry
def main() -> None:
    params = load_params("concat_shuffle", SPEC)
    tables = load_splits(INPUT)
    shuffled = concat_shuffle(tables, params["seed"])
    report = {"rows": rows_by_language(shuffled)}
    with atomic_outputs(OUTPUT, METRICS) as (data, metrics):
        write_splits(shuffled, data)
        metrics.write_text(dumps_json(report), encoding="utf-8")
    log.info("rows: %s", report["rows"])


if __name__ == "__main__":
    main()
