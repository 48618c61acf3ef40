"""Stage package: the model folder users use, and the pipeline's headline scores.

``data/package/model/`` is the trained model and tokenizer (copied from
``data/train/model``; the tokenizer's ``model_max_length`` is the input length it
was trained on) with ``generation_config.json`` holding the decoding settings that
evaluate scored with (``metrics/evaluate.json``'s ``generation``), so
``model.generate``, the ``review-summarization`` pipeline and ``summarize`` decode
as evaluate did, and a model card, ``README.md``.

``metrics/scores.json`` is the pipeline's one DVC metrics file: ROUGE-1/2/L (R1, R2,
RL) of the model and of each baseline, for all rows and per language, the phase
whose model was kept and the training time in minutes. The other reports in
``metrics/`` are the stages' own, secondary files.

Changing how the model decodes (params.yaml's evaluate) reruns evaluate and this
stage, never train.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, GenerationConfig

from stages.lib.card import HEADLINE, model_card
from stages.lib.errors import UserError, stage_entry
from stages.lib.generation import decoding_config
from stages.lib.io import atomic_outputs, damaged_output, dumps_json, require_output
from stages.lib.params import read_params_file

log = logging.getLogger("package")

MODEL = Path("data/train/model")
OUTPUT = Path("data/package/model")
SCORES = Path("metrics/scores.json")
#: The stages' reports the scores and the card are made of.
REPORTS = {name: Path(f"metrics/{name}.json")
           for name in ("evaluate", "baseline", "train", "train_speed", "base_model")}
#: params.yaml's sections the card quotes.
CARD_SECTIONS = ("download", "filter_books", "drop_short_titles", "train")


def read_reports(paths: Mapping[str, Path] = REPORTS) -> dict[str, dict[str, Any]]:
    reports = {}
    for name, path in paths.items():
        try:
            reports[name] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            stage = name.removesuffix("_speed")
            raise UserError(f"{path} is missing: it is written by stage '{stage}'; run "
                            f"`dvc repro {stage}` first.") from None
        except (OSError, ValueError) as err:
            raise UserError(f"{path} could not be read as JSON ({err}); run `dvc repro` "
                            "to write it again.") from None
    return reports


def baseline_methods(baseline: Mapping[str, Any]) -> list[str]:
    """The baselines scored in ``metrics/baseline.json`` (lead3, lead1, ...), in its order."""
    return [name for name, value in baseline.items()
            if isinstance(value, dict) and isinstance(value.get("all"), dict)]


def headline_scores(reports: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``metrics/scores.json``: R1/R2/RL of the model and each baseline for all rows and
    per language, the phase kept, and the training minutes."""
    evaluate, baseline = reports["evaluate"], reports["baseline"]
    if evaluate["split"] != baseline["split"]:
        raise UserError(
            f"params.yaml: evaluate.split is '{evaluate['split']}' but baseline.split is "
            f"'{baseline['split']}': the headline scores set the model against the baselines "
            "on the same reviews. Set both to the same split and run dvc repro.")
    scores: dict[str, Any] = {}
    for name, source in [("model", evaluate), *((m, baseline) for m in baseline_methods(baseline))]:
        scores[name] = {group: {short: round(values[key], 2) for key, short in HEADLINE.items()}
                        for group, values in source[name].items()}
    scores["kept"] = reports["train"]["kept"]
    scores["train_minutes"] = round(reports["train_speed"]["wall_seconds"] / 60, 1)
    return scores


def package_model(model_dir: Path, output: Path, settings: Mapping[str, Any], card: str) -> None:
    """Copy the model folder to ``output`` (a new folder) with ``settings`` as its generation
    config and ``card`` as its README.md."""
    try:
        config = decoding_config(GenerationConfig.from_pretrained(model_dir), **settings)
    except (OSError, ValueError) as err:
        raise damaged_output(model_dir / "generation_config.json", err) from None
    output.mkdir()
    for path in sorted(model_dir.iterdir()):
        if path.is_file() and path.name != "generation_config.json":
            shutil.copyfile(path, output / path.name)
    config.save_pretrained(output)
    (output / "README.md").write_text(card, encoding="utf-8")


@stage_entry
def main() -> None:
    require_output(MODEL.parent, "model/config.json")
    reports = read_reports()
    params = read_params_file()
    scores = headline_scores(reports)
    tokenizer = AutoTokenizer.from_pretrained(MODEL, local_files_only=True)
    card = model_card({k: v for k, v in scores.items() if isinstance(v, dict)}, reports,
                      {section: params[section] for section in CARD_SECTIONS},
                      tokenizer.model_max_length)
    # The model folder and the scores are replaced together, or neither is.
    with atomic_outputs(OUTPUT, SCORES) as (model, scores_file):
        package_model(MODEL, model, reports["evaluate"]["generation"], card)
        scores_file.write_text(dumps_json(scores), encoding="utf-8")
    log.info("packaged %s; RL %s (all) against %s", OUTPUT, scores["model"]["all"]["RL"],
             ", ".join(f"{name} {value['all']['RL']}" for name, value in scores.items()
                       if isinstance(value, dict) and name != "model"))


if __name__ == "__main__":
    main()
