"""What the train stage reports: ``metrics/train.json`` and ``metrics/train_speed.json``
from the phases' reports, and which phase's model is kept."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stages.lib.phases import PHASES, PhaseReport, rounded, validation_scores


def books_metrics(history: Sequence[Mapping[str, Any]], steps: int, best_metric: str,
                  epochs: int, train_rows: int, validation_rows: int) -> dict[str, Any]:
    """The validated phase's losses and validation scores (no times)."""
    losses = [entry for entry in history if "loss" in entry]
    evals = [entry for entry in history if "eval_loss" in entry]
    key = f"eval_{best_metric}"
    sign = -1 if best_metric == "loss" else 1
    # The Trainer keeps the first epoch among equals, as max() does. Epochs are counted
    # as validations: with min_phase_steps a phase validates once per epoch's share.
    best = max(evals, key=lambda entry: sign * entry[key]) if evals else None
    best_epoch = evals.index(best) + 1 if best else None
    return {
        "epochs": epochs,
        "optimizer_steps": steps,
        "train_rows": train_rows,
        "validation_rows": validation_rows,
        "final_train_loss": rounded(losses[-1]["loss"]) if losses else None,
        "best_metric": best_metric,
        "best_epoch": best_epoch,
        "best_step": best["step"] if best else None,
        "best_validation": validation_scores(best) if best else {},
        "last_validation": validation_scores(evals[-1]) if evals else {},
    }


def choose_kept(previous: str | None, start: Mapping[str, float], best: Mapping[str, float],
                best_metric: str) -> str:
    """Which phase's model is kept: ``books``, unless no books epoch beat the model the
    ``previous`` phase handed over (``start``) on ``best_metric``; ties keep books."""
    if previous is None or not start or best_metric not in best:
        return "books"
    before, after = start[best_metric], best[best_metric]
    worse = after > before if best_metric == "loss" else after < before
    return previous if worse else "books"


def train_metrics(reports: Mapping[str, PhaseReport], params: Mapping[str, Any],
                  validation_rows: int) -> dict[str, Any]:
    """``metrics/train.json``: the books phase's losses and validations, which phase's model
    is kept (a phase before books when no books epoch beat it: then its validation is
    the one reported, as epoch 0), and the rows, steps and final loss of the phases before."""
    books = reports["books"]
    metrics = books_metrics(books.history, books.steps, params["best_metric"], params["epochs"],
                            books.rows, validation_rows)
    previous = [name for name in reports if name != "books"]
    kept = choose_kept(previous[-1] if previous else None, books.start_validation,
                       metrics["best_validation"], params["best_metric"])
    if books.start_validation:
        metrics["books_start_validation"] = books.start_validation
    if kept != "books":
        metrics.update(best_epoch=0, best_step=0, best_validation=books.start_validation)
    metrics["kept"] = kept
    for name in previous:
        metrics[name] = {"epochs": params[f"{name}_epochs"], "optimizer_steps": reports[name].steps,
                         "rows": reports[name].rows, "final_train_loss": reports[name].final_loss}
    return metrics


def speed_report(reports: Mapping[str, PhaseReport], device: str, processes: int,
                 precision: str, cpu_threads: int) -> dict[str, Any]:
    """``metrics/train_speed.json``: times and throughput of all phases."""
    seconds = sum(report.seconds for report in reports.values())
    tokens = sum(report.tokens for report in reports.values())
    rows = sum(report.samples_per_second * report.seconds for report in reports.values())
    return {
        "device": device,
        "processes": processes,
        "precision": precision,
        "cpu_threads": cpu_threads,
        "resumed_from_step": max((r.resumed_from_step for r in reports.values()), default=0),
        **{f"{name}_seconds": round(reports[name].seconds, 2) if name in reports else 0.0
           for name in PHASES},
        "train_seconds": round(seconds, 2),
        "train_samples_per_second": round(rows / max(seconds, 1e-9), 3),
        "train_input_tokens": tokens,
        "train_input_tokens_per_second": round(tokens / max(seconds, 1e-9), 1),
    }
