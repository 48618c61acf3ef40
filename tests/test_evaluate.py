"""Stage evaluate and the shared generation code: order, layout, lengths."""

from __future__ import annotations

import pytest

from stages.evaluate import SPEC, evaluate_model
from stages.lib.data import load_splits
from stages.lib.errors import UserError
from stages.lib.generation import (
    Generated,
    decode,
    encode,
    generate,
    length_batches,
    load_model,
)
from stages.lib.params import validate_section
from stages.lib.rouge import Rouge, sentence_texts
from tests.model_helpers import ROUGE, make_inputs

PARAMS = {"split": "validation", "num_beams": 2, "max_new_tokens": 6, "min_new_tokens": 0,
          "length_penalty": 1.0, "no_repeat_ngram_size": 0, "batch_size": 4, "batch_tokens": 64,
          "cpu_threads": 1}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tokenized, base = make_inputs(tmp_path_factory.mktemp("evaluate"))
    model, tokenizer = load_model(base, device="cpu")
    # An untrained model would stop at once; make it write a few (random) tokens.
    model.generation_config.min_new_tokens = 2
    model.generation_config.suppress_tokens = [tokenizer.pad_token_id, tokenizer.unk_token_id]
    tables = load_splits(tokenized)
    return model, tokenizer, tables


def test_generate_restores_the_input_order(setup):
    model, tokenizer, tables = setup
    ids = tables["validation"]["input_ids"].to_pylist()
    ids = ids + [ids[0][:3] + [tokenizer.eos_token_id]]  # lengths differ: batches get sorted
    batched = generate(model, tokenizer, ids, batch_size=3, num_beams=1, max_new_tokens=6,
                       progress=False)
    one_by_one = [generate(model, tokenizer, [row], batch_size=1, num_beams=1,
                           max_new_tokens=6, progress=False) for row in ids]
    assert batched.summaries == [g.summaries[0] for g in one_by_one]
    assert batched.token_counts == [g.token_counts[0] for g in one_by_one]
    assert len(set(batched.summaries)) > 1  # the test would be vacuous otherwise
    assert all(0 < n <= 6 for n in batched.token_counts)
    # Batches cut by a token budget (several rows for short inputs, one for the
    # longest) give the same summaries, in the input order.
    longest = max(len(row) for row in ids)
    assert len(length_batches([len(row) for row in ids], 8, longest + 1)[0]) == 1
    budget = generate(model, tokenizer, ids, batch_size=8, batch_tokens=longest + 1,
                      num_beams=1, max_new_tokens=6, progress=False)
    assert budget == batched


def test_length_batches_sort_by_length_and_respect_both_limits():
    lengths = [5, 20, 5, 10, 10, 3, 20, 1]
    assert length_batches(lengths, 3) == [[1, 6, 3], [4, 0, 2], [5, 7]]
    # At most 20 padded tokens: 1 row of 20, 2 rows of 10, then 3 rows (batch_size) of 5.
    assert length_batches(lengths, 3, 20) == [[1], [6], [3, 4], [0, 2, 5], [7]]
    # A budget smaller than one input still makes progress, one row at a time.
    assert length_batches([50, 40], 8, 10) == [[0], [1]]
    assert length_batches([], 4, 100) == []


def test_encode_and_decode():
    class Fake:
        pad_token_id = 0

        def batch_decode(self, rows, **kwargs):
            return [" ".join(map(str, r)) + " " for r in rows]

    assert decode(Fake(), [[5, -100], [7, 8]]) == ["5 0", "7 8"]
    assert encode(None, [], 5) == []


def test_evaluate_model_layout_and_order(setup):
    model, tokenizer, tables = setup
    params = validate_section("evaluate", PARAMS, SPEC)
    rouge = Rouge(ROUGE, sentence_texts(tables))
    table = tables["validation"]
    metrics, predictions, speed = evaluate_model(model, tokenizer, table, "validation", params,
                                                 rouge, ["de", "en", "es"])
    assert [p["review_id"] for p in predictions] == table["review_id"].to_pylist()
    assert [p["review_title"] for p in predictions] == table["review_title"].to_pylist()
    assert set(predictions[0]) == {"review_id", "language", "review_body", "review_title",
                                   "summary"}
    assert metrics["split"] == "validation"
    assert metrics["rows"] == {"all": 6, "de": 0, "en": 3, "es": 3}
    assert set(metrics["model"]) == {"all", "en", "es"}
    for group, rows in (("all", 6), ("en", 3), ("es", 3)):
        scores = metrics["model"][group]
        assert scores["rows"] == rows
        for name in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
            assert scores[f"{name}_low"] <= scores[name] <= scores[f"{name}_high"]
        assert scores["summary_tokens"] > 0 and scores["summary_words"] >= 0
    expected_words = sum(len(p["summary"].split()) for p in predictions) / 6
    assert metrics["model"]["all"]["summary_words"] == round(expected_words, 4)
    assert metrics["generation"] == {"num_beams": 2, "max_new_tokens": 6, "min_new_tokens": 0,
                                     "length_penalty": 1.0, "no_repeat_ngram_size": 0}
    assert speed["rows"] == 6 and speed["rows_per_second"] > 0
    # Same summaries as generating directly, in order.
    direct = generate(model, tokenizer, table["input_ids"].to_pylist(), batch_size=1,
                      num_beams=2, max_new_tokens=6, progress=False).summaries
    assert [p["summary"] for p in predictions] == direct


