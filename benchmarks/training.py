"""Benchmark 3: training step throughput (tokens/s) on the CPU with the default scratch model.

Both sides train the same base model for one epoch over the same rows (the
first rows of our tokenized train split) and are timed from the start of
training to the end of the last optimizer step (evaluation and saving excluded):

- ours: ``stages.train.train_model`` with params.yaml's train settings (epochs: 1, the
  books phase only), in ``train.cpu_processes`` data-parallel processes started as the
  stage starts them;
- ours, one process: the same in this process (``cpu_processes: 1``), which also
  leaves a trained model for the generation benchmark;
- reference: a plain ``Seq2SeqTrainer`` with the course's settings (batch 8,
  random order, fp32, ``DataCollatorForSeq2Seq``).

Tokens are the non-padding source and target tokens of the rows trained on.
Achieved FLOP/s (model FLOPs of those rows, forward + backward) is compared with
the FLOP/s of ``torch.matmul`` on the model's own shapes on this CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.context import Context
from benchmarks.flops import matmul_flops_per_second, model_matmul_shapes, t5_training_flops
from benchmarks.harness import compare, median, run_interleaved
from benchmarks.stage_api import PARAMS, stage_params

MIN_SPEEDUP = 1.5
COURSE = {"batch_size": 8, "learning_rate": 5.6e-5, "weight_decay": 0.01}
#: The "tuned" side: params.yaml's settings in one process, in the benchmark's own.
TUNED = {"cpu_processes": 1}
SHOWN = ("batch_size", "sampler", "precision", "cpu_threads", "cpu_processes")


def _clock():
    """A Trainer callback timing training from its start to the end of the last step."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.start = self.end = 0.0
            self.steps = 0

        def on_train_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            self.end = time.perf_counter()
            self.steps += 1

    return StepClock()


def run_ours(params: dict[str, Any], data: Path, base_model: Path, work: Path) -> float:
    """Seconds of one epoch of the train stage's training loop."""
    from stages.lib.rouge import load_rouge_params
    from stages.train import train_model

    clock = _clock()
    rouge_params = load_rouge_params(PARAMS)
    # The books phase's loop alone: the early phases (pretrain, others) run the same loop on
    # other rows, and cpu_processes only applies when the stage starts itself (main()).
    # One epoch exactly (no min_phase_steps), on the titles the course trains on.
    one_epoch = {**params, "epochs": 1, "pretrain_epochs": 0, "others_epochs": 0,
                 "min_phase_steps": 0, "targets": "titles"}
    train_model(one_epoch, rouge_params, data_dir=data, base_model_dir=base_model,
                output_dir=work / "model", checkpoints_root=work / "checkpoints",
                live_dir=work / "dvclive", callbacks=[clock])
    return clock.end - clock.start


def run_ours_in_processes(params: dict[str, Any], data: Path, base_model: Path,
                          work: Path) -> float:
    """:func:`run_ours` in ``params["cpu_processes"]`` processes, as the train stage runs."""
    from stages.lib.launch import launch_processes

    result = work / "seconds.json"
    command = [sys.executable, "-m", "benchmarks.training", "--params", json.dumps(params),
               "--data", str(data), "--base-model", str(base_model), "--work", str(work),
               "--result", str(result)]
    status = launch_processes(params["cpu_processes"], command, params["cpu_threads"])
    if status != 0:
        raise RuntimeError(f"the training processes failed (exit status {status})")
    return json.loads(result.read_text())["seconds"]


def run_course(data: Path, base_model: Path, work: Path) -> float:
    """Seconds of one epoch with the course's Trainer settings."""
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments

    from stages.lib.data import load_splits
    from stages.lib.generation import load_model

    model, tokenizer = load_model(base_model, device="cpu")
    train = Dataset(load_splits(data)["train"].select(["input_ids", "labels"]))
    batch_size = COURSE["batch_size"]
    args = Seq2SeqTrainingArguments(
        output_dir=str(work / "course"),
        learning_rate=COURSE["learning_rate"],
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size,
        weight_decay=COURSE["weight_decay"],
        num_train_epochs=1,
        predict_with_generate=True,
        logging_steps=max(1, len(train) // batch_size),
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=42,
    )
    clock = _clock()
    trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=train,
                             data_collator=DataCollatorForSeq2Seq(tokenizer, model=model),
                             processing_class=tokenizer, callbacks=[clock])
    trainer.train()
    return clock.end - clock.start


