"""The shared ROUGE module and the sentence splitter, with hand-computed known answers."""

from __future__ import annotations

import nltk
import numpy as np
import pyarrow as pa
import pytest
from rouge_score import rouge_scorer

from stages.lib.data import MARC_SCHEMA
from stages.lib.errors import UserError
from stages.lib.rouge import (
    ROUGE_SPEC,
    ROUGE_TYPES,
    AsciiTokenizer,
    MultilingualTokenizer,
    Rouge,
    load_rouge_params,
)
from stages.lib.sentences import SentenceSplitter, sentence_texts, train_punkt

# Made-up reviews: Punkt learns from them that "Dr." is an abbreviation.
EN_TEXTS = [f"I met Dr. Lopez at clinic number {i}. She was kind. Dr. Lopez liked the book."
            for i in range(30)] + [f"This is review {i}. It was fine. I liked it a lot."
                                   for i in range(30)]
ES_TEXTS = [f"La reseña {i} habla del Sr. García. Me gustó mucho. Lo recomiendo."
            for i in range(30)]


def params(**overrides) -> dict:
    return {"tokenizer": "multilingual", "stemmer": False, "bootstrap_samples": 200,
            "seed": 42, **overrides}


@pytest.fixture(autouse=True)
def no_nltk_data(monkeypatch, tmp_path):
    """As offline machines: no punkt_tab installed, whatever this machine has."""
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nltk_data")])


def one(rouge: Rouge, prediction: str, reference: str, language: str) -> dict:
    result = rouge.score([prediction], [reference], [language], bootstrap=False)
    assert result["all"] == result[language]
    return {k: v for k, v in result["all"].items() if k != "rows"}


# --- known answers, worked out by hand -------------------------------------------------

def test_known_answer_english_one_sentence():
    # the cat sat on the mat / the cat lay on the mat: 5 of 6 unigrams, 3 of 5 bigrams,
    # LCS "the cat on the mat" = 5.
    got = one(Rouge(params(), {}), "the cat lay on the mat", "the cat sat on the mat", "en")
    assert got == {"rouge1": 83.3333, "rouge2": 60.0, "rougeL": 83.3333, "rougeLsum": 83.3333}


def test_known_answer_english_sentences_swapped():
    # Same 6 unigrams; bigrams: 4 of 5 (not "sat the" / "ran the"); LCS over the whole
    # text = 3 ("the cat sat"); summary-level LCS: each sentence matches one whole = 6.
    rouge = Rouge(params(), {"en": EN_TEXTS})
    got = one(rouge, "The dog ran. The cat sat.", "The cat sat. The dog ran.", "en")
    assert got == {"rouge1": 100.0, "rouge2": 80.0, "rougeL": 50.0, "rougeLsum": 100.0}


def test_known_answer_spanish_multilingual_keeps_accented_words():
    # muy fácil de leer / un libro fácil de leer: 3 common words, P 3/5, R 3/4 -> 2/3;
    # bigrams "fácil de", "de leer": P 2/4, R 2/3 -> 4/7.
    got = one(Rouge(params(), {}), "Un libro fácil de leer", "Muy fácil de leer", "es")
    assert got == {"rouge1": 66.6667, "rouge2": 57.1429, "rougeL": 66.6667,
                   "rougeLsum": 66.6667}


def test_known_answer_spanish_ascii_splits_accented_words():
    # ascii: "fácil" -> "f", "cil": muy f cil de leer / un libro f cil de leer:
    # 4 common of 6 and 5 -> 8/11; bigrams "f cil", "cil de", "de leer" of 5 and 4 -> 2/3.
    got = one(Rouge(params(tokenizer="ascii"), {}), "Un libro fácil de leer",
              "Muy fácil de leer", "es")
    assert got == {"rouge1": 72.7273, "rouge2": 66.6667, "rougeL": 72.7273,
                   "rougeLsum": 72.7273}