def test_scores_and_lengths_per_language_from_known_summaries(setup, monkeypatch):
    """A stub generator writes hand-made summaries (an untrained model scores 0 everywhere):
    English ones repeat the title, Spanish ones keep its first two words. Each language's
    scores and lengths are those of its own rows, worked out by hand."""
    model, tokenizer, tables = setup
    table = tables["validation"]
    titles = table["review_title"].to_pylist()
    languages = table["language"].to_pylist()
    assert list(zip(languages, titles, strict=True)) == [
        ("en", "too long and boring"), ("es", "largo y aburrido"),
        ("en", "recipes that work"), ("es", "recetas que salen bien"),
        ("en", "slow but great end"), ("es", "lento pero buen final")]
    summaries = [title if language == "en" else " ".join(title.split()[:2])
                 for language, title in zip(languages, titles, strict=True)]
    token_counts = [5, 2, 4, 2, 5, 2]
    calls = []

    def stub_generate(model_, tokenizer_, input_ids, **options):
        calls.append((input_ids, options))
        return Generated(summaries, token_counts)

    monkeypatch.setattr("stages.evaluate.generate", stub_generate)
    params = validate_section("evaluate", PARAMS, SPEC)
    metrics, predictions, _ = evaluate_model(model, tokenizer, table, "validation", params,
                                             Rouge(ROUGE, sentence_texts(tables)))
    assert calls[0][0] == table["input_ids"].to_pylist()
    assert calls[0][1]["num_beams"] == 2 and calls[0][1]["batch_tokens"] == 64
    assert [p["summary"] for p in predictions] == summaries
    scores = metrics["model"]
    # English: every summary is its title.
    for name in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
        assert (scores["en"][name], scores["en"][f"{name}_low"],
                scores["en"][f"{name}_high"]) == (100.0, 100.0, 100.0)
    # Spanish: 2 of 3 title words (R1 and RL F = 0.8; R2: 1 of 2 bigrams, F = 2/3), then 2 of
    # 4 words twice (F = 2/3; R2: 1 of 3 bigrams, F = 0.5).
    es_unigram, es_bigram = (0.8 + 2 / 3 + 2 / 3) / 3, (2 / 3 + 0.5 + 0.5) / 3
    expected = {"rouge1": es_unigram, "rouge2": es_bigram, "rougeL": es_unigram,
                "rougeLsum": es_unigram}
    lowest = {"rouge1": 2 / 3, "rouge2": 0.5, "rougeL": 2 / 3, "rougeLsum": 2 / 3}
    highest = {"rouge1": 0.8, "rouge2": 2 / 3, "rougeL": 0.8, "rougeLsum": 0.8}
    for name, value in expected.items():
        assert scores["es"][name] == round(100 * value, 4)
        assert scores["all"][name] == round(100 * (1 + value) / 2, 4)
        # Bootstrap means of the Spanish rows lie between their lowest and highest row.
        assert (round(100 * lowest[name], 4) <= scores["es"][f"{name}_low"]
                <= scores["es"][name] <= scores["es"][f"{name}_high"]
                <= round(100 * highest[name], 4))
    assert (scores["en"]["rows"], scores["es"]["rows"], scores["all"]["rows"]) == (3, 3, 6)
    lengths = {group: (scores[group]["summary_words"], scores[group]["summary_tokens"],
                       scores[group]["title_words"]) for group in ("all", "en", "es")}
    assert lengths == {"en": (3.6667, 4.6667, 3.6667), "es": (2.0, 2.0, 3.6667),
                       "all": (2.8333, 3.3333, 3.6667)}


def test_evaluate_an_empty_split(setup):
    model, tokenizer, tables = setup
    rouge = Rouge(ROUGE, sentence_texts(tables))
    params = {**PARAMS, "split": "test"}
    with pytest.raises(UserError, match="evaluate.split is 'test'"):
        evaluate_model(model, tokenizer, tables["test"].slice(0, 0), "test", params, rouge)
    with pytest.raises(UserError, match="no rows"):
        evaluate_model(model, tokenizer, None, "test", params, rouge)


def test_load_model_errors(tmp_path):
    with pytest.raises(UserError, match="no config.json"):
        load_model(tmp_path)
