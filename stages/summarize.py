"""The ``summarize`` command: titles for reviews with the packaged model.

    summarize "First review ..." "Second review ..."   # one summary per argument
    summarize --file reviews.txt                       # one review per line
    cat reviews.txt | summarize                        # the same, from stdin
    summarize --jsonl --file reviews.jsonl             # JSON objects in, with "summary" out

Input texts are the arguments or, without arguments, the lines of ``--file``
(``-``: stdin) or of stdin. Every line is one text, so output line *i* is the
summary of input line *i*; an empty line gives an empty output line. With
``--jsonl`` every line is a JSON object whose ``--text-field`` (``review_body``)
is summarized, and is written back with a ``summary`` field. Texts are truncated
to the input length the model was trained on, and decoded with the settings saved
in the model folder (those evaluate scored with), unless options say otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stages.lib.errors import UserError, stage_entry
from stages.lib.generation import (
    DECODING,
    decoding_settings,
    decoding_text,
    load_model,
    summarize_texts,
)

log = logging.getLogger("summarize")

DEFAULT_MODEL = Path("data/package/model")
#: Input tokens kept when the model's tokenizer does not say how long its inputs were.
MAX_INPUT_LENGTH = 512
SAVED = "default: the model folder's generation_config.json, i.e. what evaluate scored with"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="summarize",
        description="Write a title for each review text with the packaged model. Texts are "
                    "the arguments, or the lines of --file or stdin (one text per line; one "
                    "summary per line, in the same order). Decoding follows the settings "
                    "saved in the model folder (those evaluate scored with); the decoding "
                    "options below override them.")
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="texts to summarize")
    parser.add_argument("--file", "-f", type=Path,
                        help="read texts from this file, one per line ('-': stdin)")
    parser.add_argument("--jsonl", action="store_true",
                        help="input lines are JSON objects; each is written back with a "
                             "'summary' field")
    parser.add_argument("--text-field", default="review_body",
                        help="with --jsonl: the field holding the text (default: review_body)")
    parser.add_argument("--model", "-m", type=Path, default=DEFAULT_MODEL,
                        help=f"folder of the model and tokenizer (default: {DEFAULT_MODEL}, "
                             "written by the pipeline's package stage)")
    decoding = parser.add_argument_group("decoding", f"each one's {SAVED}")
    decoding.add_argument("--num-beams", type=int, help="beam search width (1: greedy)")
    decoding.add_argument("--max-new-tokens", type=int, help="longest summary, in tokens")
    decoding.add_argument("--min-new-tokens", type=int,
                          help="shortest summary, in tokens (0: no minimum)")
    decoding.add_argument("--length-penalty", type=float,
                          help="beam search: > 1 favours longer summaries, < 1 shorter ones")
    decoding.add_argument("--no-repeat-ngram-size", type=int,
                          help="no n-gram of this size twice in a summary (0: off)")
    parser.add_argument("--max-input-length", type=int,
                        help="input tokens kept (default: the length the model was trained "
                             f"on, saved with its tokenizer; {MAX_INPUT_LENGTH} if it has none)")
    parser.add_argument("--batch-size", type=int, default=16, help="texts per batch")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: a GPU if any)")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="print the summaries only: no settings line, no progress bar")
    args = parser.parse_args(argv)
    if args.texts and args.file:
        parser.error("give texts as arguments or with --file, not both")
    if args.texts and args.jsonl:
        parser.error("--jsonl reads JSON objects from --file or stdin, not from arguments")
    for name in ("min_new_tokens", "no_repeat_ngram_size"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be 0 or a positive integer")
    for name in ("num_beams", "max_new_tokens", "max_input_length", "batch_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")
    return args


def read_lines(args: argparse.Namespace) -> list[str]:
    """The input lines: arguments, or lines of the file or of stdin."""
    if args.texts:
        return list(args.texts)
    if args.file is not None and str(args.file) != "-":
        try:
            content = args.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise UserError(f"could not read {args.file}: {err}") from None
    else:
        if sys.stdin.isatty():
            raise UserError("no texts: give them as arguments, with --file, or on stdin "
                            "(one per line). See `summarize --help`.")
        content = sys.stdin.read()
    return content.splitlines()


def parse_jsonl(lines: Sequence[str], field: str, source: str
                ) -> tuple[list[dict[str, Any] | None], list[str]]:
    """The objects of JSON Lines (None for an empty line) and the text of each ("" for none)."""
    records: list[dict[str, Any] | None] = []
    texts = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            records.append(None)
            texts.append("")
            continue
        try:
            record = json.loads(line)
        except ValueError as err:
            raise UserError(f"{source}, line {number}: not valid JSON ({err}). With --jsonl "
                            "every line is one JSON object.") from None
        if not isinstance(record, dict) or not isinstance(record.get(field), str):
            fields = ", ".join(record) if isinstance(record, dict) else "none: not an object"
            raise UserError(f"{source}, line {number}: no text field '{field}' (its fields: "
                            f"{fields}). Name the field that holds the review with "
                            "--text-field.")
        records.append(record)
        texts.append(record[field])
    return records, texts


def output_lines(summaries: Sequence[str], records: Sequence[dict[str, Any] | None] | None
                 ) -> list[str]:
    """One line per input line: the summary, or (JSON Lines) the object with ``summary``."""
    if records is None:
        return list(summaries)
    return ["" if record is None else
            json.dumps({**record, "summary": summary}, ensure_ascii=False)
            for record, summary in zip(records, summaries, strict=True)]


@stage_entry
def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    lines = read_lines(args)
    records = None
    texts = lines
    if args.jsonl:
        source = "stdin" if args.file is None or str(args.file) == "-" else str(args.file)
        records, texts = parse_jsonl(lines, args.text_field, source)
    model, tokenizer = load_model(args.model, device=args.device)
    trained_length = getattr(tokenizer, "model_max_length", None) or 0
    max_input_length = args.max_input_length or (
        trained_length if 0 < trained_length <= MAX_INPUT_LENGTH else MAX_INPUT_LENGTH)
    settings = {key: getattr(args, key) for key in DECODING}
    todo = [i for i, text in enumerate(texts) if text.strip()]
    if not args.quiet:
        used = {**decoding_settings(model.generation_config),
                **{k: v for k, v in settings.items() if v is not None}}
        log.info("%d text(s) with %s: %s; inputs cut to %d tokens", len(todo), args.model,
                 decoding_text(used), max_input_length)
    results = summarize_texts(model, tokenizer, [texts[i] for i in todo],
                              max_input_length=max_input_length, batch_size=args.batch_size,
                              progress=not args.quiet and sys.stderr.isatty(), **settings)
    summaries = [""] * len(texts)
    for index, summary in zip(todo, results, strict=True):
        summaries[index] = " ".join(summary.split())  # one line per summary
    for line in output_lines(summaries, records):
        print(line)


if __name__ == "__main__":
    main()
