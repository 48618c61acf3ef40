"""Data stages run as commands: bad input is one clear message, exit 2, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_marc_folder, review, run_stage, set_params, write_jsonl


def assert_user_error(result, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    message = result.stderr[result.stderr.index("error: "):]
    for fragment in fragments:
        assert fragment in message, message


def metrics_of(project: Path, stage: str) -> bytes | None:
    path = project / "metrics" / f"{stage}.json"
    return path.read_bytes() if path.exists() else None


def assert_no_output(project: Path, stage: str, metrics_before: bytes | None = None) -> None:
    """No output folder, no temporary left, the (committed) metrics file untouched."""
    assert not (project / "data" / stage).exists()
    assert not list((project / "data").glob(f".{stage}.tmp-*"))
    assert metrics_of(project, stage) == metrics_before


def test_download_malformed_line_names_file_and_line(project, tmp_path):
    folder = make_marc_folder(tmp_path / "marc", languages=("en",))
    with (folder / "dataset_en_dev.json").open("a") as handle:
        handle.write('{"review_id": "broken",\n')
    set_params(project, download={"source": str(folder), "languages": ["en"]})
    before = metrics_of(project, "download")
    result = run_stage(project, "download")
    assert_user_error(result, "dataset_en_dev.json, line 13", "malformed JSON")
    assert_no_output(project, "download", before)


def test_download_missing_column(project, tmp_path):
    rows = [review("en", i) for i in range(3)]
    for row in rows:
        del row["review_title"]
    write_jsonl(tmp_path / "marc" / "dataset_en_train.json", rows)
    set_params(project, download={"source": str(tmp_path / "marc"), "languages": ["en"]})
    before = metrics_of(project, "download")
    assert_user_error(run_stage(project, "download"), "dataset_en_train.json",
                      "column review_title missing")
    assert_no_output(project, "download", before)


@pytest.mark.parametrize(("params", "fragments"), [
    ({"languages": ["en", "klingon"]}, ["download.languages", "'klingon'", "de, en, es"]),
    ({"languages": "en"}, ["download.languages must be a non-empty list"]),
    ({"source": "/no/such/folder"}, ["download.source", "not a folder"]),
    ({"sourse": "sample"}, ["unknown key download.sourse"]),
])
def test_download_bad_params(project, params, fragments):
    set_params(project, download=params)
    before = metrics_of(project, "download")
    assert_user_error(run_stage(project, "download"), *fragments)
    assert_no_output(project, "download", before)


def test_download_hub_source_offline_says_how_to_use_local_files(project):
    set_params(project, download={"source": "hf:someone/amazon_reviews_multi@main",
                                  "languages": ["en"]})
    before = metrics_of(project, "download")
    result = run_stage(project, "download", env={"HF_HUB_OFFLINE": "1",
                                                 "HF_DATASETS_OFFLINE": "1"})
    assert_user_error(result, "hf:someone/amazon_reviews_multi@main", "set download.source to "
                      "their folder")
    assert_no_output(project, "download", before)


def test_data_stages_chain_and_explain_empty_categories(project, tmp_path):
    folder = make_marc_folder(tmp_path / "marc", rows_per_split=8)
    set_params(project, download={"source": str(folder)},
               filter_books={"categories": ["garden"]})
    assert run_stage(project, "download").returncode == 0
    before = metrics_of(project, "filter_books")
    result = run_stage(project, "filter_books")
    assert_user_error(result, "filter_books.categories", "book, digital_ebook_purchase, "
                      "kitchen, toy")
    assert_no_output(project, "filter_books", before)

    set_params(project, filter_books={"categories": ["book", "toy"]})
    for stage in ("filter_books", "concat_shuffle", "drop_short_titles"):
        result = run_stage(project, stage)
        assert result.returncode == 0, result.stderr
    assert (project / "data/drop_short_titles/train.parquet").is_file()
    for name in ("title_words.csv", "title_words.png", "body_words.png"):
        assert (project / "plots/drop_short_titles" / name).stat().st_size > 0, name


@pytest.mark.parametrize(("value", "expected"), [
    ("three", "drop_short_titles.min_words must be a positive integer, got 'three'"),
    (0, "drop_short_titles.min_words must be a positive integer, got 0"),
    (2.5, "must be a positive integer, got 2.5"),
    (True, "must be a positive integer, got True"),
])
def test_drop_short_titles_bad_min_words(project, value, expected):
    set_params(project, drop_short_titles={"min_words": value})
    before = metrics_of(project, "drop_short_titles")
    assert_user_error(run_stage(project, "drop_short_titles"), "params.yaml", expected)
    assert_no_output(project, "drop_short_titles", before)


def test_concat_shuffle_negative_seed(project):
    set_params(project, concat_shuffle={"seed": -1})
    assert_user_error(run_stage(project, "concat_shuffle"), "concat_shuffle.seed must be an "
                      "integer from 0 to 4294967295, got -1")


def test_stage_without_its_input_says_what_to_run(project):
    assert_user_error(run_stage(project, "concat_shuffle"), "data/filter_books",
                      "dvc repro filter_books")
