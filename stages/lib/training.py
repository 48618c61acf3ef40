"""Training-speed pieces for the train stage: the same math as transformers' defaults, less work.

- :func:`fuse_gelu`: transformers' ``gelu_new`` (mT5's and the scratch model's activation)
  computes the tanh approximation of GELU in eight tensor operations, each writing a
  tensor the size of the feed-forward layer, forward and backward; torch's
  ``gelu(approximate="tanh")`` is the same function in one kernel.
- :class:`TargetLogitsOnly`: a seq2seq model's forward applies the output layer (hidden
  size × vocabulary, the largest matmul of a small model) and the log-softmax to every
  decoder position, padding included; targets in a batch differ in length, so most
  positions are padding. This Trainer layer applies them to the target tokens alone, for
  the loss of :class:`~stages.lib.loss.TargetTokenLoss` (the same loss, less work).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from transformers.activations import GELUTanh, NewGELUActivation

from stages.lib.loss import IGNORED_LABEL, TargetTokenLoss


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


class TargetLogitsOnly:
    """Trainer layer (a mixin, listed before the Trainer class): while training with
    :class:`~stages.lib.loss.TargetTokenLoss`, the model's output layer maps the target
    positions alone (:func:`output_layer_on`) and the loss takes those logits.

    Optional: a Trainer without it computes the same loss from every position's logits.
    Through ``compute_loss``, the Trainer's public hook around the model's forward.
    """

    def compute_loss(self, model: nn.Module, inputs: Mapping[str, Any],
                     return_outputs: bool = False,
                     num_items_in_batch: torch.Tensor | int | None = None) -> Any:
        unwrapped = self.accelerator.unwrap_model(model)
        # Outputs asked for (evaluation) must keep every position's logits; an output layer
        # other than a Linear may not map selected rows alone.
        if (return_outputs or not model.training or "labels" not in inputs
                or not isinstance(self.compute_loss_func, TargetTokenLoss)
                or not isinstance(unwrapped.get_output_embeddings(), nn.Linear)):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        with output_layer_on(unwrapped, inputs["labels"] != IGNORED_LABEL):
            # No decoder cache: a training forward reads none back.
            return super().compute_loss(model, {**inputs, "use_cache": False}, return_outputs,
                                        num_items_in_batch)
