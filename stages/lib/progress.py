"""What the train stage prints while it trains: one progress bar, one line per validation.

The Trainer's own console output (a bar per process, its log dictionaries printed
raw into the bar, a bar per validation) is replaced by :class:`PhaseProgress`: the
main process shows one bar for the phase, with the latest loss beside it, and a
line per validation and per finished phase. The other processes print nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tqdm import tqdm
from transformers import PrinterCallback, ProgressCallback, Trainer, TrainerCallback

from stages.lib.rouge import ROUGE_TYPES

log = logging.getLogger("train")

_NAMES = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L", "rougeLsum": "ROUGE-Lsum"}


def validation_line(phase: str, when: str, metrics: Mapping[str, Any]) -> str:
    """One line of a validation's scores, e.g. ``books, epoch 1 (step 100): ROUGE-1 13.24 ...``."""
    scores = "  ".join(f"{_NAMES[name]} {metrics[f'eval_{name}']:.2f}" for name in ROUGE_TYPES
                       if f"eval_{name}" in metrics)
    loss = f"  loss {metrics['eval_loss']:.4f}" if "eval_loss" in metrics else ""
    return f"{phase}, {when}: {scores}{loss}"


def use_phase_progress(trainer: Trainer, phase: str) -> None:
    """Replace the Trainer's console output with :class:`PhaseProgress`."""
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(PhaseProgress(phase))


class PhaseProgress(TrainerCallback):
    """A progress bar over the phase's optimizer steps and a line per validation (main
    process only)."""

    def __init__(self, phase: str) -> None:
        self.phase = phase
        self.bar: tqdm | None = None
        self.validations = 0

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.validations = sum("eval_loss" in entry for entry in state.log_history)
            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc=self.phase,
                            unit="step", leave=False, dynamic_ncols=True)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is not None and logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not state.is_world_process_zero or not metrics:
            return
        if self.bar is None:  # before training: the model the phase starts from
            when = "start (the model of the phase before)"
        else:
            self.validations += 1
            when = f"epoch {self.validations} (step {state.global_step})"
        self._say(validation_line(self.phase, when, metrics))

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            seconds = self.bar.format_dict["elapsed"]
            self.bar.close()
            self.bar = None
            losses = [entry["loss"] for entry in state.log_history if "loss" in entry]
            last = f", last loss {losses[-1]:.4f}" if losses else ""
            self._say(f"{self.phase} phase done: {state.global_step} steps in "
                      f"{seconds:.0f} s{last}")

    def _say(self, line: str) -> None:
        if self.bar is not None:
            with self.bar.external_write_mode():
                log.info("%s", line)
        else:
            log.info("%s", line)
