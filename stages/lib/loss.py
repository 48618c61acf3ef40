"""The training loss: the cross-entropy of the target tokens, averaged over all the target
tokens of an optimizer step (transformers issue #47688).

T5's, mT5's and BART's own loss is the mean over one batch. Transformers 5 passes such a
model ``num_items_in_batch`` (it takes ``**kwargs``), which the model ignores, and then
neither divides the loss by ``gradient_accumulation_steps`` nor averages it across
processes: the gradients came out that many times too large and were clipped at a fraction
of ``max_grad_norm``. :class:`TargetTokenLoss` is the Trainer's ``compute_loss_func``
instead: the summed cross-entropy divided by the step's target-token count, which the
Trainer then scales for its processes as it expects.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: Model types whose loss is the cross-entropy of their logits alone (each checked by
#: tests/test_training_speed.py against the model's own loss and gradients). Others (e.g.
#: mixtures of experts, which add router losses) train with the Trainer's own loss.
TARGET_LOSS_MODEL_TYPES = frozenset({"t5", "mt5", "umt5", "bart", "mbart"})

IGNORED_LABEL = -100  # label of padding positions (DataCollatorForSeq2Seq, the course)


def supports_target_token_loss(model: nn.Module) -> bool:
    """Whether :class:`TargetTokenLoss` computes ``model``'s own training loss."""
    return getattr(model.config, "model_type", None) in TARGET_LOSS_MODEL_TYPES


class TargetTokenLoss:
    """``compute_loss_func``: summed cross-entropy of the target tokens, divided by
    ``num_items_in_batch`` (None: this batch's target tokens).

    Takes the model's logits for every decoder position (batch, length, vocabulary) or,
    from :class:`~stages.lib.training.TargetLogitsOnly`, for the target positions alone
    (target tokens, vocabulary). ``label_smoothing``: as transformers' ``LabelSmoother``.
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        self.label_smoothing = label_smoothing

    def __call__(self, outputs: Any, labels: torch.Tensor,
                 num_items_in_batch: torch.Tensor | int | None = None) -> torch.Tensor:
        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        keep = labels != IGNORED_LABEL
        targets = labels[keep]
        if logits.shape[:-1] == labels.shape:
            logits = logits[keep]
        elif logits.shape[:-1] != targets.shape:
            raise RuntimeError(f"logits of shape {tuple(logits.shape)} match neither the labels "
                               f"{tuple(labels.shape)} nor their {targets.numel()} target tokens")
        total = F.cross_entropy(logits.float(), targets, reduction="sum",
                                label_smoothing=self.label_smoothing)
        if num_items_in_batch is None:
            num_items_in_batch = targets.numel()
        elif torch.is_tensor(num_items_in_batch):
            num_items_in_batch = num_items_in_batch.to(total.device)
        return total / num_items_in_batch
