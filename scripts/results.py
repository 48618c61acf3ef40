"""The README's results table, generated from metrics files rather than typed by hand.

    python scripts/results.py record NAME --command "dvc exp run -S ..."
        after a run: copies the scores of metrics/baseline.json and
        metrics/evaluate.json (and the training time) to results/NAME.json,
        with the command that produced them;
    python scripts/results.py table [--check]
        rewrites the README's table between its two markers from results/*.json
        (--check: exit 1 if the README is not up to date, for the tests).

results/*.json hold numbers and settings only, never review text.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
README = ROOT / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
SCORES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
GROUPS = ("all", "en", "es")


def _scores(section: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    return {group: {name: section[group][name] for name in SCORES}
            for group in GROUPS if group in section}


def collect(root: Path, command: str) -> dict[str, Any]:
    """One run's record: settings, baseline and model scores, training time."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    baseline = json.loads((root / "metrics/baseline.json").read_text())
    evaluate = json.loads((root / "metrics/evaluate.json").read_text())
    speed_file = root / "metrics/train_speed.json"
    speed = json.loads(speed_file.read_text()) if speed_file.is_file() else {}
    methods = {name: _scores(section) for name, section in baseline.items()
               if isinstance(section, dict) and isinstance(section.get("all"), dict)}
    return {
        "command": command,
        "source": params["download"]["source"],
        "split": evaluate["split"],
        "rows": evaluate["rows"],
        "rouge": {key: params["rouge"][key] for key in ("tokenizer", "stemmer")},
        "baselines": methods,
        "model": _scores(evaluate["model"]),
        "train_minutes": round(speed["wall_seconds"] / 60, 1) if "wall_seconds" in speed else None,
    }


def _cell(scores: Mapping[str, Mapping[str, float]], group: str, name: str) -> str:
    return f"{scores[group][name]:.2f}" if group in scores else "–"


def table(records: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown: one row per summarizer of each recorded run, then the runs' commands."""
    header = ("| run | ROUGE | summarizer | R1 | R2 | RL | R1 en | R2 en | RL en | R1 es | "
              "training |\n|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [header]
    shown: set[str] = set()
    for name, record in records.items():
        rouge = record["rouge"]
        scoring = f"{rouge['tokenizer']}{', stemmed' if rouge['stemmer'] else ''}"
        # The baselines once per data and scoring, not again for every model run.
        key = json.dumps([record["source"], record["split"], rouge, record["baselines"]],
                         sort_keys=True)
        rows = [] if key in shown else [(method, scores, "")
                                        for method, scores in record["baselines"].items()]
        shown.add(key)
        minutes = record["train_minutes"]
        rows.append(("**model**", record["model"],
                     f"{minutes} min" if minutes is not None else ""))
        for method, scores, training in rows:
            cells = [_cell(scores, "all", n) for n in ("rouge1", "rouge2", "rougeL")]
            cells += [_cell(scores, "en", n) for n in ("rouge1", "rouge2", "rougeL")]
            cells.append(_cell(scores, "es", "rouge1"))
            lines.append(f"| {name} | {scoring} | {method} | {' | '.join(cells)} | {training} |")
    lines.append("")
    lines.append("Commands (from a clone with the MARC files in `../shared/marc`):")
    lines.append("")
    for name, record in records.items():
        lines.append(f"- {name}: `{record['command']}`")
    return "\n".join(lines)


def load_records(folder: Path = RESULTS) -> dict[str, dict[str, Any]]:
    """``{name: record}`` in the order of the files' ``order`` key, then by name."""
    records = [(json.loads(path.read_text()), path.stem) for path in folder.glob("*.json")]
    records.sort(key=lambda item: (item[0].get("order", 0), item[1]))
    return {name: record for record, name in records}


def render_readme(text: str, records: Mapping[str, Mapping[str, Any]]) -> str:
    if START not in text or END not in text:
        raise SystemExit(f"{README}: the markers {START} and {END} are missing")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table(records)}\n{END}{tail}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="action", required=True)
    record = commands.add_parser("record", help="save this run's scores as results/NAME.json")
    record.add_argument("name")
    record.add_argument("--command", required=True, help="the command that produced the run")
    record.add_argument("--order", type=int, default=0, help="position in the table")
    show = commands.add_parser("table", help="rewrite the README's results table")
    show.add_argument("--check", action="store_true", help="only check that it is up to date")
    args = parser.parse_args(argv)

    if args.action == "record":
        RESULTS.mkdir(exist_ok=True)
        data = {"order": args.order, **collect(Path.cwd(), args.command)}
        (RESULTS / f"{args.name}.json").write_text(json.dumps(data, indent=2) + "\n")
        return 0
    text = README.read_text()
    updated = render_readme(text, load_records())
    if args.check:
        if updated != text:
            print("README.md's results table is out of date: run "
                  "`python scripts/results.py table`", file=sys.stderr)
            return 1
        return 0
    README.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
