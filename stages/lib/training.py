"""Training-speed pieces for the train stage: the same math as transformers' defaults, less work.

- :func:`fuse_gelu`: transformers' ``gelu_new`` (mT5's and the scratch model's activation)
  computes the tanh approximation of GELU in eight tensor operations, each writing a
  tensor the size of the feed-forward layer, forward and backward; torch's
  ``gelu(approximate="tanh")`` is the same function in one kernel.
- :func:`target_token_loss`: a seq2seq model's forward applies the output layer (hidden
  size × vocabulary, the largest matmul of a small model) and the log-softmax to every
  decoder position, padding included; titles in a batch differ in length, so most
  positions are padding. This applies them to the title tokens alone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from transformers.activations import GELUTanh, NewGELUActivation

#: Model types whose forward applies the output layer once, to the decoder's last hidden
#: states, and whose loss is the cross-entropy of those logits alone (each checked by
#: tests/test_training_speed.py against the model's own loss and gradients). Others (e.g. mixtures
#: of experts, which add router losses) train with the Trainer's own loss.
TARGET_LOSS_MODEL_TYPES = frozenset({"t5", "mt5", "umt5", "bart", "mbart"})

IGNORED_LABEL = -100  # label of padding positions (DataCollatorForSeq2Seq, the course)


def fuse_gelu(model: nn.Module) -> int:
    """Swap ``gelu_new`` activations for torch's fused tanh GELU; returns how many.

    The modules hold no weights, so the state dict and the saved config stay the same.
    """
    swapped = 0
    for module in model.modules():
        for name, child in module.named_children():
            if isinstance(child, NewGELUActivation):
                setattr(module, name, GELUTanh())
                swapped += 1
    return swapped


def supports_target_token_loss(model: nn.Module) -> bool:
    """Whether :func:`target_token_loss` computes ``model``'s own training loss."""
    return (getattr(model.config, "model_type", None) in TARGET_LOSS_MODEL_TYPES
            and isinstance(model.get_output_embeddings(), nn.Linear))


@contextmanager
def output_layer_on(model: nn.Module, keep: torch.Tensor) -> Iterator[None]:
    """Within the block, ``model``'s output layer maps only the positions where ``keep``
    is true: logits come out as (number of kept positions, vocabulary)."""
    def select(module: nn.Module, args: tuple) -> tuple:
        return (args[0][keep], *args[1:])

    handle = model.get_output_embeddings().register_forward_pre_hook(select)
    try:
        yield
    finally:
        handle.remove()


def target_token_loss(model: nn.Module, unwrapped: nn.Module, inputs: Mapping[str, torch.Tensor],
                      divisor: torch.Tensor | int | None, label_smoothing: float = 0.0
                      ) -> torch.Tensor:
    """Summed cross-entropy of the title tokens of ``inputs``, divided by ``divisor``.

    ``model`` is what the Trainer calls (maybe wrapped for data parallelism),
    ``unwrapped`` the model inside it. ``inputs`` needs ``decoder_input_ids`` (from
    ``DataCollatorForSeq2Seq``); ``divisor`` is the number of title tokens the loss is
    averaged over (the Trainer's ``num_items_in_batch``; None: this batch's). Equals the
    model's own loss (``label_smoothing``: transformers' ``LabelSmoother``'s) up to
    float rounding.
    """
    labels = inputs["labels"]
    keep = labels != IGNORED_LABEL
    model_inputs = {name: value for name, value in inputs.items() if name != "labels"}
    with output_layer_on(unwrapped, keep):
        logits = model(**model_inputs, use_cache=False).logits
    targets = labels[keep]
    if logits.shape != (targets.numel(), unwrapped.get_output_embeddings().out_features):
        raise RuntimeError(f"the output layer of {type(unwrapped).__name__} gave logits of "
                           f"shape {tuple(logits.shape)} for {targets.numel()} title tokens")
    total = F.cross_entropy(logits.float(), targets, reduction="sum",
                            label_smoothing=label_smoothing)
    if divisor is None:
        divisor = targets.numel()
    elif torch.is_tensor(divisor):
        divisor = divisor.to(total.device)
    return total / divisor
