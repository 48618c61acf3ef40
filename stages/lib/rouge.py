"""ROUGE for English and Spanish summaries, the one module every scoring stage uses.

Built on ``rouge_score`` (its ``RougeScorer`` for per-row scores, its
``BootstrapAggregator`` for confidence bounds), with a tokenizer that works for
Spanish: ``rouge_score``'s default keeps only ``[a-z0-9]``, so "fácil" becomes
the two tokens "f" and "cil", and stems every language with English Porter.

``rouge.tokenizer`` in params.yaml picks the tokenizer:

- ``multilingual``: Unicode words (letters and digits of any script), NFC-normalised
  and lowercased, stemmed with nltk's Snowball stemmer of the row's language when
  ``rouge.stemmer`` is true (no nltk data needed);
- ``ascii``: ``rouge_score``'s own tokenizer and Porter stemmer, i.e. what the
  Hugging Face course (``evaluate.load("rouge")``) computed.

ROUGE-Lsum needs one sentence per line, so predictions and references are split
into sentences with Punkt (``stages/lib/sentences.py``) and joined with newlines,
as the course does with ``nltk.sent_tokenize``; this changes no token, so it
leaves ROUGE-1/2/L as they are.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from nltk.stem.porter import PorterStemmer
from nltk.stem.snowball import SnowballStemmer
from rouge_score import rouge_scorer, scoring, tokenizers
from rouge_score import tokenize as rouge_tokenize
from tqdm import tqdm

from stages.lib.params import (
    PARAMS_FILE,
    Field,
    boolean,
    choice,
    integer,
    load_params,
    seed,
    validate_section,
)
from stages.lib.sentences import LANGUAGE_NAMES, SentenceSplitter, sentence_texts

__all__ = ["DECIMALS", "ROUGE_SPEC", "ROUGE_TYPES", "AsciiTokenizer", "MultilingualTokenizer",
           "Rouge", "load_rouge_params", "sentence_texts"]

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")

#: Scores are F-measures x 100 rounded to this many decimals, so files are stable.
DECIMALS = 4

#: The shared ``rouge`` section of params.yaml.
ROUGE_SPEC: dict[str, Field] = {
    "tokenizer": choice("multilingual", "ascii"),
    "stemmer": boolean(),
    "bootstrap_samples": integer(minimum=1),
    "seed": seed(),  # of the bootstrap (numpy's global RNG)
}

# Letters and digits of any script ("\w" without "_"): "fácil", "niño", "2º" stay whole.
_WORD_RE = re.compile(r"[^\W_]+")


def load_rouge_params(path=PARAMS_FILE) -> dict[str, Any]:
    """The validated ``rouge`` section of params.yaml."""
    return load_params("rouge", ROUGE_SPEC, path)


class _CachedStemmer:
    """A stemmer whose ``stem`` remembers its answers (words repeat a lot)."""

    def __init__(self, stemmer: Any) -> None:
        self.stem = functools.lru_cache(maxsize=200_000)(stemmer.stem)


class AsciiTokenizer(tokenizers.Tokenizer):
    """``rouge_score``'s default tokenizer (``[a-z0-9]+`` words, Porter stemmer), cached.

    Gives exactly the tokens of ``rouge_score.tokenizers.DefaultTokenizer``, i.e.
    what the course's ``evaluate.load("rouge")`` computed, only faster.
    """

    def __init__(self, use_stemmer: bool = False) -> None:
        self._stemmer = _CachedStemmer(PorterStemmer()) if use_stemmer else None

    def tokenize(self, text: str) -> list[str]:
        return rouge_tokenize.tokenize(text, self._stemmer)


class MultilingualTokenizer(tokenizers.Tokenizer):
    """Unicode-aware words, lowercased, Snowball-stemmed in ``language`` if ``use_stemmer``.

    As in ``rouge_score``, only words longer than 3 characters are stemmed. A
    language without a Snowball stemmer (or ``None``) is not stemmed.
    """

    def __init__(self, language: str | None = None, use_stemmer: bool = True) -> None:
        self.language = language
        name = LANGUAGE_NAMES.get(language or "")
        self._stem = None
        if use_stemmer and name in SnowballStemmer.languages:
            self._stem = _CachedStemmer(SnowballStemmer(name)).stem

    def tokenize(self, text: str) -> list[str]:
        # NFC first, so a decomposed "a" + combining accent equals the composed "á".
        words = _WORD_RE.findall(unicodedata.normalize("NFC", text).lower())
        if self._stem is not None:
            stem = self._stem
            words = [stem(w) if len(w) > 3 else w for w in words]
        return [w for w in words if w]


@contextmanager
def _numpy_seed(seed: int) -> Iterator[None]:
    """Seed numpy's global RNG (which BootstrapAggregator draws from), then restore it."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


