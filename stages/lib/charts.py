"""The pipeline's charts: Vega-Lite specs rendered to PNG, offline.

vl-convert renders Vega-Lite without a browser or network, so the images open
anywhere, and ``dvc plots show`` shows them as image plots (a page with no
script to fetch). Each chart's data are kept next to it as CSV. The same data
give the same bytes: the specs hold no dates and the renderer no randomness.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stages.lib.io import csv_text

#: Pixels per chart unit (2 would be sharper on high-density screens, at twice the bytes
#: in git for every run that changes a chart).
SCALE = 1
LANGUAGE_NAMES = {"de": "German", "en": "English", "es": "Spanish", "fr": "French",
                  "ja": "Japanese", "zh": "Chinese"}
SPLIT_ORDER = ["train", "validation", "test", "others"]
ROUGE_NAMES = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L"}
_CONFIG = {"font": "Liberation Sans, Arial, sans-serif", "view": {"stroke": None},
           "title": {"fontSize": 15, "subtitleFontSize": 12, "anchor": "start"},
           "axis": {"labelFontSize": 11, "titleFontSize": 12}}


def save_png(spec: Mapping[str, Any], path: str | Path) -> None:
    """Render a Vega-Lite spec to a PNG file (``path``'s folder must exist)."""
    import vl_convert  # here: only the stages that draw load the renderer

    Path(path).write_bytes(vl_convert.vegalite_to_png(dict(spec), scale=SCALE))


def _chart(title: str, subtitle: str | list[str], values: list[dict[str, Any]],
           **body: Any) -> dict:
    return {"title": {"text": title, "subtitle": subtitle}, "config": _CONFIG,
            "data": {"values": values}, "background": "white", **body}


def histogram_chart(bins: Sequence[tuple[int, str, int, int]], title: str, unit: str,
                    kept: str) -> dict:
    """Grouped bars of ``(start, label, before, after)`` bins, in the order of ``start``.

    ``unit``: what is counted (the x axis' title); ``kept``: the legend of "after".
    """
    groups = ["all reviews", kept]
    values = [{"start": start, "bin": label, "reviews": count, "group": group}
              for start, label, before, after in bins
              for group, count in zip(groups, (before, after), strict=True)]
    angle = 0 if all(len(label) <= 3 for _, label, _, _ in bins) else -40
    return _chart(title, "book reviews of the train, validation and test splits", values,
                  width=max(300, 28 * len(bins)), height=220, mark={"type": "bar"},
                  encoding={
                      "x": {"field": "bin", "type": "ordinal", "title": unit,
                            "sort": {"field": "start"}, "axis": {"labelAngle": angle}},
                      "xOffset": {"field": "group", "sort": groups},
                      "y": {"field": "reviews", "type": "quantitative", "title": "reviews"},
                      "color": {"field": "group", "sort": groups,
                                "scale": {"range": ["#bab0ac", "#4c78a8"]},
                                "legend": {"orient": "top", "title": None}},
                      "tooltip": [{"field": "bin"}, {"field": "group"}, {"field": "reviews"}]})


def category_chart(counts: Sequence[tuple[str, str, str, int]]) -> dict:
    """Reviews per product category, one panel per language, bars split by split.

    ``counts``: ``(language, split, category, reviews)`` rows.
    """
    values = [{"language": LANGUAGE_NAMES.get(language, language), "split": split,
               "category": category, "reviews": reviews}
              for language, split, category, reviews in counts]
    categories = len({row[2] for row in counts})
    return _chart("Reviews per product category", "as read by the download stage, by "
                  "language and split (the pipeline keeps the book categories)", values,
                  facet={"column": {"field": "language", "type": "nominal", "title": None,
                                    "header": {"labelFontSize": 13}}},
                  spec={"width": 260, "height": max(80, 16 * categories), "mark": "bar",
                        "encoding": {
                            "y": {"field": "category", "type": "nominal", "title": None,
                                  "sort": "-x"},
                            "x": {"field": "reviews", "type": "quantitative",
                                  "aggregate": "sum", "title": "reviews"},
                            "color": {"field": "split", "sort": SPLIT_ORDER,
                                      "legend": {"orient": "top"}},
                            "order": {"field": "split_order"},
                            "tooltip": [{"field": "category"}, {"field": "split"},
                                        {"field": "reviews"}]}},
                  transform=[{"calculate": f"indexof({SPLIT_ORDER}, datum.split)",
                              "as": "split_order"}])


def training_chart(points: Sequence[Mapping[str, Any]]) -> dict:
    """Training loss and learning rate against the optimizer step, coloured by phase.

    ``points``: rows with ``step``, ``phase``, ``loss``, ``learning_rate``.
    """
    phases = list(dict.fromkeys(row["phase"] for row in points))
    x = {"field": "step", "type": "quantitative", "title": "optimizer step"}
    color = {"field": "phase", "type": "nominal", "sort": phases,
             "scale": {"scheme": "tableau10"}, "legend": {"orient": "top"}}

    def panel(field: str, title: str) -> dict:
        return {"width": 560, "height": 200, "mark": {"type": "line", "point": len(points) < 40},
                "encoding": {"x": x, "y": {"field": field, "type": "quantitative",
                                           "title": title},
                             "color": color, "tooltip": [{"field": "phase"}, {"field": "step"},
                                                          {"field": field}]}}

    return _chart("Training: loss and learning rate", "every phase, steps counted from the "
                  "start of the first; loss on the phase's targets, averaged between points",
                  [dict(row) for row in points],
                  vconcat=[panel("loss", "training loss"),
                           panel("learning_rate", "learning rate")])


def rouge_epochs_chart(epochs: Sequence[Mapping[str, Any]], kept: str) -> dict:
    """Validation ROUGE after each epoch of the books phase (epoch 0: the model it started from).

    ``epochs``: rows with ``epoch`` and ``rouge1``, ``rouge2``, ``rougeL``; ``kept``: a note
    on the model kept, for the subtitle.
    """
    values = [{"epoch": row["epoch"], "score": name, "ROUGE": row[key]}
              for row in epochs for key, name in ROUGE_NAMES.items()]
    return _chart("Validation ROUGE per epoch", [
                      "books phase; greedy decoding; F-measure x 100",
                      "epoch 0: the model the phase started from", kept],
                  values, width=420, height=240,
                  mark={"type": "line", "point": {"size": 60}},
                  encoding={
                      "x": {"field": "epoch", "type": "ordinal", "title": "epoch",
                            "axis": {"labelAngle": 0}},
                      "y": {"field": "ROUGE", "type": "quantitative", "title": "ROUGE",
                            "scale": {"zero": True}},
                      "color": {"field": "score", "type": "nominal",
                                "sort": list(ROUGE_NAMES.values()),
                                "scale": {"scheme": "tableau10"},
                                "legend": {"orient": "top", "title": None}},
                      "tooltip": [{"field": "epoch"}, {"field": "score"}, {"field": "ROUGE"}]})


def write_training_charts(metrics: Mapping[str, Any], curves: Sequence[Mapping[str, Any]],
                          epochs: Sequence[Mapping[str, Any]], folder: Path) -> None:
    """The train stage's charts in ``folder`` (made here): the training curves and the
    validation per epoch, each as CSV and PNG; ``metrics`` (``metrics/train.json``) names
    the model kept."""
    best = ROUGE_NAMES.get(metrics["best_metric"], metrics["best_metric"])
    if metrics["kept"] == "books":
        kept = f"the model kept: epoch {metrics['best_epoch']}, the best on {best}"
    else:
        kept = f"the model kept: epoch 0 (the {metrics['kept']} phase's), the best on {best}"
    folder.mkdir()
    columns = ["step", "phase", "loss", "learning_rate"]
    (folder / "training.csv").write_text(csv_text(
        columns, [[row[key] for key in columns] for row in curves]), encoding="utf-8")
    save_png(training_chart(curves), folder / "training.png")
    columns = ["epoch", "step", "loss", "rouge1", "rouge2", "rougeL"]
    (folder / "rouge_per_epoch.csv").write_text(csv_text(
        columns, [[row[key] for key in columns] for row in epochs]), encoding="utf-8")
    save_png(rouge_epochs_chart(epochs, kept), folder / "rouge_per_epoch.png")
