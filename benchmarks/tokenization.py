"""Benchmark 2: tokenize — ours vs the raw fast tokenizer (the limit) and the course's map.

All three tokenize the same texts (our ``drop_short_titles`` output) with the
base model's tokenizer and the tokenize stage's params:

- ours: ``stages.tokenize.tokenize_splits`` (token ids into Arrow tables);
- raw: ``tokenizer(bodies)`` and ``tokenizer(text_target=titles)`` on Python
  lists made beforehand: the practical limit, as nothing can skip the tokenizer;
- course: ``DatasetDict.map(preprocess_function, batched=True)`` as the course writes it.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.context import Context
from benchmarks.harness import add_target, compare, run_interleaved
from benchmarks.stage_api import stage_params

MAX_SLOWDOWN = 1.3


def benchmark(ctx: Context) -> list[dict[str, Any]]:
    import datasets
    from datasets import Dataset, DatasetDict

    from stages.lib.data import load_splits
    from stages.tokenize import load_tokenizer, tokenize_splits

    params = stage_params("tokenize")
    max_input, max_target = params["max_input_length"], params["max_target_length"]
    tokenizer = load_tokenizer(ctx.base_model())
    tables = load_splits(ctx.dataset())
    texts = {split: (table["review_body"].to_pylist(), table["review_title"].to_pylist())
             for split, table in tables.items() if table.num_rows}
    # The course's map would otherwise reuse its cache files from the first run.
    datasets.disable_caching()
    dataset_dict = DatasetDict({split: Dataset(table) for split, table in tables.items()})

    def preprocess_function(examples):
        model_inputs = tokenizer(examples["review_body"], max_length=max_input, truncation=True)
        labels = tokenizer(text_target=examples["review_title"], max_length=max_target,
                           truncation=True)
        model_inputs["labels"] = labels["input_ids"]
        return model_inputs

    outputs: dict[str, Any] = {}

    def ours() -> dict[str, float]:
        start = time.perf_counter()
        result = tokenize_splits(tables, tokenizer, max_input, max_target)
        seconds = time.perf_counter() - start
        outputs["ours"] = result
        return {"seconds": seconds}

    def raw() -> dict[str, float]:
        start = time.perf_counter()
        result = {split: (tokenizer(bodies, max_length=max_input, truncation=True,
                                    return_attention_mask=False)["input_ids"],
                          tokenizer(text_target=titles, max_length=max_target, truncation=True,
                                    return_attention_mask=False)["input_ids"])
                  for split, (bodies, titles) in texts.items()}
        seconds = time.perf_counter() - start
        outputs["raw"] = result
        return {"seconds": seconds}

    def course() -> dict[str, float]:
        start = time.perf_counter()
        result = dataset_dict.map(preprocess_function, batched=True)
        seconds = time.perf_counter() - start
        outputs["course"] = result
        return {"seconds": seconds}

    runs = run_interleaved({"ours": ours, "raw": raw, "course": course}, ctx.repeats,
                           warmup=1)
    def column(side: str, split: str, name: str) -> list[list[int]]:
        table = outputs[side][split]
        return (table.data.table if side == "course" else table)[name].to_pylist()

    same = all(column("ours", split, "input_ids") == outputs["raw"][split][0]
               == column("course", split, "input_ids")
               and column("ours", split, "labels") == outputs["raw"][split][1]
               == column("course", split, "labels")
               for split in texts)
    rows = {split: len(bodies) for split, (bodies, _) in texts.items()}
    tokens = sum(len(row) for inputs, _ in outputs["raw"].values() for row in inputs)
    details = {"rows": rows, "input_tokens": tokens, "vocab_size": len(tokenizer),
               "same_ids_all_three": same, "max_input_length": max_input,
               "max_target_length": max_target}
    ours_s = [r["seconds"] for r in runs["ours"]]
    limit = compare(
        "tokenize", title="tokenize vs the raw fast tokenizer (wall time)", unit="s",
        ours=ours_s, reference=[r["seconds"] for r in runs["raw"]],
        reference_name="raw fast tokenizer(list_of_texts)", higher_is_better=False,
        ratio_kind="slowdown", max_ratio=MAX_SLOWDOWN,
        details={**details, "note": "ratio: our time / the raw tokenizer's (1 = at the limit)"})
    add_target(limit, "same token ids as the raw tokenizer and the course", same)
    course = compare(
        "tokenize_vs_course", title="tokenize vs the course's Dataset.map (wall time)",
        unit="s", ours=ours_s, reference=[r["seconds"] for r in runs["course"]],
        reference_name="course Dataset.map(preprocess_function, batched=True)",
        higher_is_better=False, details=details)
    return [limit, course]