class Rouge:
    """Scores summaries per language with the ``rouge`` params.

    ``sentence_texts``: texts per language to train Punkt on when no ``punkt_tab``
    model is installed (build it with ``sentence_texts(load_splits(...))``).
    """

    def __init__(self, params: Mapping[str, Any],
                 sentence_texts: Mapping[str, Sequence[str]]) -> None:
        self.params = validate_section("rouge", dict(params), ROUGE_SPEC)
        self._splitter = SentenceSplitter(sentence_texts)
        self._scorers: dict[str, rouge_scorer.RougeScorer] = {}

    @property
    def sentence_splitters(self) -> dict[str, dict[str, str | int]]:
        """Per language used so far: ``{"source": "punkt_tab"|"trained"|"untrained",
        "texts": n}`` (``texts``: how many texts Punkt was trained on)."""
        return self._splitter.provenance

    def sentences(self, text: str, language: str) -> list[str]:
        """``text`` split into sentences with the language's Punkt model."""
        return self._splitter.split(text, language)

    def scorer(self, language: str) -> rouge_scorer.RougeScorer:
        """The ``RougeScorer`` for rows in ``language``."""
        if language not in self._scorers:
            stemmer = self.params["stemmer"]
            if self.params["tokenizer"] == "ascii":
                tokenizer: tokenizers.Tokenizer = AsciiTokenizer(stemmer)
            else:
                tokenizer = MultilingualTokenizer(language, stemmer)
            self._scorers[language] = rouge_scorer.RougeScorer(list(ROUGE_TYPES),
                                                               tokenizer=tokenizer)
        return self._scorers[language]

    def _lines(self, text: str, language: str) -> str:
        return "\n".join(self.sentences(text, language))

    def row_scores(self, predictions: Sequence[str], references: Sequence[str],
                   languages: Sequence[str]) -> list[dict[str, scoring.Score]]:
        """``rouge_score``'s ``{rouge_type: Score}`` for each row (values in 0..1)."""
        if not len(predictions) == len(references) == len(languages):
            raise ValueError(f"got {len(predictions)} predictions, {len(references)} "
                             f"references and {len(languages)} languages; they must match")
        rows = zip(predictions, references, languages, strict=True)
        scores = []
        for prediction, reference, language in tqdm(
                rows, total=len(predictions), desc="ROUGE", unit="row", leave=False,
                disable=len(predictions) < 2000):
            scores.append(self.scorer(language).score(
                self._lines(reference, language), self._lines(prediction, language)))
        return scores

    def score(self, predictions: Sequence[str], references: Sequence[str],
              languages: Sequence[str], bootstrap: bool = True) -> dict[str, dict[str, Any]]:
        """Mean F-measures x 100 for all rows and per language.

        ``{"all": {"rouge1": .., "rouge1_low": .., "rouge1_high": .., ..., "rows": n},
        "en": {...}, "es": {...}}``; the ``_low``/``_high`` 95% bootstrap bounds only
        when ``bootstrap``. Languages appear sorted, only those with rows.
        """
        if not len(predictions):
            raise ValueError("no rows to score: predictions, references and languages are empty")
        scores = self.row_scores(predictions, references, languages)
        groups = {"all": list(range(len(scores)))}
        for language in sorted(set(languages)):
            groups[language] = [i for i, lang in enumerate(languages) if lang == language]
        return {name: self._summarize([scores[i] for i in rows], bootstrap)
                for name, rows in groups.items()}

    def _summarize(self, scores: list[dict[str, scoring.Score]],
                   bootstrap: bool) -> dict[str, Any]:
        bounds = {}
        if bootstrap:
            aggregator = scoring.BootstrapAggregator(n_samples=self.params["bootstrap_samples"])
            for row in scores:
                aggregator.add_scores(row)
            # Reseeded per group: a group's bounds depend on its rows only, not on call order.
            with _numpy_seed(self.params["seed"]):
                bounds = aggregator.aggregate()
        summary: dict[str, Any] = {}
        for rouge_type in ROUGE_TYPES:
            mean = math.fsum(row[rouge_type].fmeasure for row in scores) / len(scores)
            summary[rouge_type] = _percent(mean)
            if bootstrap:
                summary[f"{rouge_type}_low"] = _percent(bounds[rouge_type].low.fmeasure)
                summary[f"{rouge_type}_high"] = _percent(bounds[rouge_type].high.fmeasure)
        summary["rows"] = len(scores)
        return summary


def _percent(value: float) -> float:
    return round(100 * float(value), DECIMALS)
