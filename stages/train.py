"""Stage train: fine-tune the base model on the train split with ``Seq2SeqTrainer``.

Up to three phases. ``pretrain`` (``train.pretrain_epochs`` > 0): the model learns to
write the first ``train.pretrain_target_tokens`` tokens of each review of the train
and warmup splits from the review itself: a copying skill that a small scratch model
does not find on its own from titles, and what the lead baselines live on.
``warmup`` (``train.warmup_epochs`` > 0): review/title pairs of the ``warmup`` split
(train reviews of other product categories, kept by
``filter_books.warmup_categories``): many more pairs than the books alone. Then the
books: the train split for ``train.epochs``, validating (generation + ROUGE, no
bootstrap) after every epoch on the validation split and keeping the best epoch's
weights (``train.best_metric``). Runs on the GPU when there is one, else on the CPU;
for several GPUs or machines run the same stage under ``accelerate launch`` (see
README): only the main process writes.

Resuming: Trainer checkpoints go to ``checkpoints/train/<key>/``, outside the
stage's DVC outputs (DVC deletes those before running a stage), where ``<key>``
hashes the params and the exact inputs. A run that was interrupted resumes from
its last complete checkpoint; they are deleted once the model is saved.

Outputs: ``data/train/model`` (model + tokenizer, safetensors), ``metrics/train.json``
(quality: identical on a rerun), ``metrics/train_speed.json`` (throughput and
times, which vary) and the training curves in ``dvclive/train`` (DVCLive).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from datasets import Dataset, load_from_disk
from torch.utils.data import SequentialSampler
from transformers import (
    DataCollatorForSeq2Seq,
    EvalPrediction,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    TrainerCallback,
)

from stages.lib.data import WARMUP_SPLIT, content_fingerprint, load_fingerprint, load_splits
from stages.lib.errors import UserError, stage_entry
from stages.lib.generation import decode, load_model, set_cpu_threads
from stages.lib.io import atomic_path, require_output, write_json
from stages.lib.params import Field, choice, integer, load_params, number
from stages.lib.rouge import ROUGE_TYPES, Rouge, load_rouge_params, sentence_texts
from stages.lib.training import (
    fuse_gelu,
    supports_target_token_loss,
    target_token_loss,
)

log = logging.getLogger("train")

INPUT = Path("data/tokenize")
BASE_MODEL = Path("data/base_model")
OUTPUT = Path("data/train/model")
METRICS = Path("metrics/train.json")
SPEED = Path("metrics/train_speed.json")
LIVE_DIR = Path("dvclive/train")
CHECKPOINTS = Path("checkpoints/train")

SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "inverse_sqrt",
              "polynomial")

SPEC: dict[str, Field] = {
    "pretrain_epochs": number(0),
    "pretrain_learning_rate": number(0, exclusive=True),
    "pretrain_input_tokens": integer(minimum=1),
    "pretrain_target_tokens": integer(minimum=1),
    "warmup_epochs": number(0),
    "learning_rate": number(0, exclusive=True),
    "epochs": integer(minimum=1),
    "batch_size": integer(minimum=1),
    "gradient_accumulation_steps": integer(minimum=1),
    "weight_decay": number(0),
    "lr_warmup": number(0),
    "scheduler": choice(*SCHEDULERS),
    "label_smoothing": number(0, maximum=1),
    "seed": integer(minimum=0),
    "precision": choice("auto", "fp32", "bf16", "fp16"),
    "sampler": choice("random", "group_by_length"),
    "best_metric": choice(*ROUGE_TYPES, "loss"),
    "eval_batch_size": integer(minimum=1),
    "eval_num_beams": integer(minimum=1),
    "eval_max_new_tokens": integer(minimum=1),
    "logging_steps": integer(minimum=1),
    "cpu_threads": integer(minimum=0),
    "cpu_processes": integer(minimum=1),
}

#: Model types of the T5 family: pre-trained in bfloat16, they overflow in float16.
T5_FAMILY = frozenset({"t5", "mt5", "umt5", "longt5", "switch_transformers"})

#: Optimizer steps between the checkpoints of the unvalidated phases (pretrain, warmup), which
#: run for many steps without an epoch's checkpoint to resume from.
WARMUP_SAVE_STEPS = 500
#: The phases before the books, in order: (name, params keys of its epochs and learning rate).
EARLY_PHASES = (("pretrain", "pretrain_epochs", "pretrain_learning_rate"),
                ("warmup", "warmup_epochs", "learning_rate"))

#: Keys of the Trainer's logs that are not training curves (times, speeds, totals).
_NOT_CURVES = ("runtime", "per_second", "flos", "num_input_tokens_seen", "epoch", "step")


class NonFiniteLossError(UserError):
    """The training loss became NaN or infinite."""


# --- precision ---------------------------------------------------------------------------------

def resolve_precision(requested: str, model_type: str, cuda: bool, bf16_supported: bool) -> str:
    """The precision to train in: "fp32", "bf16" or "fp16" (see ``train.precision``)."""
    if requested == "auto":
        return "bf16" if cuda and bf16_supported else "fp32"
    if requested == "fp16" and model_type in T5_FAMILY:
        raise UserError(
            f"params.yaml: train.precision is fp16, but the base model is a T5-family model "
            f"('{model_type}'). T5 and mT5 were pre-trained in bfloat16 and some of their "
            "activations (feed-forward outputs, attention scores) exceed float16's largest value "
            "(65504): they overflow to inf and the loss turns into NaN within a few steps. Use "
            "bf16 (a GPU from NVIDIA's Ampere generation on), fp32, or auto (bf16 where the GPU "
            "supports it, else fp32).")
    if requested == "fp16" and not cuda:
        raise UserError("params.yaml: train.precision is fp16, which needs a CUDA GPU; there is "
                        "none here. Use auto or fp32.")
    if requested == "bf16" and cuda and not bf16_supported:
        raise UserError("params.yaml: train.precision is bf16, but this GPU does not support "
                        "bfloat16. Use auto or fp32.")
    return requested


# --- resuming ----------------------------------------------------------------------------------

def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_key(params: Mapping[str, Any], rouge_params: Mapping[str, Any], data_dir: Path,
            base_model_dir: Path) -> str:
    """Identifies a training run: its params, data and base model (file contents)."""
    model_files = {f.name: _file_digest(f) for f in sorted(base_model_dir.iterdir())
                   if f.is_file()}
    return content_fingerprint("train", dict(params), dict(rouge_params),
                               load_fingerprint(data_dir), model_files)


def last_checkpoint(folder: Path) -> Path | None:
    """The newest complete ``checkpoint-<step>`` in ``folder``.

    Complete: its ``trainer_state.json``, which the Trainer writes last, is valid.
    """
    if not folder.is_dir():
        return None
    steps = []
    for path in folder.glob("checkpoint-*"):
        suffix = path.name.removeprefix("checkpoint-")
        if path.is_dir() and suffix.isdigit():
            steps.append((int(suffix), path))
    for _, path in sorted(steps, reverse=True):
        try:
            json.loads((path / "trainer_state.json").read_text())
            return path
        except (OSError, ValueError):
            continue  # killed while saving: fall back to the one before
    return None


def remove_other_runs(root: Path, keep: Path) -> None:
    """Delete checkpoints of other runs (other params or data): they can't be resumed here."""
    if root.is_dir():
        for folder in root.iterdir():
            if folder != keep and folder.is_dir():
                log.info("deleting checkpoints of another run: %s", folder)
                shutil.rmtree(folder, ignore_errors=True)


