"""Stage drop_short_titles: keep reviews whose title has at least ``min_words`` words."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stages.lib.charts import histogram_chart, save_png
from stages.lib.data import (
    SPLITS,
    load_splits,
    rows_by_language,
    word_counts,
    write_splits,
)
from stages.lib.errors import UserError, stage_entry
from stages.lib.io import atomic_outputs, csv_text, dumps_json
from stages.lib.params import integer, load_params

log = logging.getLogger("drop_short_titles")

INPUT = Path("data/concat_shuffle")
OUTPUT = Path("data/drop_short_titles")
METRICS = Path("metrics/drop_short_titles.json")
PLOTS = Path("plots/drop_short_titles")

SPEC = {"min_words": integer(minimum=1)}

#: Histogram bins: titles by single word counts, bodies by 25 words; the last bin is open.
TITLE_BIN, TITLE_LAST = 1, 20
BODY_BIN, BODY_LAST = 25, 500


#: The length charts: histogram name, (chart title, x axis title).
CHARTS = {
    "title_words": ("Words per review title",
                    f"words in the title (the last bar: {TITLE_LAST} or more)"),
    "body_words": ("Words per review body",
                   f"words in the review, in bins of {BODY_BIN} (the last: {BODY_LAST} or more)"),
}


def drop_short_titles(tables: dict[str, pa.Table], min_words: int) -> dict[str, pa.Table]:
    """Keep rows whose ``review_title`` has ``min_words`` or more whitespace-separated words.

    A split that had rows and would keep none is an error: the stages after it can't
    learn from or score an empty split.
    """
    kept = {split: table.filter(pc.greater_equal(word_counts(table["review_title"]), min_words))
            for split, table in tables.items()}
    emptied = [split for split, table in tables.items()
               if table.num_rows and not kept[split].num_rows]
    if emptied:
        longest = max(pc.max(word_counts(tables[split]["review_title"])).as_py()
                      for split in emptied)
        raise UserError(f"params.yaml: drop_short_titles.min_words is {min_words}, which leaves "
                        f"the {' and '.join(emptied)} split(s) with no rows (their longest "
                        f"title has {longest} words). Lower drop_short_titles.min_words.")
    return kept


def histogram(counts: np.ndarray, width: int, last: int) -> list[tuple[int, str, int]]:
    """``[(first word count of the bin, its label, rows)]`` in order, with bins of ``width``
    words and an open bin from ``last``."""
    bins = np.minimum(counts, last) // width
    tally = np.bincount(bins, minlength=last // width + 1)
    rows = []
    for index, number in enumerate(tally):
        start = index * width
        if start >= last:
            label = f"{last}+"
        elif width == 1:
            label = str(start)
        else:
            label = f"{start}-{start + width - 1}"
        rows.append((start, label, int(number)))
    return rows


def length_report(tables: dict[str, pa.Table]) -> dict[str, list[tuple[int, str, int]]]:
    """Word-count histograms of titles and bodies over all splits."""
    def all_counts(column: str) -> np.ndarray:
        arrays = [word_counts(t[column]).to_numpy() for t in tables.values() if t.num_rows]
        return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)

    return {"title_words": histogram(all_counts("review_title"), TITLE_BIN, TITLE_LAST),
            "body_words": histogram(all_counts("review_body"), BODY_BIN, BODY_LAST)}


def merge_bins(before: list[tuple[int, str, int]], after: list[tuple[int, str, int]]
               ) -> list[tuple[int, str, int, int]]:
    """``(start, label, rows before, rows after)`` of two histograms with the same bins."""
    return [(start, label, count, kept) for (start, label, count), (_, _, kept)
            in zip(before, after, strict=True)]


@stage_entry
def main() -> None:
    params = load_params("drop_short_titles", SPEC)
    tables = load_splits(INPUT)
    kept = drop_short_titles(tables, params["min_words"])
    report = {"rows": rows_by_language(kept),
              "rows_before": rows_by_language(tables)}
    # The histograms describe the course's data: the book splits, not others.
    before, after = (length_report({split: table for split, table in data.items()
                                    if split in SPLITS}) for data in (tables, kept))
    kept_note = f"kept: titles of {params['min_words']}+ words"
    bins = {name: merge_bins(before[name], after[name]) for name in CHARTS}
    with atomic_outputs(OUTPUT, METRICS, PLOTS) as (data, metrics, plots):
        write_splits(kept, data)
        metrics.write_text(dumps_json(report), encoding="utf-8")
        plots.mkdir()
        for name, (title, unit) in CHARTS.items():
            (plots / f"{name}.csv").write_text(
                csv_text(["words", "bin", "before", "after"], bins[name]), encoding="utf-8")
            save_png(histogram_chart(bins[name], title, unit, kept_note), plots / f"{name}.png")
    log.info("rows: %s", report["rows"])


if __name__ == "__main__":
    main()
