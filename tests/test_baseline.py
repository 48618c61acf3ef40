"""The baseline stage: each extractive baseline, the stage function and its errors."""

from __future__ import annotations

import json

import nltk
import pyarrow as pa
import pytest

from stages.baseline import (
    SPEC,
    baseline,
    lead_sentences,
    lead_words,
    sample_table,
    summarize,
)
from stages.lib.data import MARC_SCHEMA, save_splits
from stages.lib.errors import UserError
from stages.lib.params import validate_section
from stages.lib.rouge import ROUGE_TYPES, Rouge
from tests.conftest import run_stage, set_params

ROUGE = {"tokenizer": "multilingual", "stemmer": False, "bootstrap_samples": 50, "seed": 1}
PARAMS = {"split": "validation", "methods": ["lead3", "lead1", "lead_words"], "lead_words": 3,
          "sample_rows": 2}

EN_BODY = "Great story. The middle part drags a bit. Still worth it. The end is sad."
ES_BODY = "Una historia preciosa. Los personajes son reales. La recomiendo. Fin triste."


@pytest.fixture(autouse=True)
def no_nltk_data(monkeypatch, tmp_path):
    """As offline machines: no punkt_tab installed, whatever this machine has."""
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nltk_data")])


def table(rows: list[tuple[str, str, str]]) -> pa.Table:
    """Made-up rows of (language, body, title) in MARC's schema."""
    return pa.Table.from_pylist([
        {"review_id": f"t-{lang}-{i}", "product_id": f"tp-{i}", "reviewer_id": f"tr-{i}",
         "stars": 5, "review_body": body, "review_title": title, "language": lang,
         "product_category": "book"} for i, (lang, body, title) in enumerate(rows)],
        schema=MARC_SCHEMA)


def splits(validation: list[tuple[str, str, str]]) -> dict[str, pa.Table]:
    train = [("en", f"Review {i} of a novel. It was good. Read it.", "a good novel")
             for i in range(10)]
    train += [("es", f"Reseña {i} de una novela. Me gustó. Léela.", "una buena novela")
              for i in range(10)]
    return {"train": table(train), "validation": table(validation), "test": table([])}


def test_lead_helpers():
    sentences = ["One.", "Two.", "Three.", "Four."]
    assert lead_sentences(sentences, 3) == "One.\nTwo.\nThree."
    assert lead_sentences(sentences, 1) == "One."
    assert lead_sentences([], 3) == ""
    assert lead_words("  a  b\nc d e ", 3) == "a b c"
    assert lead_words("short", 12) == "short"


def test_each_baseline_summarizes_a_review():
    rouge = Rouge(ROUGE, {})
    assert summarize("lead3", EN_BODY, "en", rouge, 12) == (
        "Great story.\nThe middle part drags a bit.\nStill worth it.")
    assert summarize("lead1", ES_BODY, "es", rouge, 12) == "Una historia preciosa."
    assert summarize("lead_words", ES_BODY, "es", rouge, 4) == "Una historia preciosa. Los"
    with pytest.raises(ValueError, match="unknown baseline method"):
        summarize("lead4", EN_BODY, "en", rouge, 12)