# --- training ----------------------------------------------------------------------------------

class CheckedTrainer(Seq2SeqTrainer):
    """``Seq2SeqTrainer`` that stops at the first NaN or infinite training loss.

    Validation rows stay in their order even with ``sampler: group_by_length`` (the
    Trainer would sort them too), so predictions line up with titles and languages.
    The training loss of T5, mT5, umT5, BART and mBART models is computed on the title
    tokens alone (:func:`~stages.lib.training.target_token_loss`) and averaged over all
    the title tokens of the optimizer step, across processes and accumulated batches: T5's own
    loss is the mean of one batch, which the Trainer (since the model takes
    ``**kwargs``) neither divides by ``gradient_accumulation_steps`` nor averages across
    processes, so the gradients came out that many times too large (transformers
    issue #47688) and were clipped at a fraction of ``max_grad_norm``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The Trainer counts the step's title tokens (num_items_in_batch) for models that
        # take **kwargs, as T5 does; the loss is divided by that count, so the Trainer
        # does not divide it by gradient_accumulation_steps. Not under nn.DataParallel,
        # which splits batches after compute_loss.
        self.target_token_loss = (supports_target_token_loss(self.model)
                                  and self.model_accepts_loss_kwargs and self.args.n_gpu <= 1)

    def _get_eval_sampler(self, eval_dataset):
        return SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        # With several processes the Trainer multiplies each process's loss by their number
        # (so that averaging the gradients gives the mean over all tokens) and logs that
        # product's mean over the processes: the loss itself for the title-token loss, which
        # is divided by all processes' tokens, that many times the loss for models that
        # average their own batch.
        scale = self.accelerator.num_processes
        if ("loss" in logs and scale > 1 and self.args.average_tokens_across_devices
                and self.model_accepts_loss_kwargs and not self.target_token_loss):
            logs = {**logs, "loss": logs["loss"] / scale}
        super().log(logs, start_time)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if (return_outputs or not model.training or not self.target_token_loss
                or num_items_in_batch is None or "decoder_input_ids" not in inputs):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        loss = target_token_loss(model, self.accelerator.unwrap_model(model), inputs,
                                 num_items_in_batch, self.args.label_smoothing_factor)
        if self.args.average_tokens_across_devices:
            # The count is of all processes' tokens, and their gradients get averaged.
            loss = loss * self.accelerator.num_processes
        return loss

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        if not torch.isfinite(loss).all():
            raise NonFiniteLossError(
                f"the training loss became {loss.item()} at optimizer step "
                f"{self.state.global_step + 1} (epoch {self.state.epoch or 0:.2f}), so training "
                f"stopped and no model was written. Usual causes: train.learning_rate "
                f"({self.args.learning_rate:g}) too high for this model, float16 overflow "
                "(train.precision), or a base model whose weights are already broken. Lower "
                "the learning rate or change the precision in params.yaml and run again.")
        return loss


class Curves:
    """The training curves of all phases, in one DVCLive folder (main process only).

    Steps are optimizer steps counted from the start of the first phase, so the
    curves of the phases join up, and a resumed run, which replays the
    restored log history first, draws the same curves as one that never stopped.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.live: Any = None

    def open(self) -> None:
        if self.live is None:
            from dvclive import Live  # here: only the main process logs

            self.live = Live(str(self.directory), dvcyaml=None, save_dvc_exp=False,
                             report=None)

    def log(self, entry: Mapping[str, Any], step: int) -> None:
        metrics = curve_values(entry)
        if metrics and self.live is not None:
            self.live.step = step
            for name, value in metrics.items():
                self.live.log_metric(name, value)
            self.live.next_step()

    def close(self) -> None:
        if self.live is not None:
            self.live.end()
            self.live = None


