"""The charts: rendered offline to non-empty PNGs, the same bytes every time, bins in order."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from stages.download import category_rows
from stages.drop_short_titles import histogram, merge_bins
from stages.lib.charts import (
    category_chart,
    histogram_chart,
    rouge_epochs_chart,
    save_png,
    training_chart,
)
from stages.lib.curves import epoch_rows, logging_interval, training_rows
from tests.conftest import ROOT

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

HISTORIES = {
    "pretrain": [{"loss": 8.5, "learning_rate": 1e-3, "step": 2},
                 {"loss": 7.25, "learning_rate": 2e-3, "step": 4},
                 {"train_runtime": 3.0, "step": 4}],
    "books": [{"loss": 2.5, "learning_rate": 5e-4, "step": 2},
              {"eval_loss": 5.5, "eval_rouge1": 12.0, "eval_rouge2": 6.0, "eval_rougeL": 11.0,
               "step": 3},
              {"loss": 1.5, "learning_rate": 1e-4, "step": 4},
              {"eval_loss": 5.25, "eval_rouge1": 13.0, "eval_rouge2": 7.0, "eval_rougeL": 12.5,
               "step": 6}],
}
START = {"loss": 6.0, "rouge1": 7.0, "rouge2": 2.0, "rougeL": 6.5, "gen_len": 20.0}


def specs() -> dict[str, dict]:
    bins = merge_bins(histogram(np.array([0, 24, 25, 80, 600]), 25, 500),
                      histogram(np.array([25, 80]), 25, 500))
    counts = {"en": {"train": {"book": 3, "toy": 1}, "test": {"book": 1}},
              "es": {"validation": {"book": 2}}}
    return {"histogram": histogram_chart(bins, "Words per review body", "words", "kept"),
            "categories": category_chart(category_rows(counts)),
            "training": training_chart(training_rows(HISTORIES)),
            "epochs": rouge_epochs_chart(epoch_rows(HISTORIES["books"], START), "kept: 2")}


def test_length_bins_are_numbers_in_order():
    bins = histogram(np.array([0, 1, 1, 3, 30, 12]), 1, 20)
    assert [start for start, _, _ in bins] == list(range(21))
    assert [label for _, label, _ in bins][-3:] == ["18", "19", "20+"]
    spec = histogram_chart(merge_bins(bins, bins), "t", "words", "kept")
    assert spec["encoding"]["x"]["sort"] == {"field": "start"}  # by number, not by label
    assert all(isinstance(row["start"], int) for row in spec["data"]["values"])


def test_one_category_chart_of_languages_and_splits():
    counts = {"en": {"train": {"book": 3, "toy": 1}}, "es": {"test": {"book": 2}}}
    rows = category_rows(counts)
    assert rows == [("en", "train", "book", 3), ("en", "train", "toy", 1),
                    ("es", "test", "book", 2)]
    spec = category_chart(rows)
    assert spec["facet"]["column"]["field"] == "language"
    assert {row["language"] for row in spec["data"]["values"]} == {"English", "Spanish"}


def test_curves_join_the_phases_and_keep_no_junk():
    rows = training_rows(HISTORIES)
    assert [(row["phase"], row["step"]) for row in rows] == [
        ("pretrain", 2), ("pretrain", 4), ("books", 6), ("books", 8)]
    assert set(rows[0]) == {"step", "phase", "loss", "learning_rate"}
    epochs = epoch_rows(HISTORIES["books"], START)
    assert [(row["epoch"], row["step"], row["rougeL"]) for row in epochs] == [
        (0, 0, 6.5), (1, 3, 11.0), (2, 6, 12.5)]
    assert epoch_rows(HISTORIES["books"], {})[0]["epoch"] == 1  # no phase before: no epoch 0


@pytest.mark.parametrize(("steps", "interval"), [(1, 1), (8, 1), (30, 1), (200, 4),
                                                 (2200, 44)])
def test_every_run_logs_enough_points_for_a_curve(steps, interval):
    assert logging_interval(steps) == interval
    assert steps // logging_interval(steps) >= min(steps, 50)


def test_charts_render_offline_to_the_same_png(tmp_path):
    """Each chart renders to a PNG; twice in this process and once in another, the same
    bytes (the pipeline's outputs must not change when nothing else did)."""
    charts = specs()
    for name, spec in charts.items():
        save_png(spec, tmp_path / f"{name}.png")
        save_png(spec, tmp_path / f"{name}-again.png")
    (tmp_path / "specs.json").write_text(json.dumps(charts))
    script = ("import json, pathlib, sys\n"
              "from stages.lib.charts import save_png\n"
              "folder = pathlib.Path(sys.argv[1])\n"
              "for name, spec in json.loads((folder / 'specs.json').read_text()).items():\n"
              "    save_png(spec, folder / f'{name}-other.png')\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for name in charts:
        image = (tmp_path / f"{name}.png").read_bytes()
        assert image.startswith(PNG_MAGIC) and len(image) > 5000, name
        assert image == (tmp_path / f"{name}-again.png").read_bytes(), name
        assert image == (tmp_path / f"{name}-other.png").read_bytes(), name
