"""Stage baseline: extractive baselines (lead-3, lead-1, first words) scored against the titles.

The course's baseline is lead-3, the review's first three sentences, one per
line. These scores are the bar a fine-tuned model has to clear.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from stages.lib.data import SPLITS, languages_in, load_splits, rows_by_language
from stages.lib.errors import UserError, stage_entry
from stages.lib.io import atomic_outputs, dumps_json
from stages.lib.params import choice, integer, load_params, string_list
from stages.lib.rouge import Rouge, load_rouge_params, sentence_texts

log = logging.getLogger("baseline")

INPUT = Path("data/drop_short_titles")
OUTPUT = Path("data/baseline")
METRICS = Path("metrics/baseline.json")
SAMPLES = "samples.md"

METHODS = ("lead3", "lead1", "lead_words")

SPEC = {
    "split": choice(*SPLITS),
    "methods": string_list(METHODS),
    "lead_words": integer(minimum=1),
    "sample_rows": integer(minimum=0),
}

#: Review bodies in the sample table are cut to this many characters.
SAMPLE_BODY_CHARS = 300


def lead_sentences(sentences: Sequence[str], count: int) -> str:
    """The first ``count`` sentences, one per line (as ROUGE-Lsum wants them)."""
    return "\n".join(sentences[:count])


def lead_words(text: str, count: int) -> str:
    """The first ``count`` whitespace-separated words of ``text``."""
    return " ".join(text.split()[:count])


def summarize(method: str, body: str, language: str, rouge: Rouge, words: int) -> str:
    """The ``method`` baseline's summary of one review body."""
    if method == "lead3":
        return lead_sentences(rouge.sentences(body, language), 3)
    if method == "lead1":
        return lead_sentences(rouge.sentences(body, language), 1)
    if method == "lead_words":
        return lead_words(body, words)
    raise ValueError(f"unknown baseline method {method!r}; known: {', '.join(METHODS)}")


def baseline(tables: Mapping[str, pa.Table], params: Mapping[str, Any],
             rouge_params: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """Score the baselines of ``params`` on ``params["split"]``: (metrics, sample table)."""
    split = params["split"]
    table = tables.get(split)
    if table is None or table.num_rows == 0:
        counts = ", ".join(f"{name}: {t.num_rows}" for name, t in tables.items())
        raise UserError(f"params.yaml: baseline.split is '{split}', but that split of {INPUT} "
                        f"has no rows (rows per split: {counts}). Set baseline.split to a "
                        "split with rows.")
    bodies = table["review_body"].to_pylist()
    titles = table["review_title"].to_pylist()
    languages = table["language"].to_pylist()

    rows = rows_by_language({split: table})[split]
    for language in languages_in(tables):
        if language not in rows:
            # Reported as 0 rows (no per-language scores), not an error: the real
            # data, for instance, has no Spanish train split.
            log.warning("split '%s' has no '%s' rows: no '%s' scores", split, language, language)
            rows[language] = 0
    metrics: dict[str, Any] = {"split": split, "rows": dict(sorted(rows.items()))}

    rouge = Rouge(rouge_params, sentence_texts(tables))
    summaries = {}
    for method in params["methods"]:
        summaries[method] = [summarize(method, body, language, rouge, params["lead_words"])
                             for body, language in zip(bodies, languages, strict=True)]
        metrics[method] = rouge.score(summaries[method], titles, languages)
        log.info("%s: %s", method, {k: v for k, v in metrics[method]["all"].items()
                                    if "_" not in k})
    metrics["sentence_splitter"] = rouge.sentence_splitters
    metrics["rouge"] = dict(rouge.params)

    shown = min(params["sample_rows"], table.num_rows)
    samples = sample_table(split, bodies[:shown], titles[:shown], languages[:shown],
                           {m: s[:shown] for m, s in summaries.items()})
    return metrics, samples


def sample_table(split: str, bodies: Sequence[str], titles: Sequence[str],
                 languages: Sequence[str], summaries: Mapping[str, Sequence[str]]) -> str:
    """A Markdown table: review (cut), title and each baseline's summary per row."""
    header = ["#", "language", "review", "title", *summaries]
    lines = [f"# Baseline summaries: first {len(bodies)} rows of split '{split}'", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for i, (body, title, language) in enumerate(zip(bodies, titles, languages, strict=True)):
        if len(body) > SAMPLE_BODY_CHARS:
            body = body[:SAMPLE_BODY_CHARS].rstrip() + "…"
        cells = [str(i + 1), language, body, title, *(s[i] for s in summaries.values())]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    # Reviews hold HTML and pipes; lead-k summaries hold newlines.
    text = html.escape(text, quote=False).replace("|", "\\|")
    return "<br>".join(line.strip() for line in text.splitlines()) if text.strip() else ""


@stage_entry
def main() -> None:
    params = load_params("baseline", SPEC)
    rouge_params = load_rouge_params()
    tables = load_splits(INPUT)
    metrics, samples = baseline(tables, params, rouge_params)
    with atomic_outputs(OUTPUT, METRICS) as (data, metrics_file):
        data.mkdir()
        (data / SAMPLES).write_text(samples, encoding="utf-8")
        metrics_file.write_text(dumps_json(metrics), encoding="utf-8")


if __name__ == "__main__":
    main()