class LiveCallback(TrainerCallback):
    """One phase's Trainer logs to :class:`Curves`, its steps shifted by ``offset``.

    ``train/loss``, ``train/learning_rate``, ``train/grad_norm`` every
    ``logging_steps``; ``eval/loss``, ``eval/rouge*`` and ``eval/gen_len`` after
    each epoch of the books phase.
    """

    def __init__(self, curves: Curves, offset: int = 0) -> None:
        self.curves = curves
        self.offset = offset

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.curves.open()
            for entry in state.log_history:
                self.curves.log(entry, entry["step"] + self.offset)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs:
            self.curves.log(logs, state.global_step + self.offset)


def curve_values(entry: Mapping[str, Any]) -> dict[str, float]:
    """``{"train/loss": ..., "eval/rouge1": ...}`` from one Trainer log entry."""
    curves = {}
    for key, value in entry.items():
        if any(part in key for part in _NOT_CURVES) or key.startswith("train_"):
            continue
        if not isinstance(value, (int, float)):
            continue
        name = f"eval/{key.removeprefix('eval_')}" if key.startswith("eval_") else f"train/{key}"
        curves[name] = float(value)
    return curves


class Throughput(TrainerCallback):
    """Counts the input tokens (non-padding, all processes) trained on in this run."""

    def __init__(self) -> None:
        self.tokens = 0
        self._start = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self._start = state.num_input_tokens_seen

    def on_train_end(self, args, state, control, **kwargs):
        self.tokens = state.num_input_tokens_seen - self._start


@dataclass
class TrainResult:
    """Quality metrics, speed metrics, and whether this is the process that writes."""

    metrics: dict[str, Any]
    speed: dict[str, Any]
    main_process: bool


