"""The Trainer the train stage runs every phase with, and its settings.

:class:`CheckedTrainer` is ``Seq2SeqTrainer`` that stops at a non-finite loss before it
is logged or saved (without reading the loss every step), keeps validation rows in order
and, for the model types of :data:`~stages.lib.loss.TARGET_LOSS_MODEL_TYPES`, trains on
the loss of :class:`~stages.lib.loss.TargetTokenLoss` (averaged over the whole optimizer
step).
:class:`TrainStageTrainer`, what the stage runs, adds the speed layer
:class:`~stages.lib.training.TargetLogitsOnly`, which changes no result.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import SequentialSampler
from transformers import (
    EvalPrediction,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    TrainerCallback,
)

from stages.lib.errors import UserError
from stages.lib.generation import decode
from stages.lib.loss import TargetTokenLoss, supports_target_token_loss
from stages.lib.rouge import ROUGE_TYPES, Rouge
from stages.lib.training import TargetLogitsOnly

#: Model types of the T5 family: pre-trained in bfloat16, they overflow in float16.
T5_FAMILY = frozenset({"t5", "mt5", "umt5", "longt5", "switch_transformers"})

#: Optimizer steps between the checkpoints of phases that don't validate (pretrain,
#: others), which run for many steps without an epoch's checkpoint to resume from.
UNVALIDATED_SAVE_STEPS = 500


class NonFiniteLossError(UserError):
    """The training loss became NaN or infinite."""


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


# --- batches ------------------------------------------------------------------------------

def world_size() -> int:
    """The number of training processes (WORLD_SIZE, as torchrun and accelerate set it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def per_process_batch(batch_size: int, processes: int, accumulation: int) -> int:
    """Rows each process takes per forward pass so that an optimizer step sees ``batch_size``.

    ``train.batch_size`` is the global batch: one process, several CPU processes or
    GPUs run the same optimisation (the same steps over the same number of rows).
    """
    parts = processes * accumulation
    if batch_size % parts:
        raise UserError(
            f"params.yaml: train.batch_size ({batch_size}) is the number of rows per optimizer "
            f"step, shared by {processes} process(es) x {accumulation} accumulated batch(es) "
            f"(train.gradient_accumulation_steps); it must be a multiple of {parts}.")
    return batch_size // parts


class FiniteLossCheck(TrainerCallback):
    """Stops training with :class:`NonFiniteLossError` at the first optimizer step that
    logs, saves, validates or ends training after a NaN or infinite loss, so no such
    weights are ever saved or reported, and steps in between never wait for the loss."""

    def __init__(self, trainer: CheckedTrainer) -> None:
        self.trainer = trainer

    def on_step_end(self, args, state, control, **kwargs):
        # Called after the Trainer's own flow callback has set these flags for this step.
        if (control.should_log or control.should_save or control.should_evaluate
                or control.should_training_stop):
            self.trainer.raise_if_loss_was_nonfinite()

    def on_epoch_end(self, args, state, control, **kwargs):
        self.trainer.raise_if_loss_was_nonfinite()


class CheckedTrainer(Seq2SeqTrainer):
    """``Seq2SeqTrainer`` that stops after a NaN or infinite training loss, before it is
    logged or saved (:class:`FiniteLossCheck`), and counts input tokens without a sync.

    Validation rows stay in their order even with ``sampler: group_by_length`` (the
    Trainer would sort them too), so predictions line up with titles and languages.
    T5, mT5, umT5, BART and mBART models train on :class:`~stages.lib.loss.TargetTokenLoss`
    (the Trainer's public ``compute_loss_func``): the mean over all the target tokens of
    the optimizer step, across processes and accumulated batches, where their own loss
    gave gradients that many times too large (transformers issue #47688).
    """

    def __init__(self, model: Any, args: Seq2SeqTrainingArguments, **kwargs: Any) -> None:
        # Not under nn.DataParallel (n_gpu > 1): the Trainer then makes the token count one
        # per GPU and multiplies the loss by n_gpu, for losses computed inside each replica;
        # this one would be computed once, on the gathered logits (n_gpu times too large).
        if (supports_target_token_loss(model) and args.n_gpu <= 1
                and kwargs.get("compute_loss_func") is None):
            kwargs["compute_loss_func"] = TargetTokenLoss(args.label_smoothing_factor)
        super().__init__(model=model, args=args, **kwargs)
        #: (first optimizer step with a non-finite loss or 0, that loss), on the loss's device.
        self._nonfinite: tuple[torch.Tensor, torch.Tensor] | None = None
        self.add_callback(FiniteLossCheck(self))
        #: Non-padding input tokens this process trained on, summed where they are (the
        #: Trainer's own count, include_num_input_tokens_seen, waits for a gather every step).
        self._input_tokens: torch.Tensor | None = None

    def input_tokens_seen(self) -> int:
        """Non-padding input tokens trained on since this Trainer was made, all processes
        together. Every process must call it (a collective)."""
        tokens = (self._input_tokens if self._input_tokens is not None
                  else torch.zeros((), dtype=torch.long)).to(self.accelerator.device)
        return int(self.accelerator.reduce(tokens, reduction="sum"))

    def raise_if_loss_was_nonfinite(self) -> None:
        """Raise :class:`NonFiniteLossError` if a training loss so far was NaN or infinite."""
        if self._nonfinite is None or not int(self._nonfinite[0]):
            return
        step, value = int(self._nonfinite[0]), float(self._nonfinite[1])
        raise NonFiniteLossError(
            f"the training loss became {value} at optimizer step {step} (found at step "
            f"{self.state.global_step}), so training stopped and no model was written. Usual "
            f"causes: train.learning_rate ({self.args.learning_rate:g}) too high for this "
            "model, float16 overflow (train.precision), or a base model whose weights are "
            "already broken. Lower the learning rate or change the precision in params.yaml "
            "and run again.")

    def _issue_warnings_after_load(self, load_result) -> None:
        # The best epoch's weights are loaded from a checkpoint that, like every saved model,
        # leaves out the weights tied to others (T5's embeddings and output layer are the
        # shared embedding): those are not missing, and tying them again restores them.
        # Private: the Trainer calls it inside its own loading of the best model and offers
        # no public hook there. Pinned by test_train_writes_model_metrics_and_curves.
        tied = set(getattr(self.model, "all_tied_weights_keys", None) or {})
        missing = [key for key in load_result.missing_keys if key not in tied]
        if len(missing) < len(load_result.missing_keys):
            self.model.tie_weights()
        super()._issue_warnings_after_load(load_result._replace(missing_keys=missing))

    def _get_eval_sampler(self, eval_dataset):
        # Private: the Trainer picks the validation sampler from train_sampling_strategy,
        # so group_by_length would sort validation rows by length too, and no argument
        # separates the two; the public get_eval_dataloader would have to rebuild the whole
        # DataLoader (column removal, collator, workers, accelerate's sharding) to change
        # its sampler alone. This is the Trainer's own choice without grouping. Pinned by
        # tests/test_trainer.py (rows in order under group_by_length).
        return SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None

    def training_step(self, model, inputs, num_items_in_batch=None) -> torch.Tensor:
        mask, ids = inputs.get("attention_mask"), inputs["input_ids"]
        pad = getattr(self.processing_class, "pad_token_id", None)
        count = (mask.sum() if mask is not None else (ids != pad).sum() if pad is not None
                 else torch.tensor(ids.numel(), device=ids.device))
        self._input_tokens = count if self._input_tokens is None else self._input_tokens + count
        loss = super().training_step(model, inputs, num_items_in_batch)
        # Recorded on the loss's device, not read: reading it would wait for the step to
        # finish (a GPU sync every step). FiniteLossCheck reads it before anything uses it.
        step = self.state.global_step + 1
        bad = ~torch.isfinite(loss.detach()).all()
        if self._nonfinite is None:
            self._nonfinite = (torch.zeros((), dtype=torch.long, device=loss.device),
                               torch.zeros((), dtype=loss.dtype, device=loss.device))
        first, value = self._nonfinite
        new = bad & (first == 0)
        self._nonfinite = (torch.where(new, step, first),
                           torch.where(new, loss.detach().reshape(()), value))
        if (self.compute_loss_func is None and self.model_accepts_loss_kwargs
                and self.args.average_tokens_across_devices and num_items_in_batch is not None):
            # The loss returned here is what the Trainer logs (backward has run). For a model
            # that averages its own batch (no TargetTokenLoss) the Trainer multiplied it by
            # the number of processes, expecting a sum over all processes' tokens: its logs
            # would show that many times the loss.
            loss = loss / self.accelerator.num_processes
        return loss


class TrainStageTrainer(TargetLogitsOnly, CheckedTrainer):
    """What the train stage runs: :class:`CheckedTrainer` with the speed layer
    :class:`~stages.lib.training.TargetLogitsOnly` (the same loss from fewer logits)."""


def validation_metrics(rouge: Rouge, tokenizer, titles: Sequence[str],
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


def trainer_arguments(params: Mapping[str, Any], output_dir: Path, precision: str, cuda: bool,
                      epochs: float, validate: bool, max_steps: int = -1,
                      logging_steps: int = 1) -> Seq2SeqTrainingArguments:
    """The Trainer's settings for one phase (``validate``: the books phase).

    ``max_steps`` > 0 replaces ``epochs``; a validated phase then still validates
    ``epochs`` times, at even intervals. ``logging_steps``: optimizer steps between
    the points of the training curves.
    """
    lr_warmup = params["lr_warmup"]
    best = params["best_metric"]
    if validate and max_steps > 0:
        interval = math.ceil(max_steps / max(epochs, 1))
        when: dict[str, Any] = dict(eval_strategy="steps", save_strategy="steps",
                                    eval_steps=interval, save_steps=interval)
    elif validate:
        when = dict(eval_strategy="epoch", save_strategy="epoch")
    per_phase: dict[str, Any] = dict(
        **when, load_best_model_at_end=True,
        metric_for_best_model=best, greater_is_better=best != "loss",
    ) if validate else dict(
        # No validation; checkpoints every few hundred steps to resume from.
        eval_strategy="no", save_strategy="steps", save_steps=UNVALIDATED_SAVE_STEPS,
    )
    return Seq2SeqTrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=epochs,
        max_steps=max_steps,
        per_device_train_batch_size=per_process_batch(params["batch_size"], world_size(),
                                                      params["gradient_accumulation_steps"]),
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
        logging_steps=logging_steps,
        logging_nan_inf_filter=False,  # a NaN must stop training, not be averaged away
        include_num_input_tokens_seen="no",  # counted by CheckedTrainer, without a sync
        report_to="none",
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,
        **per_phase,
    )
