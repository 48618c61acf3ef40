"""Model FLOPs of T5 training, and the matmul FLOP/s this machine reaches on the model's shapes.

Achieved FLOP/s divided by measured matmul FLOP/s is the model FLOP
utilisation (MFU): how close training gets to what the hardware does on the
same matrix shapes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any


def t5_forward_flops(config: Any, source_length: int, target_length: int) -> float:
    """Matmul FLOPs of one forward pass of a T5 on one example (no padding).

    A matmul of (m×k)·(k×n) costs 2·m·k·n; embeddings, norms and softmax are ignored.
    """
    d, inner, d_ff = config.d_model, config.num_heads * config.d_kv, config.d_ff
    ff_matrices = 3 if getattr(config, "is_gated_act", False) else 2
    s, t = source_length, target_length
    encoder_layer = (8 * s * d * inner          # q, k, v, o projections
                     + 4 * s * s * inner        # scores and weighted values
                     + 2 * ff_matrices * s * d * d_ff)
    decoder_layer = (8 * t * d * inner + 4 * t * t * inner            # self-attention
                     + 4 * t * d * inner + 4 * s * d * inner          # cross-attention q, o; k, v
                     + 4 * t * s * inner                              # cross-attention scores
                     + 2 * ff_matrices * t * d * d_ff)
    decoder_layers = getattr(config, "num_decoder_layers", None) or config.num_layers
    lm_head = 2 * t * d * config.vocab_size
    return float(config.num_layers * encoder_layer + decoder_layers * decoder_layer + lm_head)


def t5_training_flops(config: Any, lengths: Iterable[tuple[int, int]]) -> float:
    """Training FLOPs (forward + backward ≈ 3× forward) over ``(source, target)`` lengths."""
    return 3.0 * sum(t5_forward_flops(config, s, t) for s, t in lengths)


def model_matmul_shapes(config: Any, tokens: int) -> list[tuple[int, int, int]]:
    """``(m, k, n)`` of the model's big matmuls for a batch of ``tokens`` tokens."""
    d, inner, d_ff = config.d_model, config.num_heads * config.d_kv, config.d_ff
    return [(tokens, d, inner), (tokens, inner, d), (tokens, d, d_ff), (tokens, d_ff, d),
            (tokens, d, config.vocab_size)]


def matmul_flops_per_second(shapes: Iterable[tuple[int, int, int]], *, device: str = "cpu",
                            dtype: Any = None, min_seconds: float = 0.3) -> dict[str, Any]:
    """Measured FLOP/s of ``torch.matmul`` on each shape; ``best`` is the machine's limit here."""
    import torch

    dtype = dtype or torch.float32
    per_shape = {}
    for m, k, n in shapes:
        a = torch.randn(m, k, device=device, dtype=dtype)
        b = torch.randn(k, n, device=device, dtype=dtype)
        torch.matmul(a, b)  # warm-up: allocation, kernel choice
        if device != "cpu":
            torch.cuda.synchronize()
        calls, start = 0, time.perf_counter()
        while True:
            torch.matmul(a, b)
            calls += 1
            if device != "cpu":
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds and calls >= 3:
                break
        per_shape[f"{m}x{k}x{n}"] = 2.0 * m * k * n * calls / elapsed
        del a, b
    return {"best": max(per_shape.values()), "per_shape": per_shape}
