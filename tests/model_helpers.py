"""Tiny data and models for the tests of base_model, tokenize, train, evaluate, summarize.

Everything is made up here and small enough to train in seconds on one core.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa

from stages.base_model import build_base_model, save_model, tokenizer_corpus
from stages.lib.data import MARC_SCHEMA, save_splits
from stages.tokenize import tokenize_splits

#: A tiny T5: trains and generates in well under a second per step on a CPU.
TINY_SCRATCH = {"vocab_size": 300, "d_model": 32, "d_ff": 64, "d_kv": 8, "num_heads": 2,
                "num_layers": 1, "num_decoder_layers": 1, "dropout_rate": 0.0, "seed": 0}
TINY_BASE = {"checkpoint": "scratch", "revision": None, "scratch": TINY_SCRATCH}

ROUGE = {"tokenizer": "multilingual", "stemmer": False, "bootstrap_samples": 20, "seed": 1}

TRAIN = {
    "learning_rate": 5e-3, "epochs": 2, "batch_size": 4, "gradient_accumulation_steps": 1,
    "weight_decay": 0.0, "lr_warmup": 0.0, "scheduler": "linear", "label_smoothing": 0.0,
    "pretrain_epochs": 0, "pretrain_min_steps": 0, "pretrain_learning_rate": 5e-3,
    "pretrain_input_tokens": 16,
    "pretrain_target_tokens": 4,
    "others_epochs": 0, "targets": "titles", "span_min_words": 2, "span_max_words": 6,
    "span_margin": 0.0,
    "min_phase_steps": 0, "seed": 0, "precision": "auto",
    "sampler": "random", "best_metric": "rougeL", "eval_batch_size": 8, "eval_num_beams": 1,
    "eval_max_new_tokens": 8, "cpu_threads": 1,
    "cpu_processes": 1,
}

_EN = ["The story is slow but the end is great.", "A fun book for children, with nice art.",
       "Too long and boring, I gave up halfway.", "Clear recipes that work every time."]
_ES = ["La historia es lenta pero el final es genial.", "Un libro divertido para niños.",
       "Demasiado largo y aburrido, lo dejé.", "Recetas claras que siempre salen bien."]
_EN_TITLES = ["slow but great end", "fun book for children", "too long and boring",
              "recipes that work"]
_ES_TITLES = ["lento pero buen final", "libro divertido para niños", "largo y aburrido",
              "recetas que salen bien"]


def table(rows: list[tuple[str, str, str]], prefix: str = "r") -> pa.Table:
    """Rows of (language, body, title) in MARC's schema, ids like ``t-r-3``."""
    return pa.Table.from_pylist([
        {"review_id": f"t-{prefix}-{i}", "product_id": f"tp-{i % 3}", "reviewer_id": f"tr-{i}",
         "stars": 1 + i % 5, "review_body": body, "review_title": title, "language": lang,
         "product_category": "book"} for i, (lang, body, title) in enumerate(rows)],
        schema=MARC_SCHEMA)


def reviews(count: int, start: int = 0) -> list[tuple[str, str, str]]:
    """``count`` made-up reviews, English and Spanish in turn."""
    rows = []
    for i in range(start, start + count):
        k = (i // 2) % 4
        if i % 2 == 0:
            rows.append(("en", f"Book {i}. {_EN[k]} I read it in {i % 7 + 1} days.",
                         _EN_TITLES[k]))
        else:
            rows.append(("es", f"Libro {i}. {_ES[k]} Lo leí en {i % 7 + 1} días.",
                         _ES_TITLES[k]))
    return rows


def splits(train: int = 16, validation: int = 6, test: int = 4) -> dict[str, pa.Table]:
    return {"train": table(reviews(train), "tr"),
            "validation": table(reviews(validation, 100), "va"),
            "test": table(reviews(test, 200), "te")}


def make_inputs(root: Path, tables: dict[str, pa.Table] | None = None,
                base: dict[str, Any] | None = None, max_input_length: int = 64,
                max_target_length: int = 12) -> tuple[Path, Path]:
    """``root/data/drop_short_titles``, ``root/data/base_model`` (tiny scratch T5) and
    ``root/data/tokenize``, as the stages write them; returns (tokenize, base_model)."""
    tables = tables if tables is not None else splits()
    data = root / "data"
    save_splits(tables, data / "drop_short_titles")
    model, tokenizer = build_base_model(base or TINY_BASE, tokenizer_corpus(tables))
    save_model(model, tokenizer, data / "base_model")
    tokenized = tokenize_splits(tables, tokenizer, max_input_length, max_target_length)
    save_splits(tokenized, data / "tokenize")
    return data / "tokenize", data / "base_model"
