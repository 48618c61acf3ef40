"""The MARC reader against a plain reference reader (the json module, line by line): its
fast parse (DuckDB) and its line-by-line parse give the reference's rows on the bundled
sample and on files with blank lines, CRLF, a BOM, gzip, Unicode, repeats and odd values."""

from __future__ import annotations

import codecs
import gzip
import json
from pathlib import Path

import pytest

from stages.lib import marc
from stages.lib.data import MARC_COLUMNS
from stages.lib.marc import read_marc_file
from tests.conftest import ROOT, review


def reference_read(path: Path, language: str) -> tuple[list[dict], list[str], dict[str, int]]:
    """What a MARC file holds, read plainly: the reviews kept (a null, missing or blank body
    or title drops one), every review's id and the drop counts. For valid files only."""
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    lines = data.removeprefix(codecs.BOM_UTF8).decode("utf-8").split("\n")
    reviews = [json.loads(line) for line in lines if line.strip()]
    kept, dropped = [], {"empty_review_body": 0, "empty_review_title": 0}
    for item in reviews:
        assert item["language"] == language
        blank = [name for name in ("review_body", "review_title")
                 if not (item.get(name) or "").strip()]
        for name in blank:
            dropped[f"empty_{name}"] += 1
        if not blank:
            kept.append({**{name: item[name] for name in MARC_COLUMNS},
                         "stars": int(str(item["stars"]).strip())})
    return kept, [item["review_id"] for item in reviews], dropped


def assert_reads_as_reference(path: Path, language: str) -> None:
    table, ids, dropped = read_marc_file(path, language)
    expected_rows, expected_ids, expected_dropped = reference_read(path, language)
    assert table.to_pylist() == expected_rows
    assert ids.to_pylist() == expected_ids
    assert dropped == expected_dropped


@pytest.fixture(params=["fast", "lines"])
def parse(request, monkeypatch):
    """Which parse :func:`read_marc_file` uses: DuckDB's, or the line by line one."""
    if request.param == "lines":
        monkeypatch.setattr(marc, "_parse_fast", lambda path: None)
    return request.param


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "data/sample").glob("*.json")))
def test_the_sample_reads_as_the_reference(parse, name):
    path = ROOT / "data" / "sample" / name
    if parse == "fast":
        assert marc._parse_fast(path) is not None
    assert_reads_as_reference(path, name.split("_")[1])


def lines_of(reviews: list[dict]) -> list[str]:
    return [json.dumps(r, ensure_ascii=False) for r in reviews]


def reviews_with_odd_text() -> list[dict]:
    rows = [review("es", i) for i in range(12)]
    rows[0].update(review_body="¡Qué libro! 📚 שלום مرحبا 日本語 e\u0301",
                   review_title="Muy \"bueno\"")
    rows[1].update(review_body="line one\nline two\ttab \\ backslash", stars=5)
    rows[2].update(review_title=" \u3000\u00a0\t")   # blank: Unicode spaces
    rows[3].update(review_title=None)
    del rows[4]["review_body"]
    rows[5].update(review_body="[Spoiler] it ends well", review_title="5")
    rows[6].update(stars=" 3 ")
    rows[7] = dict(rows[1])                           # a repeated review
    rows[8].update(review_title="\u2003x")            # not blank
    return rows


EDGE_CASES = {
    "blank lines": lambda: "\n".join(["", *lines_of(reviews_with_odd_text())[:6], "", "  \t",
                                      *lines_of(reviews_with_odd_text())[6:]]) + "\n",
    "crlf": lambda: "\r\n".join(lines_of(reviews_with_odd_text())) + "\r\n",
    "bom": lambda: "\ufeff" + "\n".join(lines_of(reviews_with_odd_text())) + "\n",
    "no final newline": lambda: "\n".join(lines_of(reviews_with_odd_text())),
    "ascii escapes": lambda: "\n".join(json.dumps(r) for r in reviews_with_odd_text()) + "\n",
    "extra field": lambda: "\n".join(lines_of([{**review("es", 99), "helpful_votes": 3},
                                               *reviews_with_odd_text()])) + "\n",
}


@pytest.mark.parametrize("gz", [False, True], ids=["json", "gz"])
@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases_read_as_the_reference(tmp_path, parse, case, gz):
    data = EDGE_CASES[case]().encode("utf-8")
    path = tmp_path / ("dataset_es_train.json" + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    if parse == "fast":
        assert marc._parse_fast(path) is not None
    assert_reads_as_reference(path, "es")


def test_text_that_may_be_a_json_number_takes_the_line_by_line_parse(tmp_path):
    # DuckDB writes a number as text: a body "5" may have been 5, so the file is read line
    # by line (which tells the two apart) and still gives the reference's rows.
    rows = [review("en", i) for i in range(4)]
    rows[1].update(review_body="5")
    rows[2].update(product_category="true", review_id="123")
    rows[3].update(review_body="[1, 2]")
    path = tmp_path / "dataset_en_train.json"
    path.write_text("\n".join(lines_of(rows)) + "\n", encoding="utf-8")
    assert marc._parse_fast(path) is None
    assert_reads_as_reference(path, "en")
