"""`dvc repro` in a temporary copy of the project, as a user runs it from a fresh clone."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import set_params

GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]


def init_repo(project: Path) -> None:
    subprocess.run([*GIT, "init", "-q"], cwd=project, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=project, check=True)
    subprocess.run([*GIT, "commit", "-qm", "copy"], cwd=project, check=True)


def dvc(project: Path, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(["dvc", *args], cwd=project, capture_output=True, text=True,
                            env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def ran(result: subprocess.CompletedProcess) -> set[str]:
    """The stages a `dvc repro` ran."""
    return {line.split("'")[1] for line in result.stdout.splitlines()
            if line.startswith("Running stage '")}


def test_data_stages_repro_then_noop_then_only_changed(project):
    init_repo(project)
    first = dvc(project, "repro", "drop_short_titles")
    assert ran(first) == {"download", "filter_books", "concat_shuffle", "drop_short_titles"}
    assert (project / "data/drop_short_titles/train/state.json").is_file()

    assert ran(dvc(project, "repro", "drop_short_titles")) == set()

    set_params(project, drop_short_titles={"min_words": 2})
    assert ran(dvc(project, "repro", "drop_short_titles")) == {"drop_short_titles"}

    metrics = dvc(project, "metrics", "show").stdout
    assert "metrics/drop_short_titles.json" in metrics
    plots = dvc(project, "plots", "show", "--json").stdout
    assert "title_words" in plots and "plots/download/categories_en_train.csv" in plots
