"""The ``summarize`` command: titles for reviews with the trained model.

    summarize "First review ..." "Second review ..."   # one summary per argument
    summarize --file reviews.txt                       # one review per line
    cat reviews.txt | summarize                        # the same, from stdin

Input texts are the arguments or, without arguments, the lines of ``--file``
(``-``: stdin) or of stdin. Every line is one text, so output line *i* is the
summary of input line *i*; an empty line gives an empty output line. Texts are
truncated to ``--max-input-length`` tokens as in training.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from stages.lib.errors import UserError, stage_entry
from stages.lib.generation import load_model, summarize_texts

DEFAULT_MODEL = Path("data/train/model")
#: Input tokens kept when the model's tokenizer does not say how long its inputs were.
MAX_INPUT_LENGTH = 512


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="summarize",
        description="Write a title for each review text with the trained model. Texts are the "
                    "arguments, or the lines of --file or stdin (one text per line; one "
                    "summary per line, in the same order).")
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="texts to summarize")
    parser.add_argument("--file", "-f", type=Path,
                        help="read texts from this file, one per line ('-': stdin)")
    parser.add_argument("--model", "-m", type=Path, default=DEFAULT_MODEL,
                        help=f"folder of the model and tokenizer (default: {DEFAULT_MODEL})")
    parser.add_argument("--num-beams", type=int, default=4,
                        help="beam search width (default: 4, as params.yaml's evaluate)")
    parser.add_argument("--no-repeat-ngram-size", type=int, default=3,
                        help="no n-gram of this size twice in a summary (default: 3, as "
                             "params.yaml's evaluate; 0: off)")
    parser.add_argument("--max-new-tokens", type=int, default=30,
                        help="longest summary in tokens (default: 30)")
    parser.add_argument("--max-input-length", type=int,
                        help="input tokens kept (default: the length the model was trained "
                             "on, saved with its tokenizer; 512 if it has none)")
    parser.add_argument("--batch-size", type=int, default=16, help="texts per batch")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: a GPU if any)")
    args = parser.parse_args(argv)
    if args.texts and args.file:
        parser.error("give texts as arguments or with --file, not both")
    if args.no_repeat_ngram_size < 0:
        parser.error("--no-repeat-ngram-size must be 0 or a positive integer")
    for name in ("num_beams", "max_new_tokens", "max_input_length", "batch_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")
    return args


def read_texts(args: argparse.Namespace) -> list[str]:
    """The texts to summarize: arguments, or lines of the file or of stdin."""
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


@stage_entry
def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    texts = read_texts(args)
    model, tokenizer = load_model(args.model, device=args.device)
    todo = [i for i, text in enumerate(texts) if text.strip()]
    summaries = [""] * len(texts)
    trained_length = getattr(tokenizer, "model_max_length", None) or 0
    max_input_length = args.max_input_length or (
        trained_length if 0 < trained_length <= MAX_INPUT_LENGTH else MAX_INPUT_LENGTH)
    results = summarize_texts(model, tokenizer, [texts[i] for i in todo],
                              max_input_length=max_input_length,
                              batch_size=args.batch_size, num_beams=args.num_beams,
                              max_new_tokens=args.max_new_tokens,
                              no_repeat_ngram_size=args.no_repeat_ngram_size)
    for index, summary in zip(todo, results, strict=True):
        summaries[index] = " ".join(summary.split())  # one line per summary
    for summary in summaries:
        print(summary)


if __name__ == "__main__":
    main()
