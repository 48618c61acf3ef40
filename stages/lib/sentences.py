"""Sentence splitting per language with nltk's Punkt (needed by ROUGE-Lsum and lead-k).

nltk's pretrained ``punkt_tab`` model for a language is used when it is
installed. Offline machines (CI, this project's default) have no nltk data and
``nltk.download`` is not an option, so then Punkt, which is unsupervised, is
trained on review bodies of that language instead of failing. Training is
deterministic: same texts in the same order give the same model.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc
from nltk.data import find
from nltk.tokenize.punkt import PunktSentenceTokenizer, PunktTokenizer, PunktTrainer

log = logging.getLogger(__name__)

#: ISO 639-1 codes (MARC's ``language`` column) -> nltk's names, for Punkt and Snowball.
LANGUAGE_NAMES = {
    "cs": "czech", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "es": "spanish", "et": "estonian", "fi": "finnish", "fr": "french", "it": "italian",
    "nl": "dutch", "no": "norwegian", "pl": "polish", "pt": "portuguese", "ru": "russian",
    "sl": "slovene", "sv": "swedish", "tr": "turkish",
}

#: Punkt is trained on at most this many texts (the first ones): ~1 s per 1,000 reviews.
MAX_TRAINING_TEXTS = 10_000


def sentence_texts(tables: Mapping[str, pa.Table]) -> dict[str, list[str]]:
    """Review bodies per language to train Punkt on, from ``load_splits``' ``{split: table}``.

    The train split's bodies of a language; for a language without train rows
    (Spanish in the real data), its bodies in the other splits. Titles are never
    used: Punkt needs no labels.
    """
    texts: dict[str, list[str]] = {}
    by_split = {split: _bodies_by_language(table) for split, table in tables.items()}
    languages = sorted({lang for bodies in by_split.values() for lang in bodies})
    for lang in languages:
        train = by_split.get("train", {}).get(lang, [])
        texts[lang] = train or [body for split, bodies in by_split.items() if split != "train"
                                for body in bodies.get(lang, [])]
    return texts


def _bodies_by_language(table: pa.Table) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    if not table.num_rows:
        return result
    for lang in sorted(pc.unique(table["language"]).to_pylist()):
        mask = pc.equal(table["language"], lang)
        result[lang] = table.filter(mask)["review_body"].to_pylist()
    return result


def pretrained_punkt(language: str) -> PunktSentenceTokenizer | None:
    """nltk's ``punkt_tab`` model for an ISO code, or None when it is not installed."""
    name = LANGUAGE_NAMES.get(language)
    if name is None:
        return None
    try:
        find(f"tokenizers/punkt_tab/{name}/")
        return PunktTokenizer(name)
    except LookupError:
        return None


def train_punkt(texts: Sequence[str]) -> PunktSentenceTokenizer:
    """A Punkt model trained on ``texts`` (each one a paragraph of its own)."""
    trainer = PunktTrainer()
    # One blank line between texts: Punkt reads it as a paragraph (= sentence) break.
    trainer.train("\n\n".join(text.strip() for text in texts), finalize=True)
    return PunktSentenceTokenizer(trainer.get_params())


class SentenceSplitter:
    """Splits texts into sentences, with one Punkt model per language, made on first use.

    ``texts`` are the bodies to train on per language (see ``sentence_texts``),
    used only when no ``punkt_tab`` model is installed for that language.
    """

    def __init__(self, texts: Mapping[str, Sequence[str]]) -> None:
        self._texts = texts
        self._models: dict[str, PunktSentenceTokenizer] = {}
        self._provenance: dict[str, dict[str, str | int]] = {}

    def split(self, text: str, language: str) -> list[str]:
        """The sentences of ``text`` (stripped, none empty)."""
        sentences = self.model(language).tokenize(text)
        return [s.strip() for s in sentences if s.strip()]

    def model(self, language: str) -> PunktSentenceTokenizer:
        if language not in self._models:
            self._models[language] = self._make(language)
        return self._models[language]

    def _make(self, language: str) -> PunktSentenceTokenizer:
        pretrained = pretrained_punkt(language)
        if pretrained is not None:
            self._provenance[language] = {"source": "punkt_tab", "texts": 0}
            return pretrained
        texts = [t for t in self._texts.get(language, ()) if t and t.strip()]
        texts = texts[:MAX_TRAINING_TEXTS]
        if not texts:
            # Untrained Punkt still splits at '.', '?' and '!' followed by a capital.
            log.warning("no punkt_tab model and no texts to train Punkt on for language "
                        "'%s': splitting sentences with an untrained Punkt", language)
            self._provenance[language] = {"source": "untrained", "texts": 0}
            return PunktSentenceTokenizer()
        log.info("no punkt_tab model for '%s' installed: training Punkt on %d texts",
                 language, len(texts))
        self._provenance[language] = {"source": "trained", "texts": len(texts)}
        return train_punkt(texts)

    @property
    def provenance(self) -> dict[str, dict[str, str | int]]:
        """``{language: {"source": "punkt_tab"|"trained"|"untrained", "texts": n}}`` for
        each language split so far, sorted; ``texts``: how many Punkt was trained on."""
        return {lang: dict(self._provenance[lang]) for lang in sorted(self._provenance)}
