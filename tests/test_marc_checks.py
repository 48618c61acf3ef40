"""Every MARC field checked: null, missing or wrong-typed values are a counted drop (the text
fields) or an error naming the file, the line and the field; reviews in two splits too."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from stages.download import download
from stages.lib.data import MARC_SCHEMA
from stages.lib.errors import UserError
from stages.lib.marc_checks import Origin, check_marc_table
from tests.conftest import ROOT, review, run_stage, set_params, write_jsonl
from tests.test_data_cli import assert_user_error

MISSING = object()


def write_with(folder, line: int, field: str, value, rows: int = 400):
    """An English train file of ``rows`` reviews, review ``line`` with ``field`` set to
    ``value`` (or left out): near the start or far into the file."""
    reviews = [review("en", i) for i in range(rows)]
    if value is MISSING:
        del reviews[line - 1][field]
    else:
        reviews[line - 1][field] = value
    write_jsonl(folder / "dataset_en_train.json", reviews)


@pytest.mark.parametrize("line", [2, 350])
@pytest.mark.parametrize(("field", "value", "said"), [
    ("product_category", None, "product_category is null"),
    ("review_id", None, "review_id is null"),  # (was counted as a duplicate id)
    ("language", MISSING, "language is missing"),
    ("review_id", 123, "review_id is 123 (a JSON number)"),
    ("reviewer_id", True, "reviewer_id is true (a JSON boolean)"),
    ("product_id", ["p"], "product_id is a JSON array"),
    ("review_title", 5, "review_title is 5 (a JSON number)"),
    ("review_body", {"text": "x"}, "review_body is a JSON object"),
    ("review_body", 7.5, "review_body is 7.5 (a JSON number)"),
    ("stars", 4.0, 'stars is 4.0 (a JSON number); expected a whole number from 1 to 5 (as 4 '
                   'or "4")'),
    ("stars", None, "stars is null"),
])
def test_a_bad_value_in_any_field_names_file_line_and_field(tmp_path, line, field, value,
                                                              said):
    write_with(tmp_path, line, field, value)
    with pytest.raises(UserError) as caught:
        download(str(tmp_path), ["en"])
    assert str(caught.value).startswith(f"{tmp_path / 'dataset_en_train.json'}, line {line}: "
                                        f"{said}"), str(caught.value)


@pytest.mark.parametrize("line", [2, 350])
@pytest.mark.parametrize(("field", "value"), [("review_title", None), ("review_body", MISSING)])
def test_a_null_or_missing_text_is_a_counted_drop(tmp_path, line, field, value):
    write_with(tmp_path, line, field, value)
    tables, report = download(str(tmp_path), ["en"])
    assert tables["train"].num_rows == 399
    assert report["dropped_rows"][f"empty_{field}"] == 1


def test_text_that_looks_like_a_number_is_text(tmp_path):
    # What DuckDB reads as text is looked up in the file: these are JSON strings.
    reviews = [review("en", i) for i in range(400)]
    reviews[350].update(review_title="5", review_id="123", product_category="true",
                         review_body="[1, 2]")
    write_jsonl(tmp_path / "dataset_en_train.json", reviews)
    tables, _ = download(str(tmp_path), ["en"])
    row = tables["train"].slice(350, 1).to_pylist()[0]
    assert (row["review_title"], row["review_id"], row["product_category"],
            row["review_body"]) == ("5", "123", "true", "[1, 2]")


def test_a_hub_split_names_the_row():
    rows = [review("en", i, stars=4) for i in range(3)]
    rows[1]["product_category"] = None
    table = pa.Table.from_pylist(rows, schema=MARC_SCHEMA)
    with pytest.raises(UserError, match=r"^hf:x \(en/train\), row 2: product_category is null"):
        check_marc_table(Origin("hf:x (en/train)"), table, "en")


def test_malformed_json_message_reads_well(tmp_path):
    # json's "Invalid control character at" gave "... at at column 22".
    (tmp_path / "dataset_en_train.json").write_text('{"review_id": "a\tb"}\n')
    with pytest.raises(UserError, match=r"line 1: malformed JSON \(Invalid control character, "
                                        r"column 17\)"):
        download(str(tmp_path), ["en"])


def test_a_review_in_train_and_validation_is_named_as_a_leak(tmp_path):
    write_jsonl(tmp_path / "dataset_en_train.json", [review("en", 1), review("en", 2)])
    write_jsonl(tmp_path / "dataset_en_dev.json", [review("en", 2), review("en", 3)])
    with pytest.raises(UserError, match=r"1 review_id\(s\) are in both the train and the "
                                        r"validation split \(e.g. 't-en-2'\): a leak"):
        download(str(tmp_path), ["en"])


@pytest.mark.parametrize("field", ["language", "product_category"])
def test_a_null_in_the_sample_stops_download_before_it_writes(project, tmp_path, field):
    # The case: a null language gave TypeError (a traceback); a null category
    # replaced data/download and its metrics, and left plots/download stale.
    lines = (ROOT / "data/sample/dataset_en_train.json").read_text().splitlines()
    row = json.loads(lines[40])
    row[field] = None
    lines[40] = json.dumps(row)
    (tmp_path / "dataset_en_train.json").write_text("\n".join(lines) + "\n")
    set_params(project, download={"source": str(tmp_path), "languages": ["en"]})
    outputs = [project / "metrics/download.json", *(project / "plots/download").iterdir()]
    before = {path: path.read_bytes() for path in outputs}
    assert_user_error(run_stage(project, "download"),
                      f"dataset_en_train.json, line 41: {field} is null")
    assert {path: path.read_bytes() for path in outputs} == before and len(before) == 3
    assert not (project / "data" / "download").exists()
