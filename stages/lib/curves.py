"""The train stage's curves, from the Trainer's logs: live ones (DVCLive) and the rows the
stage's charts draw.

Every phase logs about :data:`CURVE_POINTS` points whatever its length, so a short
run (the bundled sample's) has curves as a long one does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

#: Keys of the Trainer's logs that are not training curves (times, speeds, totals).
_NOT_CURVES = ("runtime", "per_second", "flos", "num_input_tokens_seen", "epoch", "step",
               "model_preparation_time")


#: Points of the training curves per phase (the logging interval follows from it).
CURVE_POINTS = 50


def logging_interval(steps: int) -> int:
    """Optimizer steps between two logged points of a phase of ``steps`` steps."""
    return max(1, steps // CURVE_POINTS)


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

    ``train/loss``, ``train/learning_rate``, ``train/grad_norm`` at every logged point
    (:func:`logging_interval`); ``eval/loss``, ``eval/rouge*`` and ``eval/gen_len`` after
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


def training_rows(histories: Mapping[str, Sequence[Mapping[str, Any]]]
                  ) -> list[dict[str, Any]]:
    """``{step, phase, loss, learning_rate}`` rows of the phases' logged training points.

    ``histories``: each phase's log history, in the order the phases ran; steps are
    counted from the start of the first phase.
    """
    rows, offset = [], 0
    for phase, history in histories.items():
        steps = 0
        for entry in history:
            steps = max(steps, int(entry.get("step", 0)))
            if "loss" in entry and "learning_rate" in entry:
                rows.append({"step": entry["step"] + offset, "phase": phase,
                             "loss": round(float(entry["loss"]), 6),
                             "learning_rate": float(f"{entry['learning_rate']:.6g}")})
        offset += steps
    return rows


def epoch_rows(history: Sequence[Mapping[str, Any]], start: Mapping[str, float]
               ) -> list[dict[str, Any]]:
    """``{epoch, step, loss, rouge1, rouge2, rougeL}`` of each validation of the books phase.

    Epoch 0 is ``start``, the validation of the model the phase started from (when
    another phase ran before it); epochs count validations.
    """
    keys = ("loss", "rouge1", "rouge2", "rougeL")
    rows = [{"epoch": 0, "step": 0, **{key: round(float(start[key]), 4) for key in keys}}
            ] if start else []
    validations = [entry for entry in history if "eval_loss" in entry]
    for epoch, entry in enumerate(validations, start=1):
        rows.append({"epoch": epoch, "step": entry["step"],
                     **{key: round(float(entry[f"eval_{key}"]), 4) for key in keys}})
    return rows
