"""Stage tokenize: the course's preprocessing, whole splits at once."""

from __future__ import annotations

import pyarrow as pa
import pytest

from stages.base_model import build_base_model
from stages.lib.data import load_splits
from stages.lib.errors import UserError
from stages.tokenize import (
    KEPT_COLUMNS,
    int_lists,
    length_report,
    load_tokenizer,
    tokenize_splits,
)
from tests.model_helpers import TINY_BASE, make_inputs, splits


@pytest.fixture(scope="module")
def tokenizer():
    return build_base_model(TINY_BASE, splits()["train"])[1]


def test_int_lists_match_arrow():
    lists = [[5, 6, 1], [], [7, 1]]
    assert int_lists(lists).equals(pa.array(lists, type=pa.list_(pa.int32())))
    assert len(int_lists([])) == 0


def test_tokenize_splits_is_the_courses_preprocessing(tokenizer):
    tables = splits(train=10, validation=4, test=0)
    bodies = ["word " * 100] + tables["train"]["review_body"].to_pylist()[1:]
    tables["train"] = tables["train"].set_column(4, "review_body", pa.array(bodies))
    out = tokenize_splits(tables, tokenizer, max_input_length=16, max_target_length=4)
    assert set(out) == {"train", "validation", "test"}
    for split, table in tables.items():
        result = out[split]
        assert result.column_names == ["input_ids", "labels", *KEPT_COLUMNS]
        assert result.num_rows == table.num_rows
        for column in KEPT_COLUMNS:
            assert result[column].equals(table[column])  # same rows, same order
        for i, (body, title) in enumerate(zip(table["review_body"].to_pylist(),
                                              table["review_title"].to_pylist(), strict=True)):
            expected = tokenizer(body, max_length=16, truncation=True,
                                 text_target=title)
            assert result["input_ids"][i].as_py() == expected["input_ids"]
            assert result["labels"][i].as_py() == tokenizer(
                text_target=title, max_length=4, truncation=True)["input_ids"]
    assert len(out["train"]["input_ids"][0].as_py()) == 16  # truncated, ends with </s>
    assert out["train"]["input_ids"][0].as_py()[-1] == tokenizer.eos_token_id
    report = length_report(out, 16, 4)
    assert report["train"]["inputs_at_limit"] >= 1
    assert report["test"] == {"rows": 0, "input_tokens_mean": 0.0, "inputs_at_limit": 0,
                              "label_tokens_mean": 0.0, "labels_at_limit": 0}


def test_saved_output_loads_with_load_splits(tmp_path):
    tokenized, base = make_inputs(tmp_path)
    tables = load_splits(tokenized)
    assert tables["validation"].num_rows == 6
    assert pa.types.is_list(tables["train"].schema.field("input_ids").type)
    assert load_tokenizer(base).is_fast


def test_missing_base_model(tmp_path):
    with pytest.raises(UserError, match="dvc repro base_model"):
        load_tokenizer(tmp_path / "base_model")
