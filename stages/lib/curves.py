"""The train stage's curves (DVCLive) and token counts, from the Trainer's logs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

#: Keys of the Trainer's logs that are not training curves (times, speeds, totals).
_NOT_CURVES = ("runtime", "per_second", "flos", "num_input_tokens_seen", "epoch", "step",
               "model_preparation_time")


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
