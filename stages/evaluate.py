"""Stage evaluate: the trained model's summaries of a split, scored like the baselines.

Generates a title for every review of ``evaluate.split`` (inputs sorted by
length, in batches of at most ``batch_size`` reviews and ``batch_tokens`` padded
input tokens, results back in the split's order), scores them with the
project's ROUGE (with bootstrap bounds) for all rows and per language, and
writes ``metrics/evaluate.json`` in ``metrics/baseline.json``'s layout, the
scores under ``model``; so ``model.all.rouge1`` compares with ``lead3.all.rouge1``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from stages.lib.data import SPLITS, languages_in, load_splits, rows_by_language
from stages.lib.errors import UserError, stage_entry
from stages.lib.generation import DECODING, generate, load_model, pick_device, set_cpu_threads
from stages.lib.io import atomic_outputs, dumps_json, jsonl_text
from stages.lib.params import choice, integer, load_params, number
from stages.lib.rouge import Rouge, load_rouge_params, sentence_texts

log = logging.getLogger("evaluate")

INPUT = Path("data/tokenize")
MODEL = Path("data/train/model")
PREDICTIONS = Path("data/evaluate/predictions.jsonl")
METRICS = Path("metrics/evaluate.json")
SPEED = Path("metrics/evaluate_speed.json")

SPEC = {
    "split": choice(*SPLITS),
    "num_beams": integer(minimum=1),
    "max_new_tokens": integer(minimum=1),
    "min_new_tokens": integer(minimum=0),
    "length_penalty": number(),
    "no_repeat_ngram_size": integer(minimum=0),
    "batch_size": integer(minimum=1),
    "batch_tokens": integer(minimum=0),
    "cpu_threads": integer(minimum=0),
}

#: The name of the scores in metrics/evaluate.json, next to the baselines' lead3, lead1, ...
NAME = "model"


def _mean(values: list[float]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def evaluate_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                   table: pa.Table | None, split: str, params: Mapping[str, Any],
                   rouge: Rouge, languages: list[str] | None = None
                   ) -> tuple[dict[str, Any], list[dict[str, str]], dict[str, Any]]:
    """Summaries of a tokenized split and their scores: (metrics, predictions, speed).

    ``languages``: those to report (with 0 rows when the split has none of them).
    """
    if table is None or table.num_rows == 0:
        raise UserError(f"params.yaml: evaluate.split is '{split}', but that split has no "
                        "rows. Set evaluate.split to a split with rows (validation, test).")
    titles = table["review_title"].to_pylist()
    langs = table["language"].to_pylist()
    started = time.perf_counter()
    generated = generate(model, tokenizer, table["input_ids"].to_pylist(),
                         batch_size=params["batch_size"], batch_tokens=params["batch_tokens"],
                         **{key: params[key] for key in DECODING})
    seconds = time.perf_counter() - started

    scores = rouge.score(generated.summaries, titles, langs)
    groups = {"all": list(range(len(titles)))}
    for language in sorted(set(langs)):
        groups[language] = [i for i, lang in enumerate(langs) if lang == language]
    for name, rows in groups.items():
        scores[name]["summary_words"] = _mean([len(generated.summaries[i].split()) for i in rows])
        scores[name]["summary_tokens"] = _mean([generated.token_counts[i] for i in rows])
        scores[name]["title_words"] = _mean([len(titles[i].split()) for i in rows])

    rows = rows_by_language({split: table})[split]
    for language in languages or []:
        rows.setdefault(language, 0)
    metrics = {
        "split": split,
        "rows": dict(sorted(rows.items())),
        NAME: scores,
        "generation": {key: params[key] for key in DECODING},
        "sentence_splitter": rouge.sentence_splitters,
        "rouge": dict(rouge.params),
    }
    predictions = [
        {"review_id": review_id, "language": language, "review_body": body,
         "review_title": title, "summary": summary}
        for review_id, language, body, title, summary in zip(
            table["review_id"].to_pylist(), langs, table["review_body"].to_pylist(), titles,
            generated.summaries, strict=True)
    ]
    tokens = sum(generated.token_counts)
    speed = {
        "device": torch.cuda.get_device_name() if model.device.type == "cuda" else "cpu",
        "cpu_threads": 0 if model.device.type == "cuda" else torch.get_num_threads(),
        "rows": table.num_rows,
        "batch_size": params["batch_size"],
        "batch_tokens": params["batch_tokens"],
        "num_beams": params["num_beams"],
        "seconds": round(seconds, 2),
        "rows_per_second": round(table.num_rows / max(seconds, 1e-9), 2),
        "generated_tokens_per_second": round(tokens / max(seconds, 1e-9), 1),
    }
    return metrics, predictions, speed


def check_params(params: Mapping[str, Any]) -> None:
    """Generation params that contradict each other."""
    if params["min_new_tokens"] > params["max_new_tokens"]:
        raise UserError(f"params.yaml: evaluate.min_new_tokens ({params['min_new_tokens']}) is "
                        f"more than evaluate.max_new_tokens ({params['max_new_tokens']}): no "
                        "title could be that long and that short. Lower min_new_tokens.")


@stage_entry
def main() -> None:
    params = load_params("evaluate", SPEC)
    check_params(params)
    rouge_params = load_rouge_params()
    tables = load_splits(INPUT)
    if pick_device().type == "cpu":
        set_cpu_threads(params["cpu_threads"])
    model, tokenizer = load_model(MODEL)
    rouge = Rouge(rouge_params, sentence_texts(tables))
    split = params["split"]
    metrics, predictions, speed = evaluate_model(model, tokenizer, tables.get(split), split, params,
                                                 rouge, languages_in(tables))
    with atomic_outputs(PREDICTIONS, METRICS, SPEED) as (predictions_file, metrics_file,
                                                         speed_file):
        predictions_file.write_text(jsonl_text(predictions), encoding="utf-8")
        metrics_file.write_text(dumps_json(metrics), encoding="utf-8")
        speed_file.write_text(dumps_json(speed), encoding="utf-8")
    log.info("%s on %s: %s", NAME, split,
             {k: v for k, v in metrics[NAME]["all"].items() if "_" not in k})


if __name__ == "__main__":
    main()
