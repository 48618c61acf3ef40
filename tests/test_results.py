"""scripts/results.py: the README's results table comes from the recorded metrics."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import yaml

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import results  # noqa: E402


def _scores(r1: float) -> dict:
    return {"rouge1": r1, "rouge2": r1 / 2, "rougeL": r1 - 1, "rougeLsum": r1 - 0.5}


def test_record_then_table(tmp_path):
    (tmp_path / "metrics").mkdir()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["rouge"].update(tokenizer="ascii", stemmer=False)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    group = {"all": {**_scores(16.8), "rows": 3}, "en": {**_scores(15.25), "rows": 2},
             "es": {**_scores(18.82), "rows": 1}}
    (tmp_path / "metrics/baseline.json").write_text(json.dumps(
        {"split": "validation", "rows": {}, "lead3": group, "rouge": {}}))
    model = {"all": _scores(17.5), "en": _scores(16.0), "es": _scores(19.0)}
    (tmp_path / "metrics/evaluate.json").write_text(json.dumps(
        {"split": "validation", "rows": {"en": 2, "es": 1}, "model": model}))
    (tmp_path / "metrics/train_speed.json").write_text(json.dumps({"wall_seconds": 600}))

    record = results.collect(tmp_path, "dvc exp run -S train.epochs=2")
    assert record["baselines"]["lead3"]["en"]["rouge1"] == 15.25
    assert record["model"]["es"]["rouge1"] == 19.0
    assert record["train_minutes"] == 10.0
    text = results.table({"run-a": record})
    assert "| run-a | ascii | lead3 | 16.80 | 8.40 | 15.80 | 15.25 | 7.62 | 14.25 | 18.82 |  |" \
        in text
    assert "| run-a | ascii | **model** | 17.50 | 8.75 | 16.50 | 16.00 | 8.00 | 15.00 | 19.00 " \
           "| 10.0 min |" in text
    assert "- run-a: `dvc exp run -S train.epochs=2`" in text
    # A second run on the same data and scoring: its model row only.
    both = results.table({"run-a": record, "run-b": record})
    assert both.count("| lead3 |") == 1 and both.count("| **model** |") == 2

    readme = f"intro\n{results.START}\nold table\n{results.END}\nafter\n"
    rendered = results.render_readme(readme, {"run-a": record})
    assert rendered.startswith("intro\n") and rendered.endswith(f"{results.END}\nafter\n")
    assert "old table" not in rendered and "| run-a |" in rendered
    assert results.render_readme(rendered, {"run-a": record}) == rendered


def test_readme_table_is_up_to_date(tmp_path):
    # What `python scripts/results.py table` would write is what the README holds.
    project = tmp_path / "p"
    project.mkdir()
    shutil.copy(ROOT / "README.md", project / "README.md")
    shutil.copytree(ROOT / "results", project / "results")
    shutil.copytree(ROOT / "scripts", project / "scripts")
    check = subprocess.run([sys.executable, str(project / "scripts/results.py"), "table",
                            "--check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr
    assert len(list((ROOT / "results").glob("*.json"))) > 0
