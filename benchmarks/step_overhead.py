"""Benchmark: the train stage's optimizer steps/s against a bare PyTorch loop (CPU).

Both sides train the same base model (the scratch T5) on the same batches, in this
process, on ``train.cpu_threads`` threads:

- ours: ``stages.train.train_model`` in one process (params.yaml's settings, the books
  phase alone, one epoch): the Trainer with everything the stage adds to a step
  (data loading and collation, the NaN check, logging, token counting, callbacks);
- reference: the batches the stage's own DataLoader yields, collated beforehand, fed
  to a plain loop: forward with the stage's loss (fused GELU, output layer on the
  target tokens), backward, gradient clipping, fused AdamW, the scheduler.

The difference is the stage's per-step overhead. Both are timed from the end of the
first optimizer step to the end of the last (the first pays one-off start-up), and
the batches' shapes are checked to be the same on both sides.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.context import Context
from benchmarks.harness import compare, run_interleaved
from benchmarks.stage_api import PARAMS, stage_params

#: The stage's steps may take at most this many times the bare loop's.
MAX_SLOWDOWN = 1.3
#: The books phase alone, one epoch, in one process.
ONE_EPOCH = {"epochs": 1, "pretrain_epochs": 0, "others_epochs": 0, "min_phase_steps": 0,
             "targets": "titles", "cpu_processes": 1}
BATCH_KEYS = ("input_ids", "attention_mask", "decoder_input_ids", "labels")


def _step_clock():
    """A Trainer callback: the time at the end of each optimizer step, and the shapes of
    the batches the model trained on (a forward pre-hook, removed when training ends)."""
    from transformers import TrainerCallback

    class StepClock(TrainerCallback):
        def __init__(self) -> None:
            self.ends: list[float] = []
            self.shapes: list[tuple] = []
            self._hook = None

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            def record(module, _args, inputs):
                if module.training:
                    self.shapes.append(tuple(tuple(inputs[key].shape) for key in BATCH_KEYS[:3]
                                             if key in inputs))
            self._hook = model.register_forward_pre_hook(record, with_kwargs=True)

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())

        def on_train_end(self, args, state, control, **kwargs):
            if self._hook is not None:
                self._hook.remove()

    return StepClock()


def steps_per_second(ends: Sequence[float]) -> float:
    """Optimizer steps/s from the end of the first step to the end of the last."""
    if len(ends) < 2:
        raise ValueError("timing needs at least two optimizer steps")
    return (len(ends) - 1) / (ends[-1] - ends[0])


def run_stage(params: Mapping[str, Any], data: Path, base_model: Path,
              work: Path) -> tuple[float, list[tuple]]:
    """Steps/s of the train stage's loop, and the shapes of the batches it trained on."""
    from stages.lib.rouge import load_rouge_params
    from stages.train import train_model

    clock = _step_clock()
    train_model({**params, **ONE_EPOCH}, load_rouge_params(PARAMS), data_dir=data,
                base_model_dir=base_model, output_dir=work / "model",
                checkpoints_root=work / "checkpoints", live_dir=work / "dvclive",
                callbacks=[clock])
    return steps_per_second(clock.ends), clock.shapes


def stage_batches(params: Mapping[str, Any], data: Path, base_model: Path,
                  work: Path) -> list[dict[str, Any]]:
    """The collated batches of one epoch, in order, from the DataLoader the stage's Trainer
    builds (same sampler, seed, collator and batch size)."""
    from datasets import Dataset, DatasetDict
    from transformers import DataCollatorForSeq2Seq, set_seed

    from stages.lib.data import load_splits
    from stages.lib.generation import load_model
    from stages.lib.phases import phase_rows
    from stages.lib.trainer import TrainStageTrainer, trainer_arguments

    settings = {**params, **ONE_EPOCH}
    model, tokenizer = load_model(base_model, device="cpu")
    splits = DatasetDict({name: Dataset(table) for name, table in load_splits(data).items()})
    rows = phase_rows("books", splits, settings, tokenizer)
    args = trainer_arguments(settings, work, "fp32", False, 1, validate=False)
    trainer = TrainStageTrainer(model=model, args=args, train_dataset=rows,
                                processing_class=tokenizer,
                                data_collator=DataCollatorForSeq2Seq(tokenizer, model=model))
    set_seed(args.seed)  # as Trainer.train() does before it draws the epoch's order
    return [{key: batch[key] for key in BATCH_KEYS if key in batch}
            for batch in trainer.get_train_dataloader()]


