"""download.source ``hf:<id>[@revision]``: a Hub dataset, read offline.

The Hub's part is the fetch: ``datasets.load_dataset`` is replaced by one that loads a
dataset repository written here, laid out as the Hub stores one (parquet files per
config and split, listed in the README's YAML header), with the real
``datasets.load_dataset``. Everything after the fetch is the stage's own code.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stages.download import download
from stages.lib.data import MARC_SCHEMA
from stages.lib.errors import UserError
from tests.conftest import review, set_params, write_jsonl

SOURCE = "hf:someone/marc"


def hub_repo(folder: Path, configs: dict[str, dict[str, list[dict]]]) -> Path:
    """A dataset repository as the Hub holds one: ``{config: {split: rows}}``."""
    header = ["---", "configs:"]
    for config, splits in configs.items():
        header += [f"- config_name: {config}", "  data_files:"]
        for split, rows in splits.items():
            path = folder / config / f"{split}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(rows), path)
            header += [f"  - split: {split}", f"    path: {config}/{split}.parquet"]
    (folder / "README.md").write_text("\n".join([*header, "---", ""]))
    return folder


def hub_rows(language: str, start: int, count: int, changes: dict | None = None) -> list[dict]:
    """Rows as the Hub's amazon_reviews_multi had them: stars an integer, one extra column
    first (mirrors add some), MARC's columns in another order."""
    rows = []
    for i in range(start, start + count):
        row = review(language, i, category=("book", "toy")[i % 2])
        row["stars"] = int(row["stars"])
        row.update(changes or {})
        rows.append({"mirror_note": "x", **dict(reversed(list(row.items())))})
    return rows


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """``repos[(dataset id, revision)] = folder`` serves that revision (None: the default
    branch); ``calls`` records each fetch as (id, config, revision)."""
    repos: dict[tuple[str, str | None], Path] = {}
    calls: list[tuple[str, str, str | None]] = []
    real_load_dataset = datasets.load_dataset

    def load_dataset(path, name=None, *, revision=None, **kwargs):
        calls.append((path, name, revision))
        if (path, revision) not in repos:
            raise FileNotFoundError(f"Dataset '{path}' doesn't exist on the Hub")
        return real_load_dataset(str(repos[(path, revision)]), name,
                                 cache_dir=str(tmp_path / "cache"))

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return repos, calls


def test_hub_dataset_reads_as_the_same_reviews_in_files_do(tmp_path, hub):
    repos, calls = hub
    en = {"train": hub_rows("en", 0, 6), "validation": hub_rows("en", 100, 4),
          "test": hub_rows("en", 200, 4)}
    es = {"train": hub_rows("es", 0, 5), "validation": hub_rows("es", 100, 3)}  # no test
    # One review id twice (in one split: in two, it would be a leak, an error).
    en["train"].append(dict(en["train"][0]))
    repos[("someone/marc", None)] = hub_repo(tmp_path / "repo", {"en": en, "es": es})

    tables, report = download(SOURCE, ["en", "es"])
    assert calls == [("someone/marc", "en", None), ("someone/marc", "es", None)]
    assert report["missing_splits"] == ["es/test"]
    assert report["duplicate_review_ids"] == 1
    assert report["rows"] == {"train": {"all": 12, "en": 7, "es": 5},
                              "validation": {"all": 7, "en": 4, "es": 3},
                              "test": {"all": 4, "en": 4}}
    for table in tables.values():
        assert table.schema == MARC_SCHEMA  # the extra column gone, types and order MARC's

    # The same reviews as MARC's files (stars as strings) give the same tables.
    folder = tmp_path / "files"
    for language, splits in (("en", en), ("es", es)):
        for split, rows in splits.items():
            file_split = {"validation": "dev"}.get(split, split)
            write_jsonl(folder / f"dataset_{language}_{file_split}.json",
                        [{**{k: v for k, v in row.items() if k != "mirror_note"},
                          "stars": str(row["stars"])} for row in rows])
    from_files, files_report = download(str(folder), ["en", "es"])
    assert {split: table.to_pylist() for split, table in tables.items()} == \
        {split: table.to_pylist() for split, table in from_files.items()}
    assert files_report["duplicate_review_ids"] == 1
    assert files_report["missing_splits"] == report["missing_splits"]


