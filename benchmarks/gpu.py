"""GPU throughput: training tokens/s and generation summaries/s, with model FLOP utilisation.

Two randomly initialised models: the project's scratch T5 and one shaped like
mT5-small (d_model 512, d_ff 1024, 8+8 layers, 6 heads, d_kv 64, vocab 250,112,
gated-gelu). Ours: bf16 (autocast for training, bf16 weights for generation),
length-grouped batches with dynamic padding, large batches, and the train stage's
step (fused GELU, the loss on the title tokens alone). Reference: the
course's settings (fp32, batch 8, dataset order, dynamic padding per batch).
Inputs are synthetic token ids with review-like lengths, so the script needs
no data and no tokenizer. Writes results.json / results.md in the same format
as ``python -m benchmarks``.

    python -m benchmarks.gpu --device cuda --peak-tflops 989   # on a GPU machine
    python -m benchmarks.gpu --device cpu --tiny               # the same code on the CPU
(``bash benchmarks/gpu.sh``, the GPU check, runs it after the pipeline's stages.)
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.flops import matmul_flops_per_second, model_matmul_shapes, t5_training_flops
from benchmarks.harness import compare, machine_info, markdown_table, write_results

MAX_SOURCE, MAX_TARGET = 512, 30  # the course's max_input_length / max_target_length

MT5_SMALL_SHAPE = dict(vocab_size=250112, d_model=512, d_ff=1024, num_layers=8,
                       num_decoder_layers=8, num_heads=6, d_kv=64,
                       feed_forward_proj="gated-gelu", tie_word_embeddings=False)
#: Used when stages.base_model cannot be imported (e.g. a bare copy of benchmarks/).
FALLBACK_SCRATCH = dict(vocab_size=4000, d_model=128, d_ff=256, num_layers=2,
                        num_decoder_layers=2, num_heads=4, d_kv=32,
                        feed_forward_proj="gated-gelu", tie_word_embeddings=False)
TINY = dict(vocab_size=512, d_model=32, d_ff=64, num_layers=2, num_decoder_layers=2,
            num_heads=2, d_kv=16, feed_forward_proj="gated-gelu")
SPECIAL = dict(pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)


def scratch_config_kwargs() -> tuple[dict[str, Any], str]:
    """The project's default scratch model shape (from stages.base_model when available)."""
    try:
        from benchmarks.stage_api import scratch_model_config

        config = scratch_model_config()
        keys = ("vocab_size", "d_model", "d_ff", "num_layers", "num_decoder_layers",
                "num_heads", "d_kv", "feed_forward_proj")
        # As stages.base_model builds it (Transformers 5 reads False as "don't scale").
        return ({**{k: getattr(config, k) for k in keys}, "tie_word_embeddings": False},
                "stages.base_model")
    except Exception:  # noqa: BLE001  (any failure: fall back to the documented shape)
        return dict(FALLBACK_SCRATCH), "fallback shape (stages.base_model not importable)"


def synthetic_lengths(count: int, seed: int = 0) -> list[tuple[int, int]]:
    """Review-like ``(source, target)`` token lengths: long-tailed bodies, short titles."""
    rng = np.random.default_rng(seed)
    source = np.clip(np.round(rng.lognormal(math.log(70), 0.8, count)), 8, MAX_SOURCE)
    target = np.clip(np.round(rng.lognormal(math.log(7), 0.5, count)), 2, MAX_TARGET)
    return [(int(s), int(t)) for s, t in zip(source, target, strict=True)]


def synthetic_examples(lengths: list[tuple[int, int]], vocab: int, seed: int = 0
                       ) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed + 1)
    examples = []
    for s, t in lengths:
        source = rng.integers(3, vocab, s)
        target = rng.integers(3, vocab, t)
        source[-1] = target[-1] = SPECIAL["eos_token_id"]
        examples.append((source, target))
    return examples


