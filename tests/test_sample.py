"""The bundled sample in data/sample: MARC's format, the promised sizes, reproducible."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
SIZES = {"train": 1500, "dev": 120, "test": 120}
FIELDS = ["review_id", "product_id", "reviewer_id", "stars", "review_body", "review_title",
          "language", "product_category"]
BOOKS = {"book", "digital_ebook_purchase"}
MARC_ID = re.compile(r'"(review_id|reviewer_id|product_id)": ?"(en|es|de|fr|ja|zh)_')
MARC_PRODUCT = re.compile(r"product_(en|es)_[0-9]{7}")


def read(lang: str, split: str) -> list[dict]:
    path = SAMPLE / f"dataset_{lang}_{split}.json"
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def rows() -> dict[tuple[str, str], list[dict]]:
    return {(lang, split): read(lang, split) for lang in ("en", "es") for split in SIZES}


def test_files_are_plain_utf8_json_lines_with_marc_fields(rows):
    for (lang, split), table in rows.items():
        raw = (SAMPLE / f"dataset_{lang}_{split}.json").read_bytes()
        assert not raw.startswith(b"\x1f\x8b"), "must not be gzipped"
        text = raw.decode("utf-8")
        assert text.endswith("\n") and "\n\n" not in text
        assert len(text.splitlines()) == len(table) == SIZES[split], (lang, split)
        for row in table:
            assert list(row) == FIELDS
            assert all(isinstance(row[field], str) and row[field] for field in FIELDS)
            assert row["language"] == lang
            assert row["stars"] in {"1", "2", "3", "4", "5"}


def test_sample_size_on_disk():
    total = sum(path.stat().st_size for path in SAMPLE.glob("dataset_*.json"))
    assert total < 1_500_000


def test_every_star_rating_and_enough_categories(rows):
    for lang in ("en", "es"):
        table = [row for split in SIZES for row in rows[(lang, split)]]
        assert len(table) >= 200
        stars = Counter(row["stars"] for row in table)
        assert set(stars) == {"1", "2", "3", "4", "5"}
        assert min(stars.values()) >= len(table) // 10
        categories = Counter(row["product_category"] for row in table)
        assert len(categories) >= 6 and BOOKS <= set(categories)
        book_share = sum(categories[c] for c in BOOKS) / len(table)
        assert 0.35 <= book_share <= 0.55, book_share


def test_titles_have_one_to_twelve_words_and_many_are_short(rows):
    for lang in ("en", "es"):
        titles = [row["review_title"] for split in SIZES for row in rows[(lang, split)]]
        counts = [len(title.split()) for title in titles]
        assert min(counts) >= 1 and max(counts) <= 12
        short = sum(count <= 2 for count in counts) / len(counts)
        assert 0.30 <= short <= 0.45, (lang, short)
        assert len(set(titles)) >= len(titles) // 3, "titles should vary"


def test_enough_book_rows_survive_the_short_title_filter(rows):
    for lang in ("en", "es"):
        kept = [row for row in rows[(lang, "train")]
                if row["product_category"] in BOOKS and len(row["review_title"].split()) >= 3]
        assert len(kept) >= 100, (lang, len(kept))


def test_bodies_are_split_into_sentences(rows):
    for table in rows.values():
        for row in table:
            body = row["review_body"]
            assert body[-1] in ".!?", body
            sentences = re.findall(r"[^.!?]+[.!?]+", body)
            assert 1 <= len(sentences) <= 7, body


def test_spanish_is_spanish(rows):
    text = " ".join(row["review_body"] + " " + row["review_title"]
                    for split in SIZES for row in rows[("es", split)])
    for char in "áéíóúñ¿¡":
        assert char in text, char
    english = " ".join(row["review_body"] for split in SIZES for row in rows[("en", split)])
    assert not re.search(r"[áéíóúñ]", english)


def test_ids_are_unique_and_not_marc_like(rows):
    review_ids = [row["review_id"] for table in rows.values() for row in table]
    assert len(review_ids) == len(set(review_ids))
    for (lang, split), table in rows.items():
        for row in table:
            assert re.fullmatch(rf"sample-{lang}-{split}-\d{{4}}", row["review_id"])
            assert re.fullmatch(rf"sample-product-{lang}-\d{{4}}", row["product_id"])
            assert re.fullmatch(rf"sample-reviewer-{lang}-\d{{4}}", row["reviewer_id"])
    for path in SAMPLE.glob("dataset_*.json"):
        text = path.read_text(encoding="utf-8")
        assert not MARC_ID.search(text) and not MARC_PRODUCT.search(text), path.name


def test_generator_reproduces_the_files_byte_for_byte():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_sample.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_check_notices_a_changed_file(tmp_path):
    for path in SAMPLE.glob("dataset_*.json"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    changed = tmp_path / "dataset_es_dev.json"
    changed.write_bytes(changed.read_bytes().replace(b'"stars": "1"', b'"stars": "2"', 1))
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_sample.py"), "--check",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "dataset_es_dev.json" in done.stderr and "dataset_en_dev.json" not in done.stderr