def _validation_metrics(rouge: Rouge, tokenizer, titles: Sequence[str],
                        languages: Sequence[str], labels: Sequence[Sequence[int]]):
    """``compute_metrics``: ROUGE of the generated titles against the untruncated titles."""
    def compute(prediction: EvalPrediction) -> dict[str, float]:
        # Data-parallel evaluation pads the last round with rows from the start again, and
        # the Trainer does not always cut them off: keep the first len(titles), after
        # checking (with the labels) that they are the validation rows in order.
        rows = len(titles)
        ids = np.asarray(prediction.predictions)[:rows]
        gathered = np.asarray(prediction.label_ids)[:rows]
        if len(ids) != rows or any(
                [t for t in row if t >= 0 and t != tokenizer.pad_token_id] != list(expected)
                for row, expected in zip(gathered, labels, strict=True)):
            raise RuntimeError(f"the {len(prediction.predictions)} validation predictions do "
                               f"not line up with the {rows} validation rows")
        summaries = decode(tokenizer, ids)
        scores = rouge.score(summaries, titles, languages, bootstrap=False)["all"]
        lengths = ((ids != tokenizer.pad_token_id) & (ids != tokenizer.eos_token_id)
                   & (ids >= 0)).sum(axis=1)
        return {**{name: scores[name] for name in ROUGE_TYPES},
                "gen_len": round(float(lengths.mean()), 4)}
    return compute


def _arguments(params: Mapping[str, Any], output_dir: Path, precision: str, cuda: bool,
               epochs: float, validate: bool) -> Seq2SeqTrainingArguments:
    """The Trainer's settings for one phase (``validate``: the books phase)."""
    lr_warmup = params["lr_warmup"]
    best = params["best_metric"]
    per_phase: dict[str, Any] = dict(
        eval_strategy="epoch", save_strategy="epoch", load_best_model_at_end=True,
        metric_for_best_model=best, greater_is_better=best != "loss",
    ) if validate else dict(
        # No validation while warming up; checkpoints every few hundred steps to resume from.
        eval_strategy="no", save_strategy="steps", save_steps=WARMUP_SAVE_STEPS,
    )
    return Seq2SeqTrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=epochs,
        per_device_train_batch_size=params["batch_size"],
        per_device_eval_batch_size=params["eval_batch_size"],
        gradient_accumulation_steps=params["gradient_accumulation_steps"],
        learning_rate=params["learning_rate"],
        weight_decay=params["weight_decay"],
        lr_scheduler_type=params["scheduler"],
        warmup_steps=int(lr_warmup) if lr_warmup >= 1 else lr_warmup,
        label_smoothing_factor=params["label_smoothing"],
        seed=params["seed"],
        data_seed=params["seed"],
        train_sampling_strategy=params["sampler"],
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not cuda,
        save_total_limit=1,  # plus the best one, which the Trainer keeps too
        predict_with_generate=True,
        generation_num_beams=params["eval_num_beams"],
        # An encoder-decoder's max_length counts the decoder start token too.
        generation_max_length=params["eval_max_new_tokens"] + 1,
        logging_strategy="steps",
        logging_steps=params["logging_steps"],
        logging_nan_inf_filter=False,  # a NaN must stop training, not be averaged away
        include_num_input_tokens_seen="non_padding",
        report_to="none",
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,
        **per_phase,
    )


@dataclass
class Phase:
    """What a finished training phase reports."""

    steps: int
    rows: int
    final_loss: float | None
    seconds: float
    tokens: int
    history: list[dict[str, Any]]


def _final_loss(history: Sequence[Mapping[str, Any]]) -> float | None:
    losses = [entry["loss"] for entry in history if "loss" in entry]
    return _round(losses[-1]) if losses else None


