"""The data stages' functions on small in-test data."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pyarrow as pa
import pytest
from datasets import Dataset, concatenate_datasets

from stages.concat_shuffle import concat_shuffle
from stages.download import category_counts, download, duplicate_ids
from stages.drop_short_titles import drop_short_titles, histogram, length_report
from stages.lib.data import (
    MARC_SCHEMA,
    load_splits,
    rows_by_language,
    save_splits,
    word_counts,
)
from stages.lib.errors import UserError
from stages.lib.marc import read_marc_file
from tests.conftest import make_marc_folder, review, write_jsonl


def table(rows: list[dict]) -> pa.Table:
    rows = [{**r, "stars": int(r["stars"])} for r in rows]
    return pa.Table.from_pylist(rows, schema=MARC_SCHEMA)


def test_download_reads_local_files_with_marc_schema(tmp_path):
    folder = make_marc_folder(tmp_path / "marc", rows_per_split=8)
    tables, report = download(str(folder), ["en", "es"])
    assert set(tables) == {"train", "validation", "test"}
    for t in tables.values():
        assert t.schema == MARC_SCHEMA
        assert t.num_rows == 16
    assert tables["train"]["stars"].to_pylist()[0] == 4
    assert report["rows"]["validation"] == {"en": 8, "es": 8, "all": 16}
    assert report["missing_splits"] == []
    assert category_counts(tables)["en"]["train"] == {"book": 2, "digital_ebook_purchase": 2,
                                                      "kitchen": 2, "toy": 2}


def test_download_reads_gzip_and_reports_missing_split(tmp_path):
    folder = tmp_path / "marc"
    rows = [review("es", i) for i in range(5)]
    with gzip.open(folder.mkdir() or folder / "dataset_es_dev.json.gz", "wt") as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in rows))
    tables, report = download(str(folder), ["es"])
    assert tables["validation"].num_rows == 5
    assert tables["train"].num_rows == 0 and tables["train"].schema == MARC_SCHEMA
    assert report["missing_splits"] == ["es/train", "es/test"]


def test_download_accepts_integer_stars_and_drops_empty_text(tmp_path):
    rows = [review("en", 0, stars=5), review("en", 1, body="  "), review("en", 2),
            review("en", 3), review("en", 4)]
    rows[2]["review_title"] = None
    rows[3]["review_body"] = None
    write_jsonl(tmp_path / "dataset_en_train.json", rows)
    tables, report = download(str(tmp_path), ["en"])
    assert tables["train"]["review_id"].to_pylist() == ["t-en-0", "t-en-4"]
    assert tables["train"]["stars"].to_pylist() == [5, 4]
    assert report["dropped_rows"] == {"empty_review_body": 2, "empty_review_title": 1}


def test_download_blank_text_is_any_unicode_whitespace_and_padded_stars_parse(tmp_path):
    rows = [review("en", i) for i in range(7)]
    rows[0]["review_body"] = " \u3000\u00a0\t"      # blank: Unicode spaces only
    rows[1]["review_body"] = "  leading spaces"       # not blank
    rows[2]["review_title"] = ""                      # blank: empty
    rows[3]["review_title"] = "\u2003x"               # not blank: a space, then a letter
    rows[4]["stars"] = " 3 "
    write_jsonl(tmp_path / "dataset_en_train.json", rows)
    tables, report = download(str(tmp_path), ["en"])
    assert tables["train"]["review_id"].to_pylist() == ["t-en-1", "t-en-3", "t-en-4",
                                                        "t-en-5", "t-en-6"]
    assert tables["train"]["stars"].to_pylist()[2] == 3
    assert report["dropped_rows"] == {"empty_review_body": 1, "empty_review_title": 1}


def test_download_counts_duplicate_review_ids(tmp_path):
    # (In two splits, an id is a leak: tests/test_marc_checks.py.)
    write_jsonl(tmp_path / "dataset_en_train.json", [review("en", 1), review("en", 2),
                                                     review("en", 1)])
    write_jsonl(tmp_path / "dataset_en_dev.json", [review("en", 3)])
    _, report = download(str(tmp_path), ["en"])
    assert report["duplicate_review_ids"] == 1


def test_download_counts_duplicates_among_the_files_rows_even_dropped_ones(tmp_path):
    # The count describes the files: a repeated id is reported even when the repeat is
    # dropped for its blank title.
    write_jsonl(tmp_path / "dataset_en_train.json",
                [review("en", 1), review("en", 2), review("en", 1, title=" ")])
    tables, report = download(str(tmp_path), ["en"])
    assert tables["train"]["review_id"].to_pylist() == ["t-en-1", "t-en-2"]
    assert report["duplicate_review_ids"] == 1
    assert report["dropped_rows"]["empty_review_title"] == 1


def test_download_reads_a_line_longer_than_the_fast_parse_block(tmp_path):
    # A line longer than the blocks DuckDB reads (it may straddle one boundary, not two)
    # is read by the line by line parse.
    body = "word " * 2_000_000
    write_jsonl(tmp_path / "dataset_en_train.json",
                [review("en", 0), review("en", 1, body=body), review("en", 2)])
    tables, _ = download(str(tmp_path), ["en"])
    assert tables["train"]["review_body"].to_pylist()[1] == body
    assert tables["train"]["review_id"].to_pylist() == ["t-en-0", "t-en-1", "t-en-2"]


def test_duplicate_ids_across_splits_and_chunks():
    ids = pa.chunked_array([["a", None], [None, "a", "b"]])
    # As len - count_distinct, which ignores nulls: a and b repeat once, and both nulls count.
    assert duplicate_ids([ids, pa.chunked_array([["b", "c"]])]) == 4


def test_download_keeps_unicode_text_intact(tmp_path):
    body = "¡Qué libro tan fácil de leer! 📚 שלום  \u200f árabe: مرحبا."
    write_jsonl(tmp_path / "dataset_es_train.json", [review("es", 1, body=body)])
    tables, _ = download(str(tmp_path), ["es"])
    assert tables["train"]["review_body"].to_pylist() == [body]


@pytest.mark.parametrize(("content", "expected"), [
    (b'{"review_id": "a"}\n{"review_id": \n', "line 2: malformed JSON"),
    (b"", "is empty"),
    ('{"review_id": "fácil"}\n'.encode("latin-1"), "line 1: not UTF-8"),
    (b'{"review_id": "a", "review_body": {"text": "x"}}\n', "line 1: review_body is a JSON object"),
])
def test_download_names_file_and_line_of_bad_input(tmp_path, content, expected):
    (tmp_path / "dataset_en_train.json").write_bytes(content)
    with pytest.raises(UserError, match=expected) as caught:
        download(str(tmp_path), ["en"])
    assert "dataset_en_train.json" in str(caught.value)


def many_reviews(count: int) -> bytes:
    return "".join(json.dumps(review("en", i)) + "\n" for i in range(count)).encode()


@pytest.mark.parametrize(("bad_line", "expected"), [
    ('{"review_id": "fácil"}'.encode("latin-1"), "line 1801: not UTF-8"),
    (b'{"review_id": "a", "stars": ', "line 1801: malformed JSON"),
])
def test_download_names_a_bad_line_past_the_first_ones(tmp_path, bad_line, expected):
    # A bad line far into the file makes the fast parse fail; the line by line parse
    # names it.
    lines = many_reviews(2000).splitlines()
    lines[1800] = bad_line
    (tmp_path / "dataset_en_train.json").write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(UserError, match=expected):
        download(str(tmp_path), ["en"])


def test_download_takes_numbers_and_extra_fields_past_the_first_lines(tmp_path):
    rows = [review("en", i) for i in range(2000)]
    rows[1500]["stars"] = 5
    rows[1600]["helpful_votes"] = 3
    write_jsonl(tmp_path / "dataset_en_train.json", rows)
    tables, _ = download(str(tmp_path), ["en"])
    train = tables["train"]
    assert train.schema == MARC_SCHEMA
    assert train["review_id"].to_pylist() == [r["review_id"] for r in rows]
    assert train["stars"].to_pylist()[1499:1502] == [4, 5, 4]


def test_download_reads_only_the_named_file_in_a_folder_named_like_a_glob(tmp_path):
    # DuckDB takes a path as a glob pattern; "x*/" would match the folder "xy/" as well.
    write_jsonl(tmp_path / "x*" / "dataset_en_train.json", [review("en", 0), review("en", 1)])
    write_jsonl(tmp_path / "xy" / "dataset_en_train.json", [review("en", 2)])
    tables, _ = download(str(tmp_path / "x*"), ["en"])
    assert tables["train"]["review_id"].to_pylist() == ["t-en-0", "t-en-1"]


def test_parse_keeps_the_order_of_a_file_over_several_buffers(tmp_path):
    # DuckDB parses 16 MB buffers on several threads; the rows keep the file's order.
    rows = [review("en", i, body=f"Review {i}. " + "x" * (i % 600)) for i in range(60_000)]
    path = write_jsonl(tmp_path / "dataset_en_train.json", rows)
    parsed, _, _ = read_marc_file(path, "en")
    assert parsed["review_id"].num_chunks > 1
    assert parsed["review_id"].to_pylist() == [r["review_id"] for r in rows]
    assert parsed["review_body"].to_pylist() == [r["review_body"] for r in rows]


def test_download_rejects_truncated_gzip(tmp_path):
    data = many_reviews(2000)
    (tmp_path / "dataset_en_train.json.gz").write_bytes(gzip.compress(data)[:-40])
    with pytest.raises(UserError, match="truncated or corrupt"):
        download(str(tmp_path), ["en"])


def test_download_rejects_missing_column_and_bad_stars(tmp_path):
    row = review("en", 1)
    del row["product_category"]
    write_jsonl(tmp_path / "dataset_en_train.json", [row])
    with pytest.raises(UserError, match="column product_category missing"):
        download(str(tmp_path), ["en"])
    # Without review_id the duplicate count (in its own thread) fails too; the user sees
    # the check's message, not that.
    row = review("en", 1)
    del row["review_id"]
    write_jsonl(tmp_path / "dataset_en_train.json", [row])
    with pytest.raises(UserError, match="column review_id missing"):
        download(str(tmp_path), ["en"])
    write_jsonl(tmp_path / "dataset_en_train.json", [review("en", 1), review("en", 2, stars="9")])
    with pytest.raises(UserError, match='line 2: stars is "9"; expected a whole number'):
        download(str(tmp_path), ["en"])


def test_download_rejects_unknown_language_and_language_without_files(tmp_path):
    make_marc_folder(tmp_path, languages=("en",))
    with pytest.raises(UserError, match="unknown language code 'xx'"):
        download(str(tmp_path), ["en", "xx"])
    with pytest.raises(UserError, match="no files for language 'es'"):
        download(str(tmp_path), ["en", "es"])


def test_category_counts_sorted_like_value_counts():
    rows = [review("en", i, category=c) for i, c in enumerate(["toy", "book", "toy", "pc"])]
    counts = category_counts({"train": table(rows)})
    assert list(counts["en"]["train"].items()) == [("toy", 2), ("book", 1), ("pc", 1)]


def test_others_split_goes_through_shuffle_and_title_filter():
    rows = [review("en", i, category="toy", title=" ".join(["word"] * (1 + i % 4)))
            for i in range(12)]
    tables = {"train": table([review("en", 99)]), "others": table(rows)}
    shuffled = concat_shuffle(tables, seed=1)
    assert sorted(shuffled["others"]["review_id"].to_pylist()) == \
        sorted(r["review_id"] for r in rows)
    kept = drop_short_titles(shuffled, 3)
    assert all(len(t.split()) >= 3 for t in kept["others"]["review_title"].to_pylist())
    assert kept["others"].num_rows == 6


def test_concat_shuffle_matches_datasets_shuffle():
    rows = [review(lang, i) for lang in ("en", "es") for i in range(30)]
    shuffled = concat_shuffle({"train": table(rows)}, seed=42)["train"]
    english = Dataset(table(rows[:30]))
    spanish = Dataset(table(rows[30:]))
    course = concatenate_datasets([english, spanish]).shuffle(seed=42)
    assert shuffled["review_id"].to_pylist() == course["review_id"]
    again = concat_shuffle({"train": table(rows)}, seed=42)["train"]
    assert again.equals(shuffled)
    other = concat_shuffle({"train": table(rows)}, seed=7)["train"]
    assert other["review_id"].to_pylist() != shuffled["review_id"].to_pylist()


def test_word_counts_match_python_split():
    texts = ["  two  words ", "", "uno\tdos\ntres", "a\u00a0b", "one"]
    assert word_counts(pa.array(texts)).to_pylist() == [len(t.split()) for t in texts]


def test_drop_short_titles_keeps_titles_with_min_words():
    titles = ["Great", "Five stars", "A very good read", "  loved   this book  "]
    rows = [review("en", i, title=t) for i, t in enumerate(titles)]
    kept = drop_short_titles({"train": table(rows)}, min_words=3)["train"]
    assert kept["review_title"].to_pylist() == titles[2:]
    assert drop_short_titles({"train": table(rows)}, min_words=1)["train"].num_rows == 4


def test_histograms_bin_word_counts():
    assert histogram(np.array([0, 1, 1, 3, 30]), 1, 4) == [
        (0, "0", 1), (1, "1", 2), (2, "2", 0), (3, "3", 1), (4, "4+", 1)]
    assert histogram(np.array([0, 24, 25, 80]), 25, 50) == [
        (0, "0-24", 2), (25, "25-49", 1), (50, "50+", 1)]
    report = length_report({"train": table([review("en", 1, title="a b c")])})
    assert report["title_words"][3] == (3, "3", 1)


def test_splits_round_trip_and_are_byte_identical(tmp_path):
    rows = [review("en", i) for i in range(5)]
    tables = {"train": table(rows), "validation": table([]), "test": table(rows[:1])}
    for name in ("a", "b"):
        save_splits(tables, tmp_path / name)
    loaded = load_splits(tmp_path / "a")
    assert loaded["train"].equals(tables["train"])
    assert loaded["validation"].num_rows == 0
    assert rows_by_language(loaded)["test"] == {"en": 1, "all": 1}
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*"))
    for relative in files_a:
        a, b = tmp_path / "a" / relative, tmp_path / "b" / relative
        assert a.is_dir() or a.read_bytes() == b.read_bytes(), relative
    assert not list(tmp_path.glob(".*tmp-*"))


def test_saved_splits_are_parquet_that_datasets_pandas_and_duckdb_read(tmp_path):
    # docs/data.md's recipes, on a data stage's output and a tokenize-like one.
    import duckdb
    import pandas as pd
    from datasets import load_dataset

    rows = [review(lang, i) for lang in ("en", "es") for i in range(5)]
    tables = {"train": table(rows), "validation": table(rows[:3]), "test": table([])}
    folder = tmp_path / "data" / "drop_short_titles"
    save_splits(tables, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["test.parquet", "train.parquet",
                                                       "validation.parquet"]
    frame = pd.read_parquet(folder / "train.parquet")
    assert frame.to_dict("records") == [{**r, "stars": 4} for r in rows]
    counts = duckdb.sql(f"SELECT language, count(*) AS n FROM '{folder}/train.parquet' "
                        "GROUP BY language ORDER BY language").fetchall()
    assert counts == [("en", 5), ("es", 5)]
    # (datasets can't load an empty split's file: name the splits to load.)
    loaded = load_dataset("parquet", cache_dir=str(tmp_path / "cache"), data_files={
        name: str(folder / f"{name}.parquet") for name in ("train", "validation")})
    assert {name: split.num_rows for name, split in loaded.items()} == {
        "train": 10, "validation": 3}
    assert loaded["train"]["review_id"] == [r["review_id"] for r in rows]

    ids = pa.array([[1, 2], [3]], pa.list_(pa.int32()))
    save_splits({"train": pa.table({"input_ids": ids}), "validation": pa.table({"input_ids": ids}),
                 "test": pa.table({"input_ids": ids})}, tmp_path / "tokenize")
    assert pd.read_parquet(tmp_path / "tokenize" / "train.parquet")["input_ids"].map(
        list).tolist() == [[1, 2], [3]]


def test_saved_bytes_do_not_depend_on_chunking(tmp_path):
    # 4 MB of bodies: several Parquet pages, which the writer cuts where a chunk ends too.
    rows = table([review("en", i, body=f"{i} " + "x" * 1000) for i in range(4000)])
    chunked = pa.concat_tables([rows.slice(0, 7), rows.slice(7, 1500), rows.slice(1507)])
    save_splits({"train": rows}, tmp_path / "a")
    save_splits({"train": chunked}, tmp_path / "b")
    assert (tmp_path / "a" / "train.parquet").read_bytes() == \
        (tmp_path / "b" / "train.parquet").read_bytes()


def test_load_splits_names_the_stage_to_run(tmp_path):
    with pytest.raises(UserError, match="dvc repro filter_books"):
        load_splits(tmp_path / "filter_books")


def test_download_ignores_extra_columns_and_keeps_odd_text(tmp_path, caplog):
    long_body = "Very long review. " * 5600  # over 100,000 characters
    rows = [review("en", 0, extra_field="x", helpful_votes=3),
            review("en", 1, body=long_body, title="T" * 100_000),
            review("en", 2, body="Tabs\tand\x07bell\x1b[31m control\u0000chars.", title="ok ok ok")]
    write_jsonl(tmp_path / "dataset_en_train.json", rows)
    tables, _ = download(str(tmp_path), ["en"])
    train = tables["train"]
    assert train.schema == MARC_SCHEMA
    assert train["review_body"].to_pylist()[1] == long_body
    assert len(train["review_title"].to_pylist()[1]) == 100_000
    assert "\x07bell" in train["review_body"].to_pylist()[2]
    assert "ignoring extra column(s) extra_field, helpful_votes" in caplog.text


@pytest.mark.parametrize("kind", ["chunks", "sliced", "large_string"])
def test_blank_texts_found_from_the_arrow_buffers(kind):
    from stages.lib.marc_checks import _blank

    texts = ["", " ", "\u3000\u00a0", "x", " x", "\u2003x", None, "é", "\u0085", "  \t\n"]
    expected = [True, True, True, False, False, False, True, False, True, True]
    arrays = {
        "chunks": pa.chunked_array([pa.array(texts[:4]), pa.array(texts[4:])]),
        "sliced": pa.chunked_array([pa.array(["padding"] + texts).slice(1)]),
        "large_string": pa.chunked_array([pa.array(texts, type=pa.large_string())]),
    }
    assert _blank(arrays[kind]).to_pylist() == expected
