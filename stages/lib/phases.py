"""The train stage's phases: what each learns from, and running one.

A phase is data (:class:`PhasePlan`: name, epochs, learning rate, whether it
validates) and :func:`run_phase` runs any of them. The train stage runs up to three,
in order, each starting from the model the one before it saved:

- ``pretrain``: the reviews of the train and others splits, each as input with its
  first ``train.pretrain_target_tokens`` tokens as target, ``train.pretrain_epochs``
  times. A small scratch model learns copying here, which it does not find on its own
  from titles. On a small dataset ``train.pretrain_min_steps`` adds passes, and those
  read each review from a fresh random word on: the same openings repeated that often
  are learned by heart instead of copied (the bundled sample).
- ``others``: the review/title pairs of the others split (other product categories;
  ``filter_books.others_categories``).
- ``books``: the train split's pairs, validated after every epoch (generation +
  ROUGE); the best epoch's weights are its result.

A phase's result is saved in ``<run>/<name>/model`` with a ``phase.json`` report, so
a run that is interrupted later resumes without redoing it. What the stage reports
from the phases, and which model it keeps: ``stages/lib/reports.py``.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict
from transformers import DataCollatorForSeq2Seq, TrainerCallback

from stages.lib.checkpoints import last_checkpoint
from stages.lib.curves import Curves, LiveCallback, logging_interval
from stages.lib.data import OTHERS_SPLIT
from stages.lib.generation import load_model
from stages.lib.launch import is_main_process
from stages.lib.progress import use_phase_progress
from stages.lib.rouge import ROUGE_TYPES
from stages.lib.trainer import NonFiniteLossError, TrainStageTrainer, trainer_arguments

log = logging.getLogger("train")

#: The phases in the order they run.
PHASES = ("pretrain", "others", "books")


@dataclass(frozen=True)
class PhasePlan:
    """One phase: its name (pretrain, others, books), length, rate, and whether it validates."""

    name: str
    epochs: float
    learning_rate: float
    validate: bool = False
    #: Optimizer steps it runs at least (more epochs over its rows when they give fewer).
    min_steps: int = 0


@dataclass
class PhaseReport:
    """What a finished phase reports (saved as its ``phase.json``)."""

    steps: int
    rows: int
    final_loss: float | None
    seconds: float
    tokens: int
    history: list[dict[str, Any]] = field(default_factory=list)
    #: Validation of the model the phase started from (validated phases after another).
    start_validation: dict[str, float] = field(default_factory=dict)
    resumed_from_step: int = 0
    samples_per_second: float = 0.0


def plan_phases(params: Mapping[str, Any]) -> list[PhasePlan]:
    """The phases the train params ask for: pretrain and others when their epochs are
    > 0, books always. Pretrain is one pass over the rows it makes (:func:`copy_pairs`,
    which hold its epochs and its minimum steps)."""
    plans = []
    if params["pretrain_epochs"] > 0:
        plans.append(PhasePlan("pretrain", 1.0, params["pretrain_learning_rate"]))
    if params["others_epochs"] > 0:
        plans.append(PhasePlan("others", params["others_epochs"], params["learning_rate"],
                               min_steps=params["min_phase_steps"]))
    return [*plans, PhasePlan("books", params["epochs"], params["learning_rate"], validate=True,
                              min_steps=params["min_phase_steps"])]


def copy_pairs(bodies: Sequence[Sequence[int]], epochs: float, min_rows: int,
               input_tokens: int, target_tokens: int, word_starts: np.ndarray,
               eos_token_id: int, seed: int) -> dict[str, list[list[int]]]:
    """The pretrain phase's examples, in passes over the reviews, each pass in a random
    order: each review's next ``input_tokens`` tokens as input and the first
    ``target_tokens`` of them as target, read from its opening for ``epochs`` passes'
    rows, then, to ``min_rows`` rows, from a random word (one that leaves
    ``target_tokens`` tokens when the review has them; the first word too).

    ``bodies``: tokenized reviews ending in EOS, as the tokenize stage writes them;
    ``word_starts``: :func:`word_start_table`. Seeded: the same rows on every run.
    """
    texts = [list(ids[:-1] if len(ids) and ids[-1] == eos_token_id else ids) for ids in bodies]
    texts = [text for text in texts if text]
    openings = math.ceil(epochs * len(texts))
    rows = max(openings, min_rows) if texts else 0
    rng = np.random.default_rng(seed)
    starts: list[list[int] | None] = [None] * len(texts)  # where each may start: found once
    inputs, labels = [], []
    while len(inputs) < rows:
        for index in rng.permutation(len(texts))[:rows - len(inputs)]:
            text = texts[index]
            if len(inputs) >= openings:
                if starts[index] is None:
                    starts[index] = [0, *(i for i in range(1, len(text) - target_tokens + 1)
                                          if word_starts[text[i]])]
                text = text[starts[index][rng.integers(len(starts[index]))]:]
            inputs.append(text[:input_tokens - 1] + [eos_token_id])
            labels.append(text[:target_tokens] + [eos_token_id])
    return {"input_ids": inputs, "labels": labels}


def closest_spans(inputs: Sequence[Sequence[int]], titles: Sequence[Sequence[int]],
                  word_starts: np.ndarray, min_words: int, max_words: int, max_tokens: int,
                  eos_token_id: int, margin: float = 0.0) -> list[list[int]]:
    """For each review, the span of its words closest to its title: from ``min_words``
    (or the whole review, if shorter) to ``max_words`` words and at most ``max_tokens``
    tokens, with the highest F1 of title tokens found in the span (ties: the shortest,
    then the earliest), ending in EOS. A span that does not open the review must beat
    the best one that does by ``margin`` (1: always the opening). A review that shares
    no token with its title gives its opening.

    ``word_starts[id]``: whether token ``id`` begins a word.
    """
    spans = []
    for review, title in zip(inputs, titles, strict=True):
        ids = np.asarray([t for t in review if t != eos_token_id], dtype=np.int64)
        wanted = np.asarray([t for t in title if t != eos_token_id and t >= 0], dtype=np.int64)
        if not len(ids):
            spans.append([eos_token_id])
            continue
        # counts[v, k]: occurrences of the title's v-th distinct token in the first k tokens.
        distinct, per_title = np.unique(wanted, return_counts=True)
        counts = np.zeros((len(distinct), len(ids) + 1), dtype=np.int64)
        counts[:, 1:] = np.cumsum(ids[None, :] == distinct[:, None], axis=1)
        starts = np.flatnonzero(word_starts[ids])
        if not len(starts) or starts[0] != 0:  # the review begins with a word piece
            starts = np.concatenate([[0], starts])
        bounds = np.append(starts, len(ids))  # a span ends where a word starts, or at the end
        begin = starts[:, None]
        end = bounds[None, :]
        length = end - begin
        words = np.arange(len(bounds))[None, :] - np.arange(len(starts))[:, None]
        valid = ((words >= min(min_words, len(starts))) & (words <= max_words)
                 & (length <= max_tokens) & (length > 0))
        if not valid.any():  # no whole words fit in max_tokens: the first max_tokens tokens
            spans.append(ids[:max_tokens].tolist() + [eos_token_id])
            continue
        # Title tokens found in each span, each counted at most as often as the title has it.
        found = np.minimum(counts[:, end] - counts[:, begin], per_title[:, None, None]).sum(0)
        f1 = np.where(valid, 2 * found / np.maximum(length + len(wanted), 1), -1.0)
        f1[1:] -= margin  # spans that start later
        if f1.max() <= 0:  # nothing in common: the review's opening
            i = int(np.flatnonzero(valid.any(axis=1))[0])
            j = int(np.flatnonzero(valid[i])[0])
        else:
            best = np.flatnonzero(f1.ravel() == f1.max())  # row-major: earliest start first
            i, j = divmod(int(best[np.argmin(length.ravel()[best])]), end.shape[1])
        spans.append(ids[begin[i, 0]:end[0, j]].tolist() + [eos_token_id])
    return spans


def word_start_table(tokenizer) -> np.ndarray:
    """``table[id]``: whether token ``id`` begins a word (SentencePiece's "▁" marker)."""
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return np.asarray([p is not None and p.startswith("\u2581") for p in pieces])


def title_rows(split: Dataset, params: Mapping[str, Any], tokenizer) -> Dataset:
    """A split's review/title pairs, with the titles as targets or (``train.targets``:
    spans) the review's span closest to each title."""
    rows = split.select_columns(["input_ids", "labels"])
    if params["targets"] == "titles":
        return rows
    inputs = rows["input_ids"]  # Python lists: converted from Arrow once
    spans = closest_spans(inputs, rows["labels"], word_start_table(tokenizer),
                          params["span_min_words"], params["span_max_words"],
                          params["eval_max_new_tokens"], tokenizer.eos_token_id,
                          params["span_margin"])
    return Dataset.from_dict({"input_ids": inputs, "labels": spans})


def phase_rows(name: str, datasets: DatasetDict, params: Mapping[str, Any],
               tokenizer) -> Dataset:
    """The training rows of a phase (``input_ids``, ``labels``)."""
    if name == "books":
        return title_rows(datasets["train"], params, tokenizer)
    if name == "others":
        return title_rows(datasets[OTHERS_SPLIT], params, tokenizer)
    # Review bodies of the train and others splits; never validation or test books,
    # whose reviews the model is scored on.
    bodies = [ids for split in ("train", OTHERS_SPLIT) if split in datasets
              for ids in datasets[split]["input_ids"]]
    return Dataset.from_dict(copy_pairs(
        bodies, params["pretrain_epochs"], params["pretrain_min_steps"] * params["batch_size"],
        params["pretrain_input_tokens"], params["pretrain_target_tokens"],
        word_start_table(tokenizer), tokenizer.eos_token_id, params["seed"]))


def epoch_steps(epochs: float, rows: int, batch_size: int) -> int:
    """The optimizer steps that ``epochs`` epochs over ``rows`` rows take."""
    return math.ceil(epochs * math.ceil(rows / batch_size))


def phase_steps(epochs: float, rows: int, batch_size: int, min_steps: int) -> int:
    """The optimizer steps of a phase: -1 (``epochs`` decide) or ``min_steps`` when
    ``epochs`` would give fewer. A small dataset (the bundled sample) still gets
    enough steps to learn from; a large one is unaffected."""
    return min_steps if epoch_steps(epochs, rows, batch_size) < min_steps else -1


@dataclass
class PhaseContext:
    """What every phase of one run shares."""

    params: Mapping[str, Any]
    tokenizer: Any
    datasets: DatasetDict
    precision: str
    cuda: bool
    run_dir: Path
    curves: Curves
    callbacks: Sequence[TrainerCallback] = ()
    #: For validated phases: the validation rows and ``compute_metrics``.
    eval_set: Dataset | None = None
    compute_metrics: Any = None


def run_phase(plan: PhasePlan, model, context: PhaseContext, offset: int,
              first: bool) -> tuple[Any, PhaseReport]:
    """Train ``model`` through one phase; return the model it saved and its report.

    ``offset``: optimizer steps of the phases before (for the curves). ``first``:
    no phase ran before this one (so there is no starting model to validate).
    """
    folder = context.run_dir / plan.name
    done, report_file = folder / "model", folder / "phase.json"
    if report_file.is_file() and (done / "config.json").is_file():
        report = PhaseReport(**json.loads(report_file.read_text()))
        if is_main_process():
            context.curves.open()
            for entry in report.history:
                context.curves.log(entry, entry["step"] + offset)
        log.info("%s phase already done (%d steps): loading %s", plan.name, report.steps, done)
        model, _ = load_model(done, device="cpu")
        return model, report

    rows = phase_rows(plan.name, context.datasets, context.params, context.tokenizer)
    params = {**context.params, "learning_rate": plan.learning_rate}
    max_steps = phase_steps(plan.epochs, rows.num_rows, params["batch_size"],
                            plan.min_steps)
    steps = max(max_steps, epoch_steps(plan.epochs, rows.num_rows, params["batch_size"]))
    args = trainer_arguments(params, folder, context.precision, context.cuda, plan.epochs,
                             validate=plan.validate, max_steps=max_steps,
                             logging_steps=logging_interval(steps))
    # Validation fills the model's generation config with every default (max_length 20
    # among them), which the saved model would carry: it is saved with the one it had.
    generation_config = copy.deepcopy(model.generation_config)
    trainer = TrainStageTrainer(
        model=model, args=args, train_dataset=rows, processing_class=context.tokenizer,
        eval_dataset=context.eval_set if plan.validate else None,
        compute_metrics=context.compute_metrics if plan.validate else None,
        data_collator=DataCollatorForSeq2Seq(context.tokenizer, model=model),
        callbacks=[LiveCallback(context.curves, offset), *context.callbacks])
    use_phase_progress(trainer, plan.name)
    log.info("%s phase: %d rows, %g epochs", plan.name, rows.num_rows, plan.epochs)
    # The model an earlier phase made is validated too: this phase has to beat it.
    start = trainer.evaluate() if plan.validate and not first else {}
    resume = last_checkpoint(folder)
    if resume is not None:
        log.info("resuming the %s phase from %s", plan.name, resume)
    output = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    tokens = trainer.input_tokens_seen()
    history = [dict(entry) for entry in trainer.state.log_history]
    report = PhaseReport(steps=trainer.state.global_step, rows=rows.num_rows,
                         final_loss=final_loss(history), seconds=output.metrics["train_runtime"],
                         tokens=tokens, history=history,
                         start_validation=validation_scores(start) if start else {},
                         resumed_from_step=int(resume.name.removeprefix("checkpoint-"))
                         if resume else 0,
                         samples_per_second=output.metrics["train_samples_per_second"])
    unwrapped = trainer.accelerator.unwrap_model(trainer.model)
    unwrapped.generation_config = generation_config
    if is_main_process():
        shutil.rmtree(done, ignore_errors=True)
        unwrapped.save_pretrained(done)
        context.tokenizer.save_pretrained(done)
        # The report last and whole (it marks the phase done), then the checkpoints go.
        partial = report_file.with_name(f".{report_file.name}.tmp")
        partial.write_text(json.dumps(asdict(report)))
        os.replace(partial, report_file)
        for checkpoint in folder.glob("checkpoint-*"):
            shutil.rmtree(checkpoint, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    if plan.validate:  # the last phase: its model is saved; nothing starts from it
        return unwrapped, report
    # The next phase starts from the saved weights, as a resumed run does: the same bytes.
    model, _ = load_model(done, device="cpu")
    return model, report


# --- what a phase reports ------------------------------------------------------------------

def final_loss(history: Sequence[Mapping[str, Any]]) -> float | None:
    losses = [entry["loss"] for entry in history if "loss" in entry]
    return rounded(losses[-1]) if losses else None


def rounded(value: float) -> float:
    if not math.isfinite(value):
        raise NonFiniteLossError(f"a logged training value is {value}; no model was written.")
    return round(float(value), 6)


def validation_scores(entry: Mapping[str, Any]) -> dict[str, float]:
    """Loss, ROUGE and generated length of one validation (a Trainer log entry)."""
    return {name: rounded(entry[f"eval_{name}"])
            for name in ("loss", *ROUGE_TYPES, "gen_len") if f"eval_{name}" in entry}