def early_phase(name: str, model, tokenizer, rows: Callable[[], Dataset], epochs: float,
                params: Mapping[str, Any], precision: str, cuda: bool, run_dir: Path,
                curves: Curves, offset: int,
                callbacks: Sequence[TrainerCallback]) -> tuple[Any, Phase]:
    """Train on ``rows()`` for ``epochs`` without validating; return the model and a report.

    ``name``: pretrain or warmup. The result is kept in ``run_dir/<name>/model``
    until the whole run ends, so a run interrupted later does not redo the phase (nor
    build its rows). ``offset``: optimizer steps of the phases before this one (for
    the curves). ``params``: the train params, with this phase's learning rate.
    """
    folder = run_dir / name
    done = folder / "model"
    report_file = folder / "phase.json"
    if report_file.is_file() and (done / "config.json").is_file():
        phase = Phase(**json.loads(report_file.read_text()))
        if is_main_process():
            curves.open()
            for entry in phase.history:
                curves.log(entry, entry["step"] + offset)
        log.info("%s phase already done (%d steps): loading %s", name, phase.steps, done)
        model, _ = load_model(done, device="cpu")
        return model, phase

    train_set = rows()
    resume = last_checkpoint(folder)
    args = _arguments(params, folder, precision, cuda, epochs, validate=False)
    trainer = CheckedTrainer(
        model=model, args=args, train_dataset=train_set, processing_class=tokenizer,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
        callbacks=[LiveCallback(curves, offset), throughput := Throughput(), *callbacks])
    if resume is not None:
        log.info("resuming the %s phase from %s", name, resume)
    log.info("%s phase: %d rows, %g epochs", name, train_set.num_rows, epochs)
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    history = [dict(entry) for entry in trainer.state.log_history]
    phase = Phase(steps=trainer.state.global_step, rows=train_set.num_rows,
                  final_loss=_final_loss(history), seconds=output.metrics["train_runtime"],
                  tokens=throughput.tokens, history=history)
    if trainer.is_world_process_zero():
        save_trained(trainer, tokenizer, done)
        for checkpoint in folder.glob("checkpoint-*"):
            shutil.rmtree(checkpoint, ignore_errors=True)
        report_file.write_text(json.dumps(phase.__dict__))
    trainer.accelerator.wait_for_everyone()
    # The next phase starts from the saved weights, as a resumed run does: the same bytes.
    model, _ = load_model(done, device="cpu")
    return model, phase


def lead_pairs(bodies: Sequence[Sequence[int]], input_tokens: int, target_tokens: int,
               eos_token_id: int) -> dict[str, list[list[int]]]:
    """The pretrain phase's examples: each review (its first ``input_tokens`` tokens) as
    input, its first ``target_tokens`` tokens as target.

    ``bodies``: tokenized reviews ending in EOS, as the tokenize stage writes them.
    Writing a review's opening words is what the lead baselines do; learning it first
    gives a small model the copying that good titles need.
    """
    inputs, labels = [], []
    for ids in bodies:
        words = list(ids[:-1] if ids and ids[-1] == eos_token_id else ids)
        if not words:
            continue
        inputs.append(words[:input_tokens - 1] + [eos_token_id])
        labels.append(words[:target_tokens] + [eos_token_id])
    return {"input_ids": inputs, "labels": labels}


def early_phase_rows(name: str, datasets, params: Mapping[str, Any], eos_token_id: int):
    """The rows of an early phase: review openings (pretrain) or the warmup split's pairs."""
    if name == "warmup":
        return datasets[WARMUP_SPLIT].select_columns(["input_ids", "labels"])
    # Review bodies of the train and warmup splits; never validation or test, whose
    # reviews the model is scored on.
    bodies = [ids for split in ("train", WARMUP_SPLIT) if split in datasets
              for ids in datasets[split]["input_ids"]]
    pairs = lead_pairs(bodies, params["pretrain_input_tokens"], params["pretrain_target_tokens"],
                       eos_token_id)
    return Dataset.from_dict(pairs)


def is_main_process() -> bool:
    """Whether this is the process that writes (the only one, or rank 0 under accelerate)."""
    return int(os.environ.get("RANK", "0")) == 0


