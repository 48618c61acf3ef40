"""Benchmark 4: evaluation generation (summaries/s) — ours vs the course's loop.

Both sides summarize the same rows of the evaluated split with the same model (the
pipeline's trained model from the dvc benchmark's copy when it ran, else the
training benchmark's, else the scratch base model), tokenized as the tokenize
stage does, with the evaluate stage's ``num_beams`` and ``max_new_tokens``:

- ours: ``stages.lib.generation.generate`` (what the evaluate stage calls:
  inputs sorted by length, batches of at most evaluate.batch_size rows and
  evaluate.batch_tokens padded input tokens, results in input order);
- reference: the course's loop: a DataLoader with ``DataCollatorForSeq2Seq``,
  batch 8, inputs in dataset order, ``model.generate`` and ``batch_decode`` per batch.

Summaries that differ between the two are counted (padding changes the numbers
a little, so greedy search may rarely pick another token); they must be under 1%.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.context import Context, Skip
from benchmarks.harness import add_target, compare, run_interleaved
from benchmarks.stage_api import stage_params

MIN_SPEEDUP = 2.0
MAX_DIFFERING = 0.01
COURSE_BATCH = 8


def course_loop(model, tokenizer, dataset, *, num_beams: int, max_new_tokens: int
                ) -> list[str]:
    """The course's evaluation loop (without the ROUGE bookkeeping)."""
    import torch
    from torch.utils.data import DataLoader
    from transformers import DataCollatorForSeq2Seq

    data_collator = DataCollatorForSeq2Seq(tokenizer, model=model)
    eval_dataloader = DataLoader(dataset, collate_fn=data_collator, batch_size=COURSE_BATCH)
    model.eval()
    predictions = []
    for batch in eval_dataloader:
        with torch.no_grad():
            generated_tokens = model.generate(
                batch["input_ids"].to(model.device),
                attention_mask=batch["attention_mask"].to(model.device),
                num_beams=num_beams, max_new_tokens=max_new_tokens, do_sample=False,
            )
        decoded_preds = tokenizer.batch_decode(generated_tokens.cpu(), skip_special_tokens=True)
        predictions += [pred.strip() for pred in decoded_preds]
    return predictions


def pick_model(ctx: Context) -> tuple[Path, str]:
    """The most trained model at hand: the pipeline's (from the dvc benchmark's copy), the
    training benchmark's (one epoch), or the untrained base model."""
    pipeline = ctx.cache.get("pipeline_model")
    if pipeline is not None and (pipeline / "config.json").is_file():
        return pipeline, ("data/train/model of the dvc benchmark's `dvc repro` "
                          f"({ctx.cache.get('pipeline_note', 'the project params')})")
    trained = ctx.scratch / "trained_model"
    if (trained / "config.json").is_file():
        return trained, "the training benchmark's model (one epoch)"
    return ctx.base_model(), "the untrained scratch base model"


