"""The data stages and the lead-3 baseline on the real MARC files, where they are.

MARC is licensed for research only, so its files never enter the repository: these tests
read them from ``../shared/marc`` (next to the project) and are skipped, saying so, on a
machine without them. Only counts and scores appear here, from that folder's README and
the course.
"""

from __future__ import annotations

import pytest
import yaml

from stages.baseline import baseline
from stages.concat_shuffle import concat_shuffle
from stages.download import download
from stages.drop_short_titles import drop_short_titles
from stages.filter_books import filter_books
from stages.lib.data import rows_by_language
from tests.conftest import ROOT

MARC = ROOT.parent / "shared" / "marc"
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())

pytestmark = pytest.mark.skipif(
    not (MARC / "dataset_en_dev.json.gz").is_file(),
    reason=f"the real MARC files are not here ({MARC}, i.e. ../shared/marc from the project): "
           "the tests on real data did not run")


@pytest.fixture(scope="module")
def stages_output():
    """download → filter_books → concat_shuffle → drop_short_titles with the default params."""
    tables, report = download(str(MARC), ["en", "es"])
    books = PARAMS["filter_books"]
    kept = filter_books(tables, books["categories"], books["others_categories"],
                        books["others_splits"])
    shuffled = concat_shuffle(kept, PARAMS["concat_shuffle"]["seed"])
    return report, kept, drop_short_titles(shuffled, PARAMS["drop_short_titles"]["min_words"])


def test_real_files_give_the_courses_validation_set(stages_output):
    report, kept, titled = stages_output
    # The folder's README: English train (partial, 24 categories), both dev files; no
    # Spanish train file, no test files. Every row has a body and a title.
    assert report["rows"]["train"] == {"en": 103_032, "all": 103_032}
    assert report["rows"]["validation"] == {"en": 5_000, "es": 5_000, "all": 10_000}
    assert report["missing_splits"] == ["en/test", "es/train", "es/test"]
    assert report["dropped_rows"] == {"empty_review_body": 0, "empty_review_title": 0}
    assert report["duplicate_review_ids"] == 0
    # Books: every book and digital_ebook_purchase row of English train (3,756 + 6,749);
    # the course's validation set, 424 rows, 238 with titles of 3 words or more.
    assert rows_by_language(kept)["train"] == {"en": 10_505, "all": 10_505}
    assert rows_by_language(kept)["validation"]["all"] == 424
    counts = rows_by_language(titled)
    assert counts["validation"] == {"en": 135, "es": 103, "all": 238}
    # The dev files' other categories are the only Spanish pairs (README: 2,496 titled).
    assert counts["others"]["es"] == 2_496


def test_lead3_on_real_files_scores_what_the_course_prints(stages_output):
    *_, titled = stages_output
    # The course's ROUGE: rouge_score's ascii tokenizer, no stemmer.
    metrics, _ = baseline(titled, {**PARAMS["baseline"], "methods": ["lead3"]},
                          {"tokenizer": "ascii", "stemmer": False, "bootstrap_samples": 10,
                           "seed": 42})
    lead3 = metrics["lead3"]["all"]
    assert lead3["rows"] == 238
    course = {"rouge1": 16.74, "rouge2": 8.83, "rougeL": 15.6, "rougeLsum": 15.96}
    # Which sentences lead-3 takes depends on the sentence splitter (the course used nltk's
    # Punkt model; here Punkt trained on the data or installed): a tenth at most.
    assert {name: lead3[name] for name in course} == pytest.approx(course, abs=0.15)