def train_model(params: Mapping[str, Any], rouge_params: Mapping[str, Any], *,
                data_dir: Path = INPUT, base_model_dir: Path = BASE_MODEL,
                output_dir: Path = OUTPUT, checkpoints_root: Path = CHECKPOINTS,
                live_dir: Path = LIVE_DIR,
                callbacks: Sequence[TrainerCallback] = ()) -> TrainResult:
    """Train the model in ``base_model_dir`` on ``data_dir`` and save it to ``output_dir``.

    The pretrain and warmup phases first when their epochs are > 0, then the books.
    Returns the metrics (on every process; only the main one writes files).
    """
    started = time.perf_counter()
    datasets = load_from_disk(str(data_dir))
    for split in ("train", "validation"):
        if split not in datasets or datasets[split].num_rows == 0:
            raise UserError(f"{data_dir}: the {split} split has no rows; training needs train "
                            "rows to learn from and validation rows to pick the best epoch.")
    if params["warmup_epochs"] > 0 and (WARMUP_SPLIT not in datasets
                                        or datasets[WARMUP_SPLIT].num_rows == 0):
        raise UserError(
            f"params.yaml: train.warmup_epochs is {params['warmup_epochs']:g}, but {data_dir} "
            f"has no {WARMUP_SPLIT} split to warm up on. Set filter_books.warmup_categories "
            "(e.g. to others: the train reviews of every other product category) and run "
            "dvc repro, or set train.warmup_epochs to 0.")
    train_set = datasets["train"].select_columns(["input_ids", "labels"])
    validation = datasets["validation"]
    eval_set = validation.select_columns(["input_ids", "labels"])

    cuda = torch.cuda.is_available()
    if not cuda:
        set_cpu_threads(params["cpu_threads"])
    model, tokenizer = load_model(base_model_dir, device="cpu")
    fuse_gelu(model)  # the same activation in one kernel; the saved model does not change
    precision = resolve_precision(params["precision"], model.config.model_type, cuda,
                                  cuda and torch.cuda.is_bf16_supported())

    key = run_key(params, rouge_params, data_dir, base_model_dir)
    run_dir = checkpoints_root / key
    if is_main_process():
        remove_other_runs(checkpoints_root, run_dir)
    curves = Curves(live_dir)
    early: dict[str, Phase] = {}
    for name, epochs_key, rate_key in EARLY_PHASES:
        if params[epochs_key] > 0:
            model, early[name] = early_phase(
                name, model, tokenizer,
                functools.partial(early_phase_rows, name, datasets, params,
                                  tokenizer.eos_token_id),
                params[epochs_key], {**params, "learning_rate": params[rate_key]}, precision,
                cuda, run_dir, curves, sum(p.steps for p in early.values()), callbacks)
    early_steps = sum(p.steps for p in early.values())

    resume = last_checkpoint(run_dir)
    best = params["best_metric"]
    args = _arguments(params, run_dir, precision, cuda, params["epochs"], validate=True)
    rouge = Rouge(rouge_params, sentence_texts(load_splits(data_dir)))
    trainer = CheckedTrainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
        compute_metrics=_validation_metrics(rouge, tokenizer, list(validation["review_title"]),
                                            list(validation["language"]),
                                            list(validation["labels"])),
        callbacks=[LiveCallback(curves, offset=early_steps),
                   throughput := Throughput(), *callbacks],
    )
    main = trainer.is_world_process_zero()
    # After early phases, validate the model they made too: the books phase has to beat it.
    start = trainer.evaluate() if early else None
    if resume is not None:
        log.info("resuming from %s", resume)
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    curves.close()

    state = trainer.state
    metrics = quality_metrics(state.log_history, state.global_step, best, params["epochs"],
                              train_set.num_rows, eval_set.num_rows)
    kept = "books"
    if start is not None:
        metrics["books_start_validation"] = validation_scores(start)
        before, after = start[f"eval_{best}"], metrics["best_validation"][best]
        if (after < before) if best != "loss" else (after > before):
            kept = list(early)[-1]
            metrics["best_epoch"], metrics["best_step"] = 0, 0
            metrics["best_validation"] = metrics["books_start_validation"]
            if main:
                log.warning("no books epoch beat the model of the %s phase on validation %s "
                            "(%.4g against %.4g): keeping that model", kept, best, after, before)
    metrics["kept"] = kept
    for name, epochs_key, _ in EARLY_PHASES:
        if name in early:
            metrics[name] = {"epochs": params[epochs_key], "optimizer_steps": early[name].steps,
                             "rows": early[name].rows, "final_train_loss": early[name].final_loss}
    seconds = output.metrics["train_runtime"] + sum(p.seconds for p in early.values())
    tokens = throughput.tokens + sum(p.tokens for p in early.values())
    speed = {
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "processes": trainer.args.world_size,
        "precision": precision,
        "cpu_threads": 0 if cuda else torch.get_num_threads(),
        "resumed_from_step": int(resume.name.removeprefix("checkpoint-")) if resume else 0,
        **{f"{name}_seconds": round(early[name].seconds, 2) if name in early else 0.0
           for name, *_ in EARLY_PHASES},
        "train_seconds": round(seconds, 2),
        "train_samples_per_second": round(output.metrics["train_samples_per_second"], 3),
        "train_input_tokens_per_second": round(tokens / max(seconds, 1e-9), 1),
    }
    if main and kept == "books":
        save_trained(trainer, tokenizer, output_dir)
    elif main:
        with atomic_path(output_dir) as tmp:
            shutil.copytree(run_dir / kept / "model", tmp, dirs_exist_ok=True)
    trainer.accelerator.wait_for_everyone()
    if main:
        shutil.rmtree(run_dir, ignore_errors=True)
    speed["wall_seconds"] = round(time.perf_counter() - started, 2)
    return TrainResult(metrics, speed, main)