def run_bare(params: Mapping[str, Any], batches: Sequence[Mapping[str, Any]],
             base_model: Path) -> float:
    """Steps/s of a plain PyTorch loop taking the stage's step on ``batches``."""
    import torch
    from transformers import get_scheduler

    from stages.lib.generation import load_model
    from stages.lib.loss import IGNORED_LABEL, TargetTokenLoss
    from stages.lib.training import fuse_gelu, output_layer_on

    model, _ = load_model(base_model, device="cpu")
    fuse_gelu(model)
    model.train()
    # The Trainer's optimizer: fused AdamW, no weight decay on biases and norms.
    decay = [p for n, p in model.named_parameters() if "norm" not in n and "bias" not in n]
    rest = [p for n, p in model.named_parameters() if "norm" in n or "bias" in n]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": params["weight_decay"]},
                                   {"params": rest, "weight_decay": 0.0}],
                                  lr=params["learning_rate"], fused=True)
    warmup = params["lr_warmup"]
    scheduler = get_scheduler(params["scheduler"], optimizer,
                              num_warmup_steps=int(warmup if warmup >= 1
                                                   else warmup * len(batches)),
                              num_training_steps=len(batches))
    loss_of = TargetTokenLoss(params["label_smoothing"])
    ends = []
    for batch in batches:
        labels = batch["labels"]
        inputs = {key: batch[key] for key in BATCH_KEYS[:3] if key in batch}
        with output_layer_on(model, labels != IGNORED_LABEL):
            outputs = model(**inputs, use_cache=False)
        loss_of(outputs, labels).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        ends.append(time.perf_counter())
    return steps_per_second(ends)


def benchmark(ctx: Context, rows: int | None = None) -> list[dict[str, Any]]:
    import shutil

    import torch

    rows = rows or (1024 if ctx.quick else 2048)
    data = ctx.train_subset(rows, 2)
    base_model = ctx.base_model()
    params = stage_params("train")
    scratch = Path(tempfile.mkdtemp(prefix="overhead-", dir=ctx.scratch))
    batches = stage_batches(params, data, base_model, scratch / "batches")
    bare_shapes = sorted(tuple(tuple(batch[key].shape) for key in BATCH_KEYS[:3]
                               if key in batch) for batch in batches)
    threads = torch.get_num_threads()
    stage_shapes: list[list[tuple]] = []

    def stage() -> dict[str, float]:
        work = Path(tempfile.mkdtemp(dir=scratch))
        rate, shapes = run_stage(params, data, base_model, work)
        stage_shapes.append(sorted(shapes))
        shutil.rmtree(work, ignore_errors=True)
        return {"steps_per_s": rate}

    def bare() -> dict[str, float]:
        torch.set_num_threads(params["cpu_threads"] or threads)  # the stage's threads
        return {"steps_per_s": run_bare(params, batches, base_model)}

    try:
        runs = run_interleaved({"stage": stage, "bare": bare}, max(2, ctx.repeats))
    finally:
        torch.set_num_threads(threads)
        shutil.rmtree(scratch, ignore_errors=True)
    same = all(shapes == bare_shapes for shapes in stage_shapes)
    entry = compare(
        "train_overhead", title="Train stage's optimizer steps/s vs a bare PyTorch loop (CPU)",
        unit="steps/s", ours=[r["steps_per_s"] for r in runs["stage"]],
        reference=[r["steps_per_s"] for r in runs["bare"]],
        reference_name="bare loop: the same model, batches and step, no Trainer",
        higher_is_better=True, ratio_kind="slowdown", max_ratio=MAX_SLOWDOWN,
        details={"rows": sum(len(batch["input_ids"]) for batch in batches),
                 "optimizer_steps": len(batches),
                 "batch_size": params["batch_size"], "torch_threads": params["cpu_threads"],
                 "same_batches": same,
                 "note": "ratio: the bare loop's steps/s over the stage's (1 = no overhead)"})
    if not same:
        entry["targets"].append({"what": "same batches on both sides", "met": False})
    return [entry]