def test_revision_picks_the_hub_dataset_version(tmp_path, hub):
    repos, calls = hub
    repos[("someone/marc", None)] = hub_repo(tmp_path / "main", {
        "en": {"train": hub_rows("en", 0, 4), "validation": hub_rows("en", 100, 2)}})
    repos[("someone/marc", "v1.0")] = hub_repo(tmp_path / "v1", {
        "en": {"train": hub_rows("en", 50, 3), "validation": hub_rows("en", 150, 2)}})
    latest, _ = download(SOURCE, ["en"])
    pinned, report = download(f"{SOURCE}@v1.0", ["en"])
    assert calls == [("someone/marc", "en", None), ("someone/marc", "en", "v1.0")]
    assert latest["train"]["review_id"].to_pylist() == [f"t-en-{i}" for i in range(4)]
    assert pinned["train"]["review_id"].to_pylist() == [f"t-en-{i}" for i in range(50, 53)]
    assert report["source"] == f"{SOURCE}@v1.0"
    with pytest.raises(UserError, match=r"'hf:someone/marc@v2': could not load config 'en'"):
        download(f"{SOURCE}@v2", ["en"])


def test_hub_dataset_missing_a_column_names_it(tmp_path, hub):
    repos, _ = hub
    rows = [{k: v for k, v in row.items() if k != "review_title"}
            for row in hub_rows("en", 0, 3)]
    repos[("someone/marc", None)] = hub_repo(tmp_path / "repo", {"en": {"train": rows}})
    with pytest.raises(UserError, match=r"hf:someone/marc \(en/train\): column review_title "
                                        r"missing"):
        download(SOURCE, ["en"])


@pytest.mark.parametrize(("changes", "message"), [
    ({"stars": "five"}, r"hf:someone/marc \(en/train\), row 1: stars is 'five'; expected a "
                        r"whole number from 1 to 5"),
    ({"stars": 6}, r"hf:someone/marc \(en/train\), row 1: stars is 6; expected a whole number "
                   r"from 1 to 5"),
    ({"language": "es"}, r"hf:someone/marc \(en/train\), row 1: language is 'es', but the "
                         r"config says 'en'"),
    ({"review_body": 17}, r"hf:someone/marc \(en/train\): review_body is int64; expected text"),
])
def test_hub_dataset_with_wrong_values_is_refused_naming_the_row(tmp_path, hub, changes,
                                                                 message):
    repos, _ = hub
    repos[("someone/marc", None)] = hub_repo(tmp_path / "repo", {
        "en": {"train": hub_rows("en", 0, 3, changes)}})
    with pytest.raises(UserError, match=message):
        download(SOURCE, ["en"])


def test_hub_dataset_drops_rows_without_text_as_the_files_do(tmp_path, hub):
    repos, _ = hub
    rows = hub_rows("en", 0, 4)
    rows[1]["review_title"] = " "
    rows[2]["review_body"] = None
    repos[("someone/marc", None)] = hub_repo(tmp_path / "repo", {"en": {"train": rows}})
    tables, report = download(SOURCE, ["en"])
    assert tables["train"]["review_id"].to_pylist() == ["t-en-0", "t-en-3"]
    assert report["dropped_rows"] == {"empty_review_body": 1, "empty_review_title": 1}


def test_hub_token_is_used_and_never_written(tmp_path, hub, project, monkeypatch, capsys,
                                            caplog):
    """A private mirror: the fetch succeeds only with HF_TOKEN in the environment. The
    download stage runs with it, and its value is in no output file, log line or message."""
    from stages import download as stage

    token = f"hf_{uuid.uuid4().hex}"
    repos, calls = hub
    repos[("someone/private", None)] = hub_repo(tmp_path / "repo", {
        "en": {"train": hub_rows("en", 0, 4), "validation": hub_rows("en", 100, 2)}})
    fetch = datasets.load_dataset

    def private(path, name=None, **kwargs):
        if os.environ.get("HF_TOKEN") != token:
            raise PermissionError(f"401 Client Error: Unauthorized for {path}")
        return fetch(path, name, **kwargs)

    monkeypatch.setattr(datasets, "load_dataset", private)
    set_params(project, download={"source": "hf:someone/private", "languages": ["en"]})
    monkeypatch.chdir(project)
    with pytest.raises(SystemExit):  # without the token, the mirror refuses
        stage.main()
    assert "401 Client Error" in capsys.readouterr().err

    monkeypatch.setenv("HF_TOKEN", token)
    caplog.set_level(logging.DEBUG)  # every log line the stage and the libraries write
    stage.main()
    assert calls[-1] == ("someone/private", "en", None)
    outputs = [path for folder in ("data", "metrics", "plots")
               for path in (project / folder).rglob("*") if path.is_file()]
    assert project / "metrics" / "download.json" in outputs
    assert (project / "data" / "download" / "train.parquet") in outputs
    for path in outputs:
        assert token.encode() not in path.read_bytes(), path
    printed = capsys.readouterr()
    assert token not in printed.out + printed.err + caplog.text