def batches(indices: list[int], examples: list, batch_size: int, group_by_length: bool,
            seed: int = 0) -> list[list[int]]:
    """Batches of example indices; length-grouped ones sort by length, then shuffle batches."""
    if group_by_length:
        order = sorted(indices, key=lambda i: -len(examples[i][0]))
        groups = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        np.random.default_rng(seed).shuffle(groups)
        return groups
    return [indices[i:i + batch_size] for i in range(0, len(indices), batch_size)]


def collate(examples: list, batch: list[int], device: str, labels: bool = True):
    """Pad to the batch's longest (as DataCollatorForSeq2Seq does); labels padded with -100."""
    import torch

    s_len = max(len(examples[i][0]) for i in batch)
    input_ids = torch.zeros(len(batch), s_len, dtype=torch.long)
    mask = torch.zeros(len(batch), s_len, dtype=torch.long)
    for row, i in enumerate(batch):
        input_ids[row, :len(examples[i][0])] = torch.from_numpy(examples[i][0])
        mask[row, :len(examples[i][0])] = 1
    out = {"input_ids": input_ids.to(device), "attention_mask": mask.to(device)}
    if labels:
        t_len = max(len(examples[i][1]) for i in batch)
        label = torch.full((len(batch), t_len), -100, dtype=torch.long)
        for row, i in enumerate(batch):
            label[row, :len(examples[i][1])] = torch.from_numpy(examples[i][1])
        out["labels"] = label.to(device)
    return out


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def train_throughput(model, examples: list, *, batch_size: int, group_by_length: bool,
                     bf16: bool, device: str, budget_s: float, train_stage_step: bool,
                     warmup_steps: int = 2) -> dict[str, float]:
    """Tokens/s (non-pad source + target tokens) of AdamW steps after ``warmup_steps``.

    ``train_stage_step``: the step as the train stage takes it (fused GELU, the loss on
    the title tokens alone); else the model's own loss, as the course's Trainer.
    """
    import torch

    from stages.lib.loss import IGNORED_LABEL, TargetTokenLoss
    from stages.lib.training import fuse_gelu, output_layer_on

    model.train()
    if train_stage_step:
        fuse_gelu(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5.6e-5, weight_decay=0.01,
                                  **({"fused": True} if device.startswith("cuda") else {}))
    plan = batches(list(range(len(examples))), examples, batch_size, group_by_length)
    tokens, lengths, steps, start = 0, [], 0, None
    for step, batch in enumerate(plan * 100):
        if step == warmup_steps:
            _sync(device)
            start = time.perf_counter()
        inputs = collate(examples, batch, device)
        with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16,
                            enabled=bf16):
            if train_stage_step:
                inputs["decoder_input_ids"] = model.prepare_decoder_input_ids_from_labels(
                    labels=inputs["labels"])
                labels = inputs.pop("labels")  # as the train stage's TargetLogitsOnly
                with output_layer_on(model, labels != IGNORED_LABEL):
                    outputs = model(**inputs, use_cache=False)
                loss = TargetTokenLoss()(outputs, labels)
            else:
                loss = model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if start is not None:
            steps += 1
            pairs = [(len(examples[i][0]), len(examples[i][1])) for i in batch]
            lengths += pairs
            tokens += sum(s + t for s, t in pairs)
            if time.perf_counter() - start >= budget_s:
                break
    _sync(device)
    seconds = time.perf_counter() - start
    flops = t5_training_flops(model.config, lengths)
    del optimizer
    return {"tokens_per_s": tokens / seconds, "flops_per_s": flops / seconds, "steps": steps,
            "seconds": seconds}