def benchmark(ctx: Context) -> list[dict[str, Any]]:
    import torch
    from datasets import Dataset

    from stages.lib.data import load_splits
    from stages.lib.errors import UserError
    from stages.lib.generation import generate, load_model, set_cpu_threads
    from stages.tokenize import tokenize_table

    try:
        params = stage_params("evaluate")
    except (UserError, ImportError) as err:
        raise Skip(f"the evaluate stage or its params are missing ({err})") from None
    rows = 32 if ctx.quick else 512
    model_dir, model_note = pick_model(ctx)
    model, tokenizer = load_model(model_dir, device="cpu")
    tables = load_splits(ctx.dataset())
    split = params["split"] if tables.get(params["split"]) is not None \
        and tables[params["split"]].num_rows else "validation"
    table = tables[split].slice(0, rows)
    # Tokenized as the tokenize stage does, with the model's own tokenizer.
    tokenize = stage_params("tokenize")
    tokenized = tokenize_table(table, tokenizer, tokenize["max_input_length"],
                               tokenize["max_target_length"])
    input_ids = tokenized["input_ids"].to_pylist()
    dataset = Dataset.from_dict({"input_ids": input_ids})
    settings = {"num_beams": params["num_beams"], "max_new_tokens": params["max_new_tokens"]}
    outputs: dict[str, list[str]] = {}

    # The evaluate stage sets evaluate.cpu_threads; the course sets none (torch's default).
    default_threads = torch.get_num_threads()
    ours_threads = params.get("cpu_threads") or default_threads

    def ours() -> dict[str, float]:
        set_cpu_threads(ours_threads)
        start = time.perf_counter()
        result = generate(model, tokenizer, input_ids, batch_size=params["batch_size"],
                          batch_tokens=params["batch_tokens"], progress=False, **settings)
        seconds = time.perf_counter() - start
        outputs["ours"] = result.summaries
        outputs["ours_tokens"] = result.token_counts
        return {"summaries_per_s": len(input_ids) / seconds}

    def course(threads: int, key: str):
        def run() -> dict[str, float]:
            torch.set_num_threads(threads)
            start = time.perf_counter()
            outputs[key] = course_loop(model, tokenizer, dataset, **settings)
            seconds = time.perf_counter() - start
            return {"summaries_per_s": len(input_ids) / seconds}
        return run

    # Warm-up (first calls allocate and pick kernels), on a few rows only.
    generate(model, tokenizer, input_ids[:COURSE_BATCH], batch_size=COURSE_BATCH,
             progress=False, **settings)
    course_loop(model, tokenizer, dataset.select(range(min(COURSE_BATCH, len(dataset)))),
                **settings)
    repeats = min(ctx.repeats, 2) if ctx.quick else max(3, ctx.repeats - 2)
    candidates = {"ours": ours, "course": course(default_threads, "course")}
    if ours_threads != default_threads:  # also the course with our threads: what's left
        candidates["course_same_threads"] = course(ours_threads, "course_same_threads")
    try:
        runs = run_interleaved(candidates, repeats)
    finally:
        torch.set_num_threads(default_threads)
    differing = [i for i, (a, b) in enumerate(zip(outputs["ours"], outputs["course"],
                                                  strict=True)) if a != b]
    differing_spacing_only = [i for i in differing
                              if outputs["ours"][i].split() == outputs["course"][i].split()]
    fraction = len(differing) / len(input_ids)
    entry = compare(
        "generation", title="Evaluation generation (summaries/s)", unit="summaries/s",
        ours=[r["summaries_per_s"] for r in runs["ours"]],
        reference=[r["summaries_per_s"] for r in runs["course"]],
        reference_name="course loop (batch 8, dataset order, per-batch decode)",
        higher_is_better=True, min_ratio=MIN_SPEEDUP,
        details={
            "rows": len(input_ids), "split": split, "model": model_note,
            "batch_size": params["batch_size"], "batch_tokens": params["batch_tokens"],
            **settings,
            "torch_threads": {"ours": ours_threads, "reference": default_threads},
            "differing_summaries": len(differing),
            "differing_fraction": fraction,
            "differing_in_spacing_only": len(differing_spacing_only),
            "mean_summary_tokens": sum(outputs["ours_tokens"]) / len(input_ids),
            "examples_differing": [{"ours": outputs["ours"][i], "course": outputs["course"][i]}
                                   for i in differing[:3]],
        })
    add_target(entry, f"summaries differing < {MAX_DIFFERING:.0%}", fraction < MAX_DIFFERING)
    entries = [entry]
    if "course_same_threads" in runs:
        same_threads = sum(a != b for a, b in zip(outputs["ours"], outputs["course_same_threads"],
                                                  strict=True))
        entries.append(compare(
            "generation_same_threads",
            title=f"Evaluation generation vs the course on {ours_threads} thread(s) too "
                  "(summaries/s)", unit="summaries/s",
            ours=[r["summaries_per_s"] for r in runs["ours"]],
            reference=[r["summaries_per_s"] for r in runs["course_same_threads"]],
            reference_name=f"course loop, torch threads {ours_threads}", higher_is_better=True,
            details={"differing_summaries": same_threads,
                     "note": "the gain left without the thread setting (evaluate.cpu_threads)"}))
    return entries