def test_known_answer_spanish_snowball_stemmer():
    # Spanish Snowball: libros, libro -> libr; fáciles, fácil -> facil.
    pair = ("libro fácil", "Libros fáciles", "es")
    assert one(Rouge(params(stemmer=True), {}), *pair) == dict.fromkeys(ROUGE_TYPES, 100.0)
    assert one(Rouge(params(stemmer=False), {}), *pair) == dict.fromkeys(ROUGE_TYPES, 0.0)


def test_known_answer_english_snowball_stemmer():
    # running dogs -> [run, dog]; the dog runs -> [the, dog, run] ("dog" is too short to
    # stem): unigrams P 2/3, R 1 -> 0.8; no common bigram; LCS 1 -> P 1/3, R 1/2 -> 0.4.
    got = one(Rouge(params(stemmer=True), {}), "the dog runs", "running dogs", "en")
    assert got == {"rouge1": 80.0, "rouge2": 0.0, "rougeL": 40.0, "rougeLsum": 40.0}


def test_identical_spanish_strings_score_100():
    text = "¡Qué novela tan emocionante! Los niños también la disfrutarán."
    for tokenizer in ("multilingual", "ascii"):
        for stemmer in (False, True):
            rouge = Rouge(params(tokenizer=tokenizer, stemmer=stemmer), {"es": ES_TEXTS})
            assert one(rouge, text, text, "es") == dict.fromkeys(ROUGE_TYPES, 100.0)


def test_empty_prediction_scores_zero():
    got = one(Rouge(params(), {}), "", "Un buen libro", "es")
    assert got == dict.fromkeys(ROUGE_TYPES, 0.0)


# --- tokenizers ------------------------------------------------------------------------

def test_multilingual_tokenizer_keeps_accents_and_normalizes():
    tokenizer = MultilingualTokenizer("es", use_stemmer=False)
    assert tokenizer.tokenize("¡Qué fácil! Niño, ¿sí? 2º_x") == ["qué", "fácil", "niño", "sí",
                                                                   "2º", "x"]
    # A decomposed accent (a + U+0301) is the same word as the composed one.
    assert tokenizer.tokenize("fa\u0301cil") == ["fácil"]
    assert AsciiTokenizer().tokenize("¡Qué fácil!") == ["qu", "f", "cil"]


def test_unknown_language_is_not_stemmed():
    assert MultilingualTokenizer("xx", use_stemmer=True).tokenize("Libros") == ["libros"]
    assert MultilingualTokenizer("es", use_stemmer=True).tokenize("Libros") == ["libr"]


PAIRS = [
    ("The quick brown fox jumps over the lazy dog.", "A quick brown dog jumps on the log."),
    ("Running runners ran. They were running!", "The runner runs; it's 3 o'clock."),
    ("Una novela fácil de leer. Muy recomendable.", "Fácil, rápida y muy recomendable."),
    ("", "Nothing predicted"),
]


@pytest.mark.parametrize("stemmer", [False, True])
def test_ascii_mode_agrees_with_plain_rouge_score(stemmer):
    rouge = Rouge(params(tokenizer="ascii", stemmer=stemmer), {"en": EN_TEXTS, "es": ES_TEXTS})
    plain = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=stemmer)
    languages = ["en", "en", "es", "en"]
    predictions, references = [p for _, p in PAIRS], [r for r, _ in PAIRS]
    rows = rouge.row_scores(predictions, references, languages)
    means = dict.fromkeys(ROUGE_TYPES, 0.0)
    for row, (reference, prediction), language in zip(rows, PAIRS, languages, strict=True):
        expected = plain.score(reference, prediction)
        lines = plain.score("\n".join(rouge.sentences(reference, language)),
                            "\n".join(rouge.sentences(prediction, language)))
        for rouge_type in ("rouge1", "rouge2", "rougeL"):
            assert row[rouge_type] == expected[rouge_type]
        assert row["rougeLsum"] == lines["rougeLsum"]
        for rouge_type in ROUGE_TYPES:
            means[rouge_type] += row[rouge_type].fmeasure / len(PAIRS)
    result = rouge.score(predictions, references, languages, bootstrap=False)["all"]
    for rouge_type in ROUGE_TYPES:
        assert result[rouge_type] == pytest.approx(100 * means[rouge_type], abs=1e-4)


