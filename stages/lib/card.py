"""The model card (``README.md`` of the packaged model folder), from the stages' reports.

It says what the model was trained on, with which key params, how it scores per
language against the extractive baselines, how it decodes, and its limits. Every
figure comes from a report the pipeline wrote, so the card changes only when they do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stages.lib.charts import LANGUAGE_NAMES, ROUGE_NAMES
from stages.lib.generation import decoding_text

#: Headline names of the ROUGE scores (metrics/scores.json's keys), in the card's order.
HEADLINE = {"rouge1": "R1", "rouge2": "R2", "rougeL": "RL"}


def _number(value: Any) -> str:
    """A params value as params.yaml may write it (5e-4, "5e-4", 2) in its shortest form."""
    return f"{float(value):g}"


def _epochs(value: Any) -> str:
    return f"{_number(value)} epoch{'' if float(value) == 1 else 's'}"


def _source(source: str) -> str:
    if source == "sample":
        return ("the synthetic bilingual sample bundled with the project (`data/sample/`), "
                "written for smoke runs and tests")
    if source.startswith("hf:"):
        return f"the Hugging Face dataset `{source.removeprefix('hf:')}` (MARC's columns)"
    return "the Multilingual Amazon Reviews Corpus (MARC), its original JSON Lines files"


def _table(scores: Mapping[str, Any], groups: Sequence[str]) -> list[str]:
    columns = [f"{short} {group}" if group != "all" else short
               for group in groups for short in HEADLINE.values()]
    lines = ["| summarizer | " + " | ".join(columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for name, by_group in scores.items():
        cells = [f"{by_group[group][short]:.2f}" if group in by_group else "-"
                 for group in groups for short in HEADLINE.values()]
        label = "**this model**" if name == "model" else name
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def model_card(scores: Mapping[str, Any], reports: Mapping[str, Mapping[str, Any]],
               params: Mapping[str, Mapping[str, Any]], input_length: int) -> str:
    """The card's Markdown. ``scores``: the summarizers' headline scores (metrics/scores.json
    without ``kept`` and ``train_minutes``); ``reports``: the evaluate, train, train_speed and
    base_model reports; ``params``: params.yaml's sections; ``input_length``: the tokens of
    a review the model reads."""
    evaluate, train = reports["evaluate"], reports["train"]
    speed, base = reports["train_speed"], reports["base_model"]
    data, training = params["download"], params["train"]
    languages = [group for group in evaluate["model"] if group != "all"]
    names = " and ".join(LANGUAGE_NAMES.get(lang, lang) for lang in languages)
    rows = evaluate["rows"]
    split = evaluate["split"]
    model_low, model_high = (evaluate["model"]["all"][f"rougeL_{end}"] for end in ("low", "high"))
    checkpoint = base["checkpoint"]
    base_text = (f"a T5 of {base['parameters']:,} parameters built from scratch, with a "
                 f"tokenizer of {base['vocab_size']:,} tokens trained on the training reviews"
                 if checkpoint == "scratch" else f"`{checkpoint}` ({base['parameters']:,} "
                 "parameters)")
    phases = [f"{name} ({_epochs(training[f'{name}_epochs'])})"
              for name in ("pretrain", "others") if float(training[f"{name}_epochs"]) > 0]
    phases.append(f"books ({_epochs(training['epochs'])})")
    best = ROUGE_NAMES.get(train["best_metric"], train["best_metric"])
    kept = (f"epoch {train['best_epoch']} of the books phase, the best on validation "
            f"{best}" if train["kept"] == "books"
            else f"the {train['kept']} phase's model: no books epoch beat it on validation")
    targets = ("the span of each review closest to its title" if training["targets"] == "spans"
               else "the titles")
    rouge = evaluate["rouge"]
    decoding = decoding_text(evaluate["generation"])
    lines = [
        "---",
        "language: [" + ", ".join(languages) + "]",
        "pipeline_tag: summarization",
        "library_name: transformers",
        "tags: [summarization, review-titles]",
        "---",
        "",
        f"# Review titles ({names})",
        "",
        f"Writes a short title for a product review from its text, in {names}. Trained and "
        "packaged by this project's DVC pipeline (`dvc repro`); its `package` stage wrote "
        "this card from the pipeline's reports.",
        "",
        "## Use",
        "",
        "```python",
        "from transformers import AutoModelForSeq2SeqLM, AutoTokenizer",
        "",
        'model = AutoModelForSeq2SeqLM.from_pretrained("data/package/model")',
        'tokenizer = AutoTokenizer.from_pretrained("data/package/model")',
        'inputs = tokenizer(["I loved this book, the characters are so real."],',
        '                   truncation=True, return_tensors="pt")',
        "print(tokenizer.batch_decode(model.generate(**inputs), skip_special_tokens=True))",
        "```",
        "",
        f"`generate` decodes as the scores below were measured ({decoding}): "
        "`generation_config.json` holds those settings. The tokenizer cuts a review to "
        f"{input_length} tokens, the length trained on. From the project's folder, "
        '`summarize "review text"` or `summarize --jsonl --file reviews.jsonl` does the same.',
        "",
        "## Data",
        "",
        f"- Reviews: {_source(data['source'])}; languages {', '.join(data['languages'])}; "
        f"product categories {', '.join(params['filter_books']['categories'])}; titles of "
        f"{params['drop_short_titles']['min_words']} words or more.",
        f"- Trained on {train['train_rows']:,} book reviews with their titles"
        + (f", after {train['others']['rows']:,} reviews of other categories"
           if "others" in train else "")
        + ("; first it learned to copy reviews' openings" if "pretrain" in train else "") + ".",
        f"- Scored on the {split} split: {rows['all']:,} reviews ("
        + ", ".join(f"{rows[lang]:,} {lang}" for lang in languages) + ").",
        "",
        "## Training",
        "",
        f"- Base model: {base_text}.",
        f"- Phases: {', '.join(phases)}; the later ones learn to write {targets}; learning "
        f"rate {_number(training['learning_rate'])}, {training['batch_size']} reviews a step, seed "
        f"{training['seed']}.",
        f"- Kept: {kept}.",
        f"- Trained on {'the CPU' if speed['device'] == 'cpu' else speed['device']}"
        f" ({speed['processes']} process{'es' if speed['processes'] > 1 else ''},"
        f" {speed['precision']}).",
        "",
        "## Scores",
        "",
        f"ROUGE F-measure x 100 on the {split} split ({rouge['tokenizer']} tokenizer"
        f"{', stemmed' if rouge['stemmer'] else ''}), this model against extractive baselines "
        "(lead3: the review's first three sentences; lead1: its first; lead_words: its first "
        "words):",
        "",
        *_table(scores, ["all", *languages]),
        "",
        f"95% bootstrap interval of this model's RL: {model_low:.2f} to {model_high:.2f}.",
        "",
        "## Limits",
        "",
    ]
    if data["source"] == "sample":
        lines.append("- **Trained on the synthetic sample**: a smoke run of the pipeline. Its "
                     "scores say nothing about real reviews; do not use it for them.")
    else:
        lines.append("- MARC is licensed for research only, and so is a model trained on it.")
    lines += [
        f"- It reads the first {input_length} tokens of a review; the rest is ignored.",
        f"- Trained on book reviews in {names}: other products and languages are untested.",
        "- Its titles are mostly words of the review" + (" (it was trained on spans of the "
        "reviews)" if training["targets"] == "spans" else "") + ", and may be wrong about "
        "the review's opinion.",
        "",
    ]
    return "\n".join(lines)