def generation_throughput(model, examples: list, *, batch_size: int, sort_by_length: bool,
                          device: str, max_new_tokens: int = MAX_TARGET, num_beams: int = 1
                          ) -> tuple[dict[str, float], list[list[int]]]:
    """Summaries/s of greedy generation over all ``examples``; also the outputs in order."""
    import torch

    model.eval()
    indices = list(range(len(examples)))
    if sort_by_length:
        indices.sort(key=lambda i: -len(examples[i][0]))
    outputs: list[list[int] | None] = [None] * len(examples)
    _sync(device)
    start = time.perf_counter()
    with torch.inference_mode():
        for first in range(0, len(indices), batch_size):
            batch = indices[first:first + batch_size]
            inputs = collate(examples, batch, device, labels=False)
            generated = model.generate(**inputs, max_new_tokens=max_new_tokens,
                                       num_beams=num_beams, do_sample=False).tolist()
            for i, row in zip(batch, generated, strict=True):
                outputs[i] = row
    _sync(device)
    seconds = time.perf_counter() - start
    return {"summaries_per_s": len(examples) / seconds, "seconds": seconds}, outputs


def _strip(ids: list[int]) -> list[int]:
    return [i for i in ids if i not in (SPECIAL["pad_token_id"], SPECIAL["eos_token_id"])]


