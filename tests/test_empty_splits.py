"""A split left with no rows: the stage that would empty it names the param; train refuses
to start without training rows."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stages.drop_short_titles import drop_short_titles
from stages.lib.data import load_splits, save_splits
from stages.lib.errors import UserError
from tests.conftest import run_stage, set_params
from tests.model_helpers import TRAIN, make_inputs, splits, table
from tests.test_data_cli import assert_user_error


def test_drop_short_titles_that_would_empty_a_split_names_the_param():
    tables = {"train": table([("en", "A body.", "one two three four")]),
              "validation": table([("en", "A body.", "one two")]), "test": table([])}
    with pytest.raises(UserError, match=r"drop_short_titles.min_words is 3, which leaves the "
                                        r"validation split\(s\) with no rows \(their longest "
                                        r"title has 2 words\)"):
        drop_short_titles(tables, 3)
    assert drop_short_titles(tables, 2)["test"].num_rows == 0  # empty before: not an error


def test_drop_short_titles_min_words_1000_writes_nothing(project):
    # The case: it kept nothing, silently, and train failed later.
    save_splits(splits(), project / "data" / "concat_shuffle")
    set_params(project, drop_short_titles={"min_words": 1000})
    outputs = [project / "metrics/drop_short_titles.json",
               *(project / "plots/drop_short_titles").iterdir()]
    before = {path: path.read_bytes() for path in outputs}
    assert_user_error(run_stage(project, "drop_short_titles"),
                      "params.yaml: drop_short_titles.min_words is 1000",
                      "train and validation and test split(s) with no rows")
    assert {path: path.read_bytes() for path in outputs} == before
    assert not (project / "data" / "drop_short_titles").exists()


def test_train_refuses_an_empty_train_split_before_starting_its_processes(project):
    tokenized, _ = make_inputs(project)
    tables = load_splits(tokenized)
    tables["train"] = tables["train"].slice(0, 0)
    save_splits(tables, project / "data" / "tokenize.new")
    (project / "data" / "tokenize").rename(project / "data" / "tokenize.old")
    (project / "data" / "tokenize.new").rename(tokenized)
    set_params(project, train={**TRAIN, "cpu_processes": 2})
    done = subprocess.run([sys.executable, "-m", "stages.train"], cwd=project,
                          capture_output=True, text=True, timeout=300)
    assert_user_error(done, "data/tokenize: the train split has no rows")
    assert done.stderr.count("error:") == 1  # said once, by the stage: no process started
    assert "training in 2 CPU processes" not in done.stderr
