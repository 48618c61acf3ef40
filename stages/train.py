"""Stage train: fine-tune the base model, in phases, with ``Seq2SeqTrainer``.

The phases (``stages/lib/phases.py``): ``pretrain`` (copy each review's opening),
``others`` (titles of other product categories), then ``books`` (the train split,
validated after every epoch; the best epoch is kept). Each of the first two runs
when its epochs are > 0. The model kept is the books phase's, unless no books
epoch beat the model the phase before it handed over.

Runs on the GPUs when there are any (one process each), else on the CPU in
``train.cpu_processes`` processes; the stage starts them itself
(``stages/lib/launch.py``). ``train.batch_size`` is the global batch, so any number
of processes runs the same optimisation. Only the main process writes.

Resuming: checkpoints go to ``checkpoints/train/<key>/`` (``stages/lib/checkpoints.py``);
an interrupted run resumes from its last one and they are deleted once the model is saved.

Outputs: ``data/train/model`` (model + tokenizer, safetensors), ``metrics/train.json``
(quality: identical on a rerun), ``metrics/train_speed.json`` (throughput and
times, which vary), the charts of ``plots/train`` (training loss and learning rate,
validation ROUGE per epoch; PNG and CSV) and the live curves of ``dvclive/train``
(DVCLive, written while it trains).
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import torch
from datasets import Dataset, DatasetDict
from transformers import TrainerCallback

from stages.lib.charts import write_training_charts
from stages.lib.checkpoints import remove_other_runs, run_key
from stages.lib.curves import Curves, epoch_rows, training_rows
from stages.lib.data import OTHERS_SPLIT, load_splits
from stages.lib.errors import UserError, stage_entry
from stages.lib.generation import load_model, set_cpu_threads
from stages.lib.io import atomic_outputs, dumps_json, require_output
from stages.lib.launch import is_main_process, launch_processes, launched, training_processes
from stages.lib.params import Field, choice, integer, load_params, number, seed
from stages.lib.phases import PhaseContext, PhaseReport, plan_phases, run_phase
from stages.lib.reports import speed_report, train_metrics
from stages.lib.rouge import ROUGE_TYPES, Rouge, load_rouge_params, sentence_texts
from stages.lib.trainer import resolve_precision, validation_metrics, world_size
from stages.lib.training import fuse_gelu

log = logging.getLogger("train")

INPUT = Path("data/tokenize")
BASE_MODEL = Path("data/base_model")
OUTPUT = Path("data/train/model")
METRICS = Path("metrics/train.json")
SPEED = Path("metrics/train_speed.json")
PLOTS = Path("plots/train")
LIVE_DIR = Path("dvclive/train")
CHECKPOINTS = Path("checkpoints/train")

SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "inverse_sqrt",
              "polynomial")

SPEC: dict[str, Field] = {
    "pretrain_epochs": number(0),
    "pretrain_min_steps": integer(minimum=0),
    "pretrain_learning_rate": number(0, exclusive=True),
    "pretrain_input_tokens": integer(minimum=1),
    "pretrain_target_tokens": integer(minimum=1),
    "others_epochs": number(0),
    "targets": choice("titles", "spans"),
    "span_min_words": integer(minimum=1),
    "span_max_words": integer(minimum=1),
    "span_margin": number(0, maximum=1),
    "learning_rate": number(0, exclusive=True),
    "epochs": integer(minimum=1),
    "batch_size": integer(minimum=1),
    "min_phase_steps": integer(minimum=0),
    "gradient_accumulation_steps": integer(minimum=1),
    "weight_decay": number(0),
    "lr_warmup": number(0),
    "scheduler": choice(*SCHEDULERS),
    "label_smoothing": number(0, maximum=1),
    "seed": seed(),
    "precision": choice("auto", "fp32", "bf16", "fp16"),
    "sampler": choice("random", "group_by_length"),
    "best_metric": choice(*ROUGE_TYPES, "loss"),
    "eval_batch_size": integer(minimum=1),
    "eval_num_beams": integer(minimum=1),
    "eval_max_new_tokens": integer(minimum=1),
    "cpu_threads": integer(minimum=0),
    "cpu_processes": integer(minimum=1),
}


@dataclass
class TrainResult:
    """Quality metrics, speed metrics, whether this is the process that writes, and the
    rows of the charts: training points and validations per epoch."""

    metrics: dict[str, Any]
    speed: dict[str, Any]
    main_process: bool
    curves: list[dict[str, Any]]
    epochs: list[dict[str, Any]]


def check_inputs(datasets, params: Mapping[str, Any], data_dir: Path) -> None:
    """Params that contradict each other, and splits the params need but the data lacks."""
    if params["span_min_words"] > params["span_max_words"]:
        raise UserError(f"params.yaml: train.span_min_words ({params['span_min_words']}) is "
                        f"more than train.span_max_words ({params['span_max_words']}).")
    for split in ("train", "validation"):
        if split not in datasets or datasets[split].num_rows == 0:
            raise UserError(f"{data_dir}: the {split} split has no rows; training needs train "
                            "rows to learn from and validation rows to pick the best epoch. A "
                            "split is empty from download on when download.source has no file "
                            "for it (dataset_<lang>_train.json, dataset_<lang>_dev.json); "
                            "metrics/<stage>.json shows the rows each stage kept.")
    if params["others_epochs"] > 0 and (OTHERS_SPLIT not in datasets
                                        or datasets[OTHERS_SPLIT].num_rows == 0):
        raise UserError(
            f"params.yaml: train.others_epochs is {params['others_epochs']:g}, but {data_dir} "
            f"has no {OTHERS_SPLIT} split to learn from. Set filter_books.others_categories "
            "(e.g. to all: the reviews of every other product category) and run "
            "dvc repro, or set train.others_epochs to 0.")


def train_model(params: Mapping[str, Any], rouge_params: Mapping[str, Any], *,
                data_dir: Path = INPUT, base_model_dir: Path = BASE_MODEL,
                output_dir: Path = OUTPUT, checkpoints_root: Path = CHECKPOINTS,
                live_dir: Path = LIVE_DIR, metrics_path: Path | None = None,
                speed_path: Path | None = None, plots_path: Path | None = None,
                callbacks: Sequence[TrainerCallback] = ()) -> TrainResult:
    """Train the model in ``base_model_dir`` on ``data_dir`` and save it to ``output_dir``.

    The model, the curves (``live_dir``) and, when given, the metrics and speed files and
    the charts' folder are written by the main process only, all together once training
    is done. Returns the metrics (on every process).
    """
    started = time.perf_counter()
    writer = is_main_process()  # this process writes the outputs
    reports = [(path, name) for path, name in ((metrics_path, "metrics"), (speed_path, "speed"))
               if path is not None]
    paths = [output_dir, live_dir, *(path for path, _ in reports),
             *([plots_path] if plots_path is not None else [])]
    with atomic_outputs(*paths) if writer else nullcontext(paths) as temporaries:
        if writer:
            temporaries[1].mkdir()  # the curves go here while training runs
        result, model_dir = _train(params, rouge_params, data_dir, base_model_dir,
                                   checkpoints_root, temporaries[1], callbacks)
        result.speed["wall_seconds"] = round(time.perf_counter() - started, 2)
        if writer:
            shutil.copytree(model_dir, temporaries[0])
            for tmp, (_, name) in zip(temporaries[2:2 + len(reports)], reports, strict=True):
                tmp.write_text(dumps_json(getattr(result, name)), encoding="utf-8")
            if plots_path is not None:
                write_training_charts(result.metrics, result.curves, result.epochs,
                                      temporaries[-1])
    if writer:  # saved: the run's checkpoints (run_dir/<phase>/model's run_dir) can go
        shutil.rmtree(model_dir.parents[1], ignore_errors=True)
    return result


def _train(params: Mapping[str, Any], rouge_params: Mapping[str, Any], data_dir: Path,
           base_model_dir: Path, checkpoints_root: Path, live_dir: Path,
           callbacks: Sequence[TrainerCallback]) -> tuple[TrainResult, Path]:
    """Run the phases: the result and the folder of the model kept (in the run's checkpoints)."""
    tables = load_splits(data_dir)
    check_inputs(tables, params, data_dir)
    datasets = DatasetDict({name: Dataset(table) for name, table in tables.items()})
    validation = datasets["validation"]
    cuda = torch.cuda.is_available()
    if not cuda:
        set_cpu_threads(params["cpu_threads"])
    model, tokenizer = load_model(base_model_dir, device="cpu")
    # Saved with the model: the input length it was trained on, which summarize then uses.
    tokenizer.model_max_length = max(
        pc.max(pc.list_value_length(split.data.column("input_ids"))).as_py() or 1
        for split in datasets.values())
    fuse_gelu(model)  # the same activation in one kernel; the saved model does not change
    precision = resolve_precision(params["precision"], model.config.model_type, cuda,
                                  cuda and torch.cuda.is_bf16_supported())
    run_dir = checkpoints_root / run_key(params, rouge_params, data_dir, base_model_dir)
    if is_main_process():
        remove_other_runs(checkpoints_root, run_dir)

    rouge = Rouge(rouge_params, sentence_texts(tables))
    context = PhaseContext(
        params=params, tokenizer=tokenizer, datasets=datasets, precision=precision, cuda=cuda,
        run_dir=run_dir, curves=Curves(live_dir), callbacks=callbacks,
        eval_set=validation.select_columns(["input_ids", "labels"]),
        compute_metrics=validation_metrics(rouge, tokenizer, list(validation["review_title"]),
                                           list(validation["language"]),
                                           list(validation["labels"])))
    reports: dict[str, PhaseReport] = {}
    for plan in plan_phases(params):
        model, reports[plan.name] = run_phase(plan, model, context,
                                              offset=sum(r.steps for r in reports.values()),
                                              first=not reports)
    context.curves.close()

    metrics = train_metrics(reports, params, validation.num_rows)
    if metrics["kept"] != "books" and is_main_process():
        log.warning("no books epoch beat the model of the %s phase on validation %s: "
                    "keeping that model", metrics["kept"], params["best_metric"])
    speed = speed_report(reports, torch.cuda.get_device_name() if cuda else "cpu", world_size(),
                         precision, 0 if cuda else torch.get_num_threads())
    books = reports["books"]
    result = TrainResult(metrics, speed, is_main_process(),
                         curves=training_rows({name: r.history for name, r in reports.items()}),
                         epochs=epoch_rows(books.history, books.start_validation))
    return result, run_dir / metrics["kept"] / "model"


@stage_entry
def main() -> None:
    params = load_params("train", SPEC)
    rouge_params = load_rouge_params()
    require_output(BASE_MODEL, "config.json")
    # Before any process starts: each would print the same error.
    check_inputs(load_splits(INPUT), params, INPUT)
    processes = training_processes(params["cpu_processes"])
    if processes > 1 and not launched():
        log.info("training in %d processes", processes)
        sys.exit(launch_processes(processes, [sys.executable, "-m", "stages.train"],
                                  params["cpu_threads"]))
    if not is_main_process():  # the main process reports; the others only warn
        logging.getLogger().setLevel(logging.WARNING)
    result = train_model(params, rouge_params, metrics_path=METRICS, speed_path=SPEED,
                         plots_path=PLOTS)
    if not result.main_process:
        return
    kept = result.metrics["kept"]
    log.info("kept the %s phase's model%s; its validation: %s", kept,
             f" of epoch {result.metrics['best_epoch']}" if kept == "books" else "",
             ", ".join(f"{name} {value:g}" for name, value in
                       result.metrics["best_validation"].items()))


if __name__ == "__main__":
    main()