def save_trained(trainer: Seq2SeqTrainer, tokenizer, output_dir: Path) -> None:
    """The (best) model and the tokenizer, safetensors, written atomically."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    with atomic_path(output_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)


def quality_metrics(history: Sequence[Mapping[str, Any]], steps: int, best_metric: str,
                    epochs: int, train_rows: int, validation_rows: int) -> dict[str, Any]:
    """What ``metrics/train.json`` reports: losses and validation scores, no times."""
    losses = [entry for entry in history if "loss" in entry]
    evals = [entry for entry in history if "eval_loss" in entry]
    key = f"eval_{best_metric}"
    sign = -1 if best_metric == "loss" else 1
    # The Trainer keeps the first epoch among equals, as max() does.
    best = max(evals, key=lambda entry: sign * entry[key]) if evals else None

    return {
        "epochs": epochs,
        "optimizer_steps": steps,
        "train_rows": train_rows,
        "validation_rows": validation_rows,
        "final_train_loss": _round(losses[-1]["loss"]) if losses else None,
        "best_metric": best_metric,
        "best_epoch": int(round(best["epoch"])) if best else None,
        "best_step": best["step"] if best else None,
        "best_validation": validation_scores(best) if best else {},
        "last_validation": validation_scores(evals[-1]) if evals else {},
    }


def validation_scores(entry: Mapping[str, Any]) -> dict[str, float]:
    """Loss, ROUGE and generated length of one validation (a Trainer log entry)."""
    return {name: _round(entry[f"eval_{name}"])
            for name in ("loss", *ROUGE_TYPES, "gen_len") if f"eval_{name}" in entry}


def _round(value: float) -> float:
    if not math.isfinite(value):
        raise NonFiniteLossError(f"a logged training value is {value}; no model was written.")
    return round(float(value), 6)


def launch_cpu_processes(processes: int, command: Sequence[str], threads: int = 1) -> int:
    """Run ``command`` as ``processes`` data-parallel processes on this machine's CPU.

    Each gets the variables that ``torchrun`` sets (the Trainer then trains over
    gloo, each process on its share of every batch) and ``threads`` OpenMP threads
    (0: the cores shared out); the exit status is the first
    failing process's, after the others are stopped, or 0.
    """
    with socket.socket() as probe:  # a free port for the processes to meet on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    children = {}
    for rank in range(processes):
        env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
               "WORLD_SIZE": str(processes), "RANK": str(rank), "LOCAL_RANK": str(rank),
               "LOCAL_WORLD_SIZE": str(processes),
               "OMP_NUM_THREADS": str(threads or max(1, (os.cpu_count() or 1) // processes))}
        child = subprocess.Popen(list(command), env=env)
        children[child.pid] = child
    status = 0
    try:
        while children:
            pid, code = os.wait()  # the next process to end
            if children.pop(pid, None) is None:
                continue
            code = os.waitstatus_to_exitcode(code)
            if code != 0 and status == 0:
                status = code if code > 0 else 128 - code
                for other in children.values():
                    other.terminate()
    finally:
        for child in children.values():
            child.kill()
    return status


@stage_entry
def main() -> None:
    params = load_params("train", SPEC)
    rouge_params = load_rouge_params()
    require_output(INPUT, "dataset_dict.json")
    require_output(BASE_MODEL, "config.json")
    if (params["cpu_processes"] > 1 and "RANK" not in os.environ
            and not torch.cuda.is_available()):
        log.info("training in %d CPU processes", params["cpu_processes"])
        sys.exit(launch_cpu_processes(params["cpu_processes"],
                                      [sys.executable, "-m", "stages.train"],
                                      params["cpu_threads"]))
    if not is_main_process():  # the main process reports; the others only warn
        logging.getLogger().setLevel(logging.WARNING)
    result = train_model(params, rouge_params)
    if not result.main_process:
        return
    write_json(METRICS, result.metrics)
    write_json(SPEED, result.speed)
    log.info("best epoch %s: %s", result.metrics["best_epoch"], result.metrics["best_validation"])


if __name__ == "__main__":
    main()