# --- aggregation and bootstrap ---------------------------------------------------------

PREDICTIONS = ["un libro fácil", "the cat sat", "great story", "muy bueno", "a fine book",
               "me encantó", "not for me", "lo recomiendo"]
REFERENCES = ["un libro muy fácil", "the cat sat down", "a great story indeed", "bueno",
              "fine", "me encantó mucho", "boring", "no lo recomiendo"]
LANGUAGES = ["es", "en", "en", "es", "en", "es", "en", "es"]


def test_score_layout_and_groups():
    result = Rouge(params(), {}).score(PREDICTIONS, REFERENCES, LANGUAGES)
    assert list(result) == ["all", "en", "es"]
    assert [result[g]["rows"] for g in result] == [8, 4, 4]
    expected_keys = [k for t in ROUGE_TYPES for k in (t, f"{t}_low", f"{t}_high")] + ["rows"]
    assert list(result["all"]) == expected_keys
    for group in result.values():
        for rouge_type in ROUGE_TYPES:
            assert group[f"{rouge_type}_low"] <= group[rouge_type] <= group[f"{rouge_type}_high"]
            assert round(group[rouge_type], 4) == group[rouge_type]
    # The overall mean is the row-weighted mean of the languages' means.
    assert result["all"]["rouge1"] == pytest.approx(
        (result["en"]["rouge1"] + result["es"]["rouge1"]) / 2, abs=1e-3)
    no_bounds = Rouge(params(), {}).score(PREDICTIONS, REFERENCES, LANGUAGES, bootstrap=False)
    assert list(no_bounds["all"]) == [*ROUGE_TYPES, "rows"]
    assert no_bounds["es"]["rouge1"] == result["es"]["rouge1"]


def test_bootstrap_is_deterministic_isolated_and_order_independent():
    mixed = Rouge(params(), {}).score(PREDICTIONS, REFERENCES, LANGUAGES)
    np.random.seed(123)
    expected_draw = np.random.rand()
    np.random.seed(123)
    again = Rouge(params(), {}).score(PREDICTIONS, REFERENCES, LANGUAGES)
    assert np.random.rand() == expected_draw  # numpy's global RNG left as it was
    assert again == mixed
    # A language's bounds depend on its rows only, not on what was scored before.
    es = [i for i, lang in enumerate(LANGUAGES) if lang == "es"]
    rouge = Rouge(params(), {})
    rouge.score(PREDICTIONS[::-1], REFERENCES[::-1], LANGUAGES[::-1])
    alone = rouge.score([PREDICTIONS[i] for i in es], [REFERENCES[i] for i in es],
                        ["es"] * len(es))
    assert alone["es"] == mixed["es"]
    other_seed = Rouge(params(seed=7), {}).score(PREDICTIONS, REFERENCES, LANGUAGES)
    assert other_seed["all"]["rouge1"] == mixed["all"]["rouge1"]
    assert other_seed["all"] != mixed["all"]


def test_score_rejects_mismatched_or_empty_input():
    rouge = Rouge(params(), {})
    with pytest.raises(ValueError, match="must match"):
        rouge.score(["a"], ["a", "b"], ["en"])
    with pytest.raises(ValueError, match="no rows"):
        rouge.score([], [], [])


# --- params ----------------------------------------------------------------------------

@pytest.mark.parametrize(("bad", "fragment"), [
    ({"tokenizer": "latin1"}, "rouge.tokenizer must be one of 'multilingual', 'ascii'"),
    ({"stemmer": "yes"}, "rouge.stemmer must be true or false"),
    ({"bootstrap_samples": 0}, "rouge.bootstrap_samples must be a positive integer"),
    ({"seed": -1}, "rouge.seed must be an integer from 0"),
    ({"stemer": True}, "unknown key rouge.stemer"),
])
def test_bad_rouge_params(bad, fragment):
    with pytest.raises(UserError, match=fragment):
        Rouge(params(**bad), {})