def bench_model(label: str, config_kwargs: dict[str, Any], args: argparse.Namespace
                ) -> list[dict[str, Any]]:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    device = args.device
    torch.manual_seed(0)
    config = T5Config(**config_kwargs, **SPECIAL)
    examples = synthetic_examples(synthetic_lengths(args.examples), config.vocab_size)
    parameters = None

    def fresh_model(dtype):
        nonlocal parameters
        torch.manual_seed(0)
        model = T5ForConditionalGeneration(config).to(device=device, dtype=dtype)
        parameters = sum(p.numel() for p in model.parameters())
        return model

    peak = matmul_flops_per_second(
        model_matmul_shapes(config, args.batch_size * 128), device=device,
        dtype=torch.bfloat16 if device != "cpu" else torch.float32,
        min_seconds=0.05 if args.tiny else 0.3)
    nominal = args.peak_tflops * 1e12 if args.peak_tflops else None
    entries = []

    # Training: both sides see the same examples; tokens/s counts non-pad tokens.
    train = {}
    for side, settings in (("ours", dict(batch_size=args.batch_size, group_by_length=True,
                                         bf16=True, train_stage_step=True)),
                           ("reference", dict(batch_size=8, group_by_length=False,
                                              bf16=False, train_stage_step=False))):
        model = fresh_model(torch.float32)  # fp32 master weights; ours autocasts to bf16
        train[side] = [train_throughput(model, examples, device=device,
                                        budget_s=args.budget_s, **settings)
                       for _ in range(args.repeats)]
        del model
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    ours_fps = float(np.median([r["flops_per_s"] for r in train["ours"]]))
    ref_fps = float(np.median([r["flops_per_s"] for r in train["reference"]]))
    # Transformers 5 always ties T5's lm_head to the embeddings, so an "untied" mT5 shape
    # counts fewer parameters than mT5-small's 300M; the FLOPs (lm_head matmul) are the same.
    details = {"parameters": parameters, "config": config_kwargs,
               "matmul_peak_flops_per_s": peak["best"], "matmul_per_shape": peak["per_shape"],
               "achieved_flops_per_s": {"ours": ours_fps, "reference": ref_fps},
               "mfu_vs_measured_matmul": {"ours": ours_fps / peak["best"],
                                          "reference": ref_fps / peak["best"]},
               "settings": {"ours": f"bf16 autocast, batch {args.batch_size}, length-grouped, "
                                    "the train stage's step (fused GELU, title-token loss)",
                            "reference": "fp32, batch 8, dataset order"}}
    if nominal:
        details["mfu_vs_nominal_peak"] = {"ours": ours_fps / nominal,
                                          "reference": ref_fps / nominal}
    entries.append(compare(
        f"gpu_train_{label}", title=f"GPU training, {label} model (tokens/s)", unit="tokens/s",
        ours=[r["tokens_per_s"] for r in train["ours"]],
        reference=[r["tokens_per_s"] for r in train["reference"]],
        reference_name="course settings (fp32, batch 8)", higher_is_better=True,
        details=details))

    # Generation: the same examples, greedy, up to 30 new tokens.
    gen_examples = examples[:args.gen_examples]
    generation, outputs = {}, {}
    for side, dtype, settings in (
            ("ours", torch.bfloat16, dict(batch_size=args.gen_batch_size, sort_by_length=True)),
            ("reference", torch.float32, dict(batch_size=8, sort_by_length=False))):
        model = fresh_model(dtype)
        generation[side] = []
        for _ in range(args.repeats):
            result, outputs[side] = generation_throughput(model, gen_examples, device=device,
                                                          num_beams=args.num_beams, **settings)
            generation[side].append(result)
        del model
    differing = sum(_strip(a) != _strip(b)
                    for a, b in zip(outputs["ours"], outputs["reference"], strict=True))
    entries.append(compare(
        f"gpu_generation_{label}", title=f"GPU generation, {label} model (summaries/s)",
        unit="summaries/s", ours=[r["summaries_per_s"] for r in generation["ours"]],
        reference=[r["summaries_per_s"] for r in generation["reference"]],
        reference_name="course loop (fp32, batch 8, dataset order)", higher_is_better=True,
        details={"examples": len(gen_examples), "max_new_tokens": MAX_TARGET,
                 "num_beams": args.num_beams,
                 "differing_summaries": differing,
                 "note": "bf16 vs fp32 weights: outputs of a random model may differ"}))
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny models and inputs: checks the code path in seconds")
    parser.add_argument("--models", default="scratch,mt5-small")
    parser.add_argument("--examples", type=int, default=4096)
    parser.add_argument("--gen-examples", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--gen-batch-size", type=int, default=128)
    parser.add_argument("--num-beams", type=int, default=1,
                        help="beams for generation (the evaluate stage's default is 4)")
    parser.add_argument("--budget-s", type=float, default=10.0,
                        help="seconds of timed training steps per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="the GPU's nominal dense bf16 TFLOP/s (H200: 989), for a 2nd MFU")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/gpu"))
    args = parser.parse_args(argv)
    if args.tiny:
        args.examples, args.gen_examples = min(args.examples, 48), min(args.gen_examples, 16)
        args.batch_size, args.gen_batch_size = min(args.batch_size, 8), min(args.gen_batch_size,
                                                                             8)
        args.budget_s, args.repeats = min(args.budget_s, 0.5), min(args.repeats, 1)

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("no CUDA device: use --device cpu (with --tiny to check the code path)")
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False  # the course's fp32 is true fp32
    scratch, scratch_source = scratch_config_kwargs()
    shapes = {"scratch": scratch, "mt5-small": MT5_SMALL_SHAPE}
    started = time.perf_counter()
    entries = []
    for label in args.models.split(","):
        kwargs = dict(TINY) if args.tiny else dict(shapes[label])
        entries += bench_model(label, kwargs, args)
        print(f"{label}: done after {time.perf_counter() - started:.0f} s", flush=True)
    results = {"machine": machine_info(), "quick": bool(args.tiny), "repeats": args.repeats,
               "device": args.device,
               "input": {"description": f"synthetic token ids, {args.examples} review-like "
                                        f"lengths; scratch shape from {scratch_source}"},
               "benchmarks": entries}
    write_results(results, args.out)
    print(markdown_table(results))
    for entry in entries:
        mfu = entry["details"].get("mfu_vs_measured_matmul")
        if mfu:
            print(f"{entry['name']}: model FLOP utilisation ours {mfu['ours']:.1%}, "
                  f"reference {mfu['reference']:.1%} of measured matmul "
                  f"{entry['details']['matmul_peak_flops_per_s'] / 1e12:.1f} TFLOP/s")
    print(f"wrote {args.out}/results.json and results.md in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
