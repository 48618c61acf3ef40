"""The train stage's loss and speed-ups keep the math: the target-token loss (from every
position's logits or the target positions' alone), fused GELU, and a gradient that is the
mean over all the target tokens of an optimizer step."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from transformers import (
    AutoModelForSeq2SeqLM,
    BartConfig,
    MBartConfig,
    MT5Config,
    T5Config,
    UMT5Config,
)
from transformers.activations import GELUTanh, NewGELUActivation
from transformers.trainer_pt_utils import LabelSmoother

from stages.lib.loss import TARGET_LOSS_MODEL_TYPES, TargetTokenLoss, supports_target_token_loss
from stages.lib.training import fuse_gelu, output_layer_on
from tests.conftest import copy_project, set_params
from tests.model_helpers import ROUGE, TRAIN, make_inputs, reviews, splits, table
from tests.test_train import curve, run

# In-process training takes the CPU path even where there is a GPU.
pytestmark = pytest.mark.usefixtures("cpu_only")

_T5 = dict(vocab_size=64, d_model=16, d_ff=32, d_kv=4, num_heads=2, num_layers=2,
           num_decoder_layers=1, dropout_rate=0.0, feed_forward_proj="gated-gelu",
           pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
_BART = dict(vocab_size=64, d_model=16, encoder_layers=1, decoder_layers=1,
             encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
             decoder_ffn_dim=32, max_position_embeddings=64, dropout=0.0,
             attention_dropout=0.0, activation_dropout=0.0, pad_token_id=1, bos_token_id=0,
             eos_token_id=2, decoder_start_token_id=2)
#: Tiny random models of each supported type; T5 both with its output layer tied to the
#: embeddings (which scales the decoder's output) and without, as mT5.
CONFIGS = {
    "t5": T5Config(**_T5),
    "t5-untied": T5Config(**_T5, tie_word_embeddings=False),
    "mt5": MT5Config(**_T5),
    "umt5": UMT5Config(**_T5),
    "bart": BartConfig(**_BART),
    "mbart": MBartConfig(**_BART),
}


def tiny_model(name: str):
    torch.manual_seed(0)
    return AutoModelForSeq2SeqLM.from_config(CONFIGS[name]).train()


def batch(model) -> dict[str, torch.Tensor]:
    """Three rows of different review and title lengths, padded as DataCollatorForSeq2Seq
    pads them (titles with -100)."""
    pad = model.config.pad_token_id
    generator = torch.Generator().manual_seed(1)
    sources = [torch.randint(3, 64, (n,), generator=generator) for n in (7, 5, 3)]
    targets = [torch.randint(3, 64, (n,), generator=generator) for n in (4, 2, 1)]
    input_ids = torch.full((3, 7), pad)
    attention_mask = torch.zeros((3, 7), dtype=torch.long)
    labels = torch.full((3, 4), -100)
    for row, (source, target) in enumerate(zip(sources, targets, strict=True)):
        input_ids[row, :len(source)] = source
        attention_mask[row, :len(source)] = 1
        labels[row, :len(target)] = target
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels,
            "decoder_input_ids": model.prepare_decoder_input_ids_from_labels(labels=labels)}


def gradients(model) -> dict[str, torch.Tensor]:
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    return grads


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_target_token_loss_equals_the_models_own_loss_and_gradients(name, label_smoothing):
    model = tiny_model(name)
    assert supports_target_token_loss(model)
    inputs = batch(model)
    labels = inputs["labels"]
    without_labels = {k: v for k, v in inputs.items() if k != "labels"}
    if label_smoothing:  # the Trainer's own way with label_smoothing_factor
        expected = LabelSmoother(epsilon=label_smoothing)(model(**without_labels), labels)
    else:
        expected = model(**inputs).loss
    expected.backward()
    expected_grads = gradients(model)

    loss_function = TargetTokenLoss(label_smoothing)
    # From every position's logits (the loss alone), then from the target positions' (the
    # output layer as TargetLogitsOnly runs it).
    full = loss_function(model(**without_labels), labels)
    full.backward()
    with output_layer_on(model, labels != -100):
        outputs = model(**without_labels, use_cache=False)
    tokens = int((labels != -100).sum())
    assert outputs.logits.shape == (tokens, model.config.vocab_size)
    selected = loss_function(outputs, labels)
    selected.backward()
    grads = gradients(model)  # the sum of both: twice the model's own
    for loss in (full, selected):
        torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-6)
    assert grads.keys() == expected_grads.keys()
    for key, grad in grads.items():
        torch.testing.assert_close(grad, 2 * expected_grads[key], rtol=1e-4, atol=1e-6, msg=key)

    # Divided by a given count of target tokens (the Trainer's num_items_in_batch) instead.
    halved = loss_function(model(**without_labels), labels, torch.tensor(2 * tokens))
    torch.testing.assert_close(halved, full.detach() / 2)
    with pytest.raises(RuntimeError, match="match neither"):
        loss_function(outputs, labels[:, :2])


def test_models_that_add_other_losses_keep_the_trainers_loss():
    from transformers import SwitchTransformersConfig

    model = AutoModelForSeq2SeqLM.from_config(SwitchTransformersConfig(
        vocab_size=64, d_model=16, d_ff=32, d_kv=4, num_heads=2, num_layers=2,
        num_decoder_layers=2, num_experts=2, dropout_rate=0.0))
    assert "switch_transformers" not in TARGET_LOSS_MODEL_TYPES
    assert not supports_target_token_loss(model)


def test_fused_gelu_is_the_same_function_and_keeps_the_weights():
    model = tiny_model("mt5").eval()
    assert model.config.dense_act_fn == "gelu_new"
    inputs = batch(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        before = model(**inputs).logits
    assert fuse_gelu(model) == 3  # one per feed-forward layer: 2 encoder, 1 decoder
    assert not any(isinstance(m, NewGELUActivation) for m in model.modules())
    with torch.no_grad():
        after = model(**inputs).logits
    # The same function through other float operations: each GELU output may differ in its
    # last bits (float32: ~1e-7 relative), and three layers and the output matmul can add
    # such differences up by a factor of tens, which vector code (AVX2, AVX-512) changes
    # from one CPU to the next. 1e-5 allows that and stays ten times below what a different
    # function gives: GELU with erf, whose values differ from tanh's by up to ~2e-4.
    tolerance = {"rtol": 1e-5, "atol": 1e-5}
    torch.testing.assert_close(after, before, **tolerance)
    with torch.no_grad():
        for module in model.modules():
            for name, child in module.named_children():
                if isinstance(child, GELUTanh):
                    setattr(module, name, torch.nn.GELU())  # erf: another function
        other = model(**inputs).logits
    with pytest.raises(AssertionError):
        torch.testing.assert_close(other, before, **tolerance)
    assert model.state_dict().keys() == state.keys()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    assert model.config.dense_act_fn == "gelu_new"  # the saved model is unchanged
    assert fuse_gelu(model) == 0


def first_step(live) -> tuple[float, float]:
    ((step, loss),) = curve(live, "train/loss")
    ((_, norm),) = curve(live, "train/grad_norm")
    assert step == 1
    return loss, norm


def test_a_step_is_the_same_in_one_batch_accumulated_or_over_two_processes(tmp_path):
    """One optimizer step over the same 4 rows: its loss and gradient norm (before
    clipping) are the mean over their title tokens however the rows are split. T5's
    own loss, the mean of each batch, gave twice the gradient in the last two."""
    tables = {**splits(), "train": table(reviews(4), "tr")}
    one_step = {**TRAIN, "epochs": 1, "best_metric": "loss"}
    inputs = make_inputs(tmp_path / "inputs", tables)
    results = {}
    # train.batch_size is the rows of an optimizer step however they are split.
    for name, params in {"batch_4": {"batch_size": 4},
                         "accumulated": {"batch_size": 4, "gradient_accumulation_steps": 2}
                         }.items():
        run(tmp_path, inputs, {**one_step, **params}, name=name)
        results[name] = first_step(tmp_path / name / "live")

    project = copy_project(tmp_path / "processes")
    make_inputs(project, tables)
    set_params(project, train={**one_step, "batch_size": 4, "cpu_processes": 2}, rouge=ROUGE)
    done = subprocess.run([sys.executable, "-m", "stages.train"], cwd=project,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((project / "metrics" / "train.json").read_text())["optimizer_steps"] == 1
    results["processes"] = first_step(project / "dvclive" / "train")

    loss, norm = results["batch_4"]
    assert norm > 0
    for name, (other_loss, other_norm) in results.items():
        assert other_loss == pytest.approx(loss, rel=1e-4), (name, results)
        assert other_norm == pytest.approx(norm, rel=1e-4), (name, results)