def test_load_rouge_params_reads_params_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("rouge:\n  tokenizer: ascii\n  stemmer: false\n"
                    "  bootstrap_samples: 10\n  seed: 3\n")
    assert load_rouge_params(path) == {"tokenizer": "ascii", "stemmer": False,
                                       "bootstrap_samples": 10, "seed": 3}
    assert list(ROUGE_SPEC) == ["tokenizer", "stemmer", "bootstrap_samples", "seed"]
    path.write_text("rouge:\n  tokenizer: ascii\n")
    with pytest.raises(UserError, match="missing key rouge.stemmer"):
        load_rouge_params(path)


def test_project_params_have_a_valid_rouge_section():
    assert load_rouge_params()["tokenizer"] == "multilingual"


# --- sentence splitting ----------------------------------------------------------------

TEXT = "Yesterday I read a letter from Dr. Lopez about the book. It was long."


def test_punkt_fallback_trains_offline_on_given_texts():
    splitter = SentenceSplitter({"en": EN_TEXTS})
    # Trained Punkt has learnt "Dr." from the texts; an untrained one splits after it.
    assert splitter.split(TEXT, "en") == [
        "Yesterday I read a letter from Dr. Lopez about the book.", "It was long."]
    assert splitter.provenance == {"en": {"source": "trained", "texts": 60}}
    untrained = SentenceSplitter({})
    assert untrained.split(TEXT, "en")[0] == "Yesterday I read a letter from Dr."
    assert untrained.provenance == {"en": {"source": "untrained", "texts": 0}}


def test_punkt_training_is_deterministic():
    first, second = train_punkt(EN_TEXTS)._params, train_punkt(EN_TEXTS)._params
    assert "dr" in first.abbrev_types
    for name in ("abbrev_types", "collocations", "sent_starters", "ortho_context"):
        assert getattr(first, name) == getattr(second, name)


def test_installed_punkt_tab_model_is_preferred(tmp_path, monkeypatch):
    # A tiny punkt_tab model that knows the abbreviation "dr", where nltk looks for it.
    model = tmp_path / "data" / "tokenizers" / "punkt_tab" / "english"
    model.mkdir(parents=True)
    for name, content in (("collocations.tab", ""), ("sent_starters.txt", ""),
                          ("abbrev_types.txt", "dr\n"), ("ortho_context.tab", "")):
        (model / name).write_text(content)
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "data")])
    splitter = SentenceSplitter({"en": ["Texts that must not be used."]})
    assert splitter.split(TEXT, "en")[0].endswith("Dr. Lopez about the book.")
    assert splitter.provenance == {"en": {"source": "punkt_tab", "texts": 0}}


def marc_table(rows: list[tuple[str, str]]) -> pa.Table:
    """Rows of (language, body) in MARC's schema, made up here."""
    return pa.Table.from_pylist([
        {"review_id": f"t-{lang}-{i}", "product_id": f"tp-{i}", "reviewer_id": f"tr-{i}",
         "stars": 4, "review_body": body, "review_title": "a title here", "language": lang,
         "product_category": "book"} for i, (lang, body) in enumerate(rows)], schema=MARC_SCHEMA)


def test_sentence_texts_prefers_train_then_other_splits():
    tables = {"train": marc_table([("en", "train en 1"), ("en", "train en 2")]),
              "validation": marc_table([("en", "val en"), ("es", "val es")]),
              "test": marc_table([("es", "test es")])}
    assert sentence_texts(tables) == {"en": ["train en 1", "train en 2"],
                                      "es": ["val es", "test es"]}
    assert sentence_texts({"train": marc_table([])}) == {}


def test_rouge_reports_splitter_and_splits_per_language():
    rouge = Rouge(params(), {"en": EN_TEXTS, "es": ES_TEXTS})
    assert rouge.sentence_splitters == {}
    assert rouge.sentences("Vi al Sr. García ayer. Me gustó.", "es") == [
        "Vi al Sr. García ayer.", "Me gustó."]
    assert rouge.sentence_splitters == {"es": {"source": "trained", "texts": 30}}