def test_baseline_scores_and_reports_per_language():
    validation = [("en", EN_BODY, "Great story"), ("es", ES_BODY, "Una historia preciosa"),
                  ("en", "Not for me. Too long.", "Too long and dull")]
    metrics, samples = baseline(splits(validation), PARAMS, ROUGE)
    assert metrics["split"] == "validation"
    assert metrics["rows"] == {"all": 3, "en": 2, "es": 1}
    assert list(metrics)[2:5] == ["lead3", "lead1", "lead_words"]
    # lead1 of the Spanish row is its title plus a period: every ROUGE is 100.
    for rouge_type in ROUGE_TYPES:
        assert metrics["lead1"]["es"][rouge_type] == 100.0
    # lead1 "Great story." = 100; "Not for me." vs "Too long and dull" = 0.
    assert metrics["lead1"]["en"]["rouge1"] == 50.0
    # lead3: 11 words holding both of "great story" -> P 2/11, R 1 -> 4/13; and
    # "not for me too long" vs "too long and dull": 2 common, P 2/5, R 2/4 -> 4/9.
    assert metrics["lead3"]["en"]["rows"] == 2
    assert metrics["lead3"]["en"]["rouge1"] == round(100 * (4 / 13 + 4 / 9) / 2, 4)
    assert metrics["lead_words"]["all"]["rows"] == 3
    assert {"rouge1_low", "rouge1_high"} <= set(metrics["lead3"]["all"])
    assert metrics["sentence_splitter"] == {"en": {"source": "trained", "texts": 10},
                                            "es": {"source": "trained", "texts": 10}}
    assert metrics["rouge"] == ROUGE
    json.dumps(metrics, allow_nan=False)
    # The sample table: 2 rows, summaries on one line each.
    lines = samples.splitlines()
    assert lines[2] == "| # | language | review | title | lead3 | lead1 | lead_words |"
    assert len([line for line in lines if line.startswith("| ")]) == 3
    assert "Great story.<br>The middle part drags a bit.<br>Still worth it." in lines[4]


def test_baseline_is_deterministic():
    validation = [("en", EN_BODY, "Great story"), ("es", ES_BODY, "Una historia preciosa")]
    assert baseline(splits(validation), PARAMS, ROUGE) == baseline(splits(validation),
                                                                   PARAMS, ROUGE)


def test_baseline_reports_a_missing_language_as_zero_rows():
    metrics, _ = baseline(splits([("en", EN_BODY, "Great story")]), PARAMS, ROUGE)
    assert metrics["rows"] == {"all": 1, "en": 1, "es": 0}
    assert list(metrics["lead3"]) == ["all", "en"]


def test_baseline_empty_split_is_a_user_error():
    with pytest.raises(UserError, match=r"baseline.split is 'test'.*test: 0"):
        baseline(splits([("en", EN_BODY, "Great story")]), {**PARAMS, "split": "test"}, ROUGE)


def test_sample_table_escapes_markdown_and_html():
    text = sample_table("validation", ["a | b <br /> " + "x" * 400], ["t|t"], ["en"],
                        {"lead1": ["one\ntwo"]})
    row = text.splitlines()[-1]
    assert "a \\| b &lt;br /&gt;" in row and "t\\|t" in row and "one<br>two" in row
    assert "x" * 280 in row and "x" * 400 not in row and "…" in row


@pytest.mark.parametrize(("bad", "fragment"), [
    ({"split": "dev"}, "baseline.split must be one of 'train', 'validation', 'test'"),
    ({"methods": ["lead4"]}, "baseline.methods must be a non-empty list whose items"),
    ({"methods": []}, "baseline.methods must be a non-empty list"),
    ({"lead_words": 0}, "baseline.lead_words must be a positive integer"),
    ({"sample_rows": -1}, "baseline.sample_rows must be an integer >= 0"),
    ({"sample": 3}, "unknown key baseline.sample"),
])
def test_bad_baseline_params(bad, fragment):
    with pytest.raises(UserError, match=fragment):
        validate_section("baseline", {**PARAMS, **bad}, SPEC)


def test_stage_runs_as_a_command(project):
    validation = [("en", EN_BODY, "Great story"), ("es", ES_BODY, "Una historia preciosa")]
    save_splits(splits(validation), project / "data" / "drop_short_titles")
    set_params(project, rouge={"bootstrap_samples": 20})
    result = run_stage(project, "baseline")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((project / "metrics" / "baseline.json").read_text())
    assert metrics["lead1"]["es"]["rouge1"] == 100.0
    assert metrics["rows"] == {"all": 2, "en": 1, "es": 1}
    assert (project / "data" / "baseline" / "samples.md").read_text().count("\n| ") == 3

    set_params(project, baseline={"split": "test"})
    result = run_stage(project, "baseline")
    assert result.returncode == 2
    assert "error: params.yaml: baseline.split is 'test'" in result.stderr
    assert "Traceback" not in result.stderr