def benchmark(ctx: Context) -> list[dict[str, Any]]:
    import shutil
    import tempfile

    import torch

    from stages.lib.data import load_splits
    from stages.lib.generation import load_model

    # --quick: half the rows, still 8 optimizer steps of params.yaml's batch of 64 (with 64
    # rows, one or two steps timed the processes' start-up and reversed the verdict).
    rows = 512 if ctx.quick else 1024
    # Validation rows only feed the stage's end-of-epoch evaluation, which is not timed.
    data = ctx.train_subset(rows, 2)
    base_model = ctx.base_model()
    params = stage_params("train")
    train_table = load_splits(data)["train"]
    lengths = [(len(s), len(t)) for s, t in zip(train_table["input_ids"].to_pylist(),
                                               train_table["labels"].to_pylist(), strict=True)]
    tokens = sum(s + t for s, t in lengths)
    model = load_model(base_model, device="cpu")[0]
    config, parameters = model.config, sum(p.numel() for p in model.parameters())
    del model
    flops = t5_training_flops(config, lengths)
    repeats = max(2, ctx.repeats - 2) if not ctx.quick else 2
    # The course sets no threads: torch's default (or --threads). The train stage sets its
    # own (train.cpu_threads), for the whole process, so the course's is set before each run.
    default_threads = torch.get_num_threads()
    ours_threads = params.get("cpu_threads") or default_threads

    def side(name: str):
        def run() -> dict[str, float]:
            work = Path(tempfile.mkdtemp(prefix=f"train-{name}-", dir=ctx.scratch))
            if name.startswith("course"):
                torch.set_num_threads(ours_threads if name == "course_same_threads"
                                      else default_threads)
                seconds = run_course(data, base_model, work)
            elif name == "ours" and params["cpu_processes"] > 1:
                seconds = run_ours_in_processes(params, data, base_model, work)
            else:
                settings = params if name == "ours" else {**params, **TUNED}
                seconds = run_ours(settings, data, base_model, work)
                if name == "tuned":  # a trained model for the generation benchmark
                    target = ctx.scratch / "trained_model"
                    shutil.rmtree(target, ignore_errors=True)
                    shutil.move(str(work / "model"), str(target))
            shutil.rmtree(work, ignore_errors=True)
            return {"tokens_per_s": tokens / seconds, "flops_per_s": flops / seconds}
        return run

    names = ["ours", "tuned", "course"]
    if ours_threads != default_threads:  # also the course with our threads: what's left
        names.append("course_same_threads")
    try:
        runs = run_interleaved({name: side(name) for name in names}, repeats)
    finally:
        torch.set_num_threads(default_threads)
    mean_source = sum(s for s, _ in lengths) / len(lengths)
    # The CPU's limit: matmul on all the threads torch would use by default.
    # The shapes of one process's share of a step (train.batch_size is the global batch).
    per_process = params["batch_size"] // max(1, params["cpu_processes"])
    peak = matmul_flops_per_second(
        model_matmul_shapes(config, int(per_process * mean_source)))
    flops_s = {name: median(r["flops_per_s"] for r in side_runs)
               for name, side_runs in runs.items()}
    details = {
        "rows": len(lengths), "tokens": tokens, "model_flops_per_epoch": flops,
        "parameters": parameters,
        "torch_threads": {"ours": ours_threads, "reference": default_threads,
                          "matmul_peak": default_threads},
        "matmul_peak_flops_per_s": peak["best"], "matmul_per_shape": peak["per_shape"],
        "achieved_flops_per_s": flops_s,
        "mfu_vs_measured_matmul": {name: value / peak["best"] for name, value in flops_s.items()},
        "settings": {"ours": {k: params.get(k) for k in SHOWN},
                     "tuned": {**{k: params.get(k) for k in SHOWN}, **TUNED},
                     "reference": "course: batch 8, random order, fp32"},
    }
    entries = [
        compare("train", title="Training throughput, params.yaml settings (tokens/s)",
                unit="tokens/s", ours=[r["tokens_per_s"] for r in runs["ours"]],
                reference=[r["tokens_per_s"] for r in runs["course"]],
                reference_name="course Trainer settings (batch 8, random order, fp32)",
                higher_is_better=True, min_ratio=MIN_SPEEDUP, details=details),
        compare("train_tuned", title=f"Training throughput, train stage with "
                                     f"{', '.join(f'{k}: {v}' for k, v in TUNED.items())} "
                                     "(tokens/s)",
                unit="tokens/s", ours=[r["tokens_per_s"] for r in runs["tuned"]],
                reference=[r["tokens_per_s"] for r in runs["course"]],
                reference_name="course Trainer settings (batch 8, random order, fp32)",
                higher_is_better=True,
                details={"mfu_vs_measured_matmul": details["mfu_vs_measured_matmul"],
                         "note": "the train stage's own params; see the `train` entry's "
                                 "details for FLOP/s and the matmul limit"}),
    ]
    if "course_same_threads" in runs:
        for name, what in (("ours", "params.yaml settings"), ("tuned", "one process")):
            entries.append(compare(
                f"train{'_tuned' if name == 'tuned' else ''}_same_threads",
                title=f"Training throughput, {what} vs the course on {ours_threads} "
                      "thread(s) too (tokens/s)",
                unit="tokens/s", ours=[r["tokens_per_s"] for r in runs[name]],
                reference=[r["tokens_per_s"] for r in runs["course_same_threads"]],
                reference_name=f"course Trainer settings, torch threads {ours_threads}",
                higher_is_better=True,
                details={"note": "the gain without the thread setting (train.cpu_threads)"}))
    return entries


def main() -> None:
    """One of the data-parallel processes of the ``ours`` side (see run_ours_in_processes)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--base-model", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args()
    from stages.lib.launch import is_main_process

    seconds = run_ours(json.loads(args.params), args.data, args.base_model, args.work)
    if is_main_process():
        args.result.write_text(json.dumps({"seconds": seconds}))


if __name__ == "__main__":
    main()
