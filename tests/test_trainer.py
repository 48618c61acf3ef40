"""The train stage's Trainer: the target-token loss through the public compute_loss_func,
the optional speed layer, validation rows in order (a private override; the other, no
false "missing keys" warning, is pinned in test_train.py), and the logged loss of other
models over two processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from datasets import Dataset
from transformers import (
    AutoModelForSeq2SeqLM,
    PegasusConfig,
    Seq2SeqTrainingArguments,
    T5Config,
    TrainerCallback,
)

from stages.base_model import save_model
from stages.lib.generation import load_model
from stages.lib.loss import TargetTokenLoss
from stages.lib.trainer import CheckedTrainer, NonFiniteLossError, TrainStageTrainer
from tests.conftest import copy_project, set_params
from tests.model_helpers import ROUGE, TRAIN, make_inputs, reviews, splits, table
from tests.test_train import run
from tests.test_training_speed import batch, first_step, gradients

pytestmark = pytest.mark.usefixtures("cpu_only")


def arguments(tmp_path, **extra) -> Seq2SeqTrainingArguments:
    return Seq2SeqTrainingArguments(output_dir=str(tmp_path / "trainer"), use_cpu=True,
                                    report_to="none", **extra)


def tiny_t5():
    torch.manual_seed(0)
    return AutoModelForSeq2SeqLM.from_config(T5Config(
        vocab_size=64, d_model=16, d_ff=32, d_kv=4, num_heads=2, num_layers=1,
        num_decoder_layers=1, dropout_rate=0.0, pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0)).train()


def test_the_speed_layer_gives_the_same_loss_and_gradients_from_target_logits_alone(tmp_path):
    """CheckedTrainer's loss (every position's logits) and TrainStageTrainer's (the output
    layer on the target positions alone): the same loss and gradients."""
    model = tiny_t5()
    inputs = batch(model)
    count = torch.tensor(2 * int((inputs["labels"] != -100).sum()))  # as accumulated
    rows = []
    model.get_output_embeddings().register_forward_hook(
        lambda module, args, output: rows.append(args[0].shape[:-1]))
    results = {}
    for trainer_class in (CheckedTrainer, TrainStageTrainer):
        trainer = trainer_class(model=model, args=arguments(tmp_path))
        assert isinstance(trainer.compute_loss_func, TargetTokenLoss)
        model.train()
        loss = trainer.compute_loss(model, dict(inputs), num_items_in_batch=count)
        loss.backward()
        results[trainer_class] = (loss.detach(), gradients(model))
    # The output layer mapped every decoder position, then only the 7 target tokens.
    assert rows == [inputs["labels"].shape, (7,)]
    (loss, grads), (fast_loss, fast_grads) = results.values()
    torch.testing.assert_close(fast_loss, loss, rtol=1e-5, atol=1e-6)
    assert grads.keys() == fast_grads.keys()
    for key, grad in grads.items():
        torch.testing.assert_close(fast_grads[key], grad, rtol=1e-4, atol=1e-6, msg=key)
    # Half the model's own loss: divided by the step's count, twice this batch's tokens.
    torch.testing.assert_close(loss, model(**inputs).loss.detach() / 2, rtol=1e-5, atol=1e-6)


def test_models_outside_the_target_loss_types_keep_the_trainers_loss(tmp_path):
    model = AutoModelForSeq2SeqLM.from_config(PegasusConfig(
        vocab_size=64, d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, max_position_embeddings=64))
    assert TrainStageTrainer(model=model, args=arguments(tmp_path)).compute_loss_func is None


def test_validation_rows_keep_their_order_under_group_by_length(tmp_path):
    """With train_sampling_strategy group_by_length the Trainer would sort validation rows
    by length too; predictions must line up with the rows' titles."""
    lengths = [3, 9, 1, 7, 5, 8, 2, 6, 4]
    rows = Dataset.from_dict({"input_ids": [[row + 2] * n for row, n in enumerate(lengths)],
                              "labels": [[row + 2] for row in range(len(lengths))]})

    def collate(features):
        longest = max(len(f["input_ids"]) for f in features)
        return {"input_ids": torch.tensor([f["input_ids"] + [0] * (longest - len(f["input_ids"]))
                                           for f in features]),
                "labels": torch.tensor([f["labels"] for f in features])}

    trainer = CheckedTrainer(model=tiny_t5(), args=arguments(
        tmp_path, train_sampling_strategy="group_by_length", per_device_eval_batch_size=2),
        eval_dataset=rows, data_collator=collate)
    seen = [int(row) for loaded in trainer.get_eval_dataloader()
            for row in loaded["input_ids"][:, 0]]
    assert seen == [row + 2 for row in range(len(lengths))]


def test_a_nan_loss_between_logging_steps_stops_training_before_the_next_save(tmp_path):
    """The loss is read only at steps that log, save, validate or end training (no wait for
    the step every step), yet training still stops before anything saves the NaN weights,
    naming the step where the loss first became NaN."""
    rows = Dataset.from_dict({"input_ids": [[5, 6, 7, 1]] * 16, "labels": [[8, 9, 1]] * 16})

    class BreakWeights(TrainerCallback):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step == 2:  # the loss of step 3 is NaN
                with torch.no_grad():
                    model.lm_head.weight.fill_(float("nan"))

    model = tiny_t5()

    def collate(features):  # equal lengths: no padding
        labels = torch.tensor([f["labels"] for f in features])
        return {"input_ids": torch.tensor([f["input_ids"] for f in features]), "labels": labels,
                "decoder_input_ids": model.prepare_decoder_input_ids_from_labels(labels=labels)}

    trainer = CheckedTrainer(model=model, args=arguments(
        tmp_path, per_device_train_batch_size=2, max_steps=8, logging_steps=100,
        save_strategy="steps", save_steps=5, logging_nan_inf_filter=False),
        train_dataset=rows, data_collator=collate, callbacks=[BreakWeights()])
    with pytest.raises(NonFiniteLossError, match=r"became nan at optimizer step 3 \(found at "
                                                 r"step 5\)"):
        trainer.train()
    assert trainer.state.global_step == 5
    assert not list((tmp_path / "trainer").glob("checkpoint-*"))


def pegasus_base(folder) -> None:
    """Replace the base model in ``folder`` by a tiny Pegasus with the same tokenizer: a
    model that takes **kwargs and averages its own batch's loss (no TargetTokenLoss)."""
    _, tokenizer = load_model(folder, device="cpu")
    torch.manual_seed(0)
    model = AutoModelForSeq2SeqLM.from_config(PegasusConfig(
        vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, max_position_embeddings=128, dropout=0.0, pad_token_id=0,
        eos_token_id=1, decoder_start_token_id=0))
    shutil.rmtree(folder)
    save_model(model, tokenizer, folder)


def test_logged_loss_of_a_model_averaging_its_batch_is_the_same_over_two_processes(tmp_path):
    """The Trainer multiplies such a model's loss by the number of processes (it expects
    one divided by all processes' tokens); the logged loss is the batch's own. Four copies
    of one row: each process's batch has the loss of the whole batch."""
    tables = {**splits(), "train": table(reviews(1) * 4, "tr")}
    one_step = {**TRAIN, "epochs": 1, "batch_size": 4, "best_metric": "loss"}
    inputs = make_inputs(tmp_path / "inputs", tables)
    pegasus_base(inputs[1])
    run(tmp_path, inputs, one_step)
    one_process = first_step(tmp_path / "out" / "live")

    project = copy_project(tmp_path / "processes")
    pegasus_base(make_inputs(project, tables)[1])
    set_params(project, train={**one_step, "cpu_processes": 2}, rouge=ROUGE)
    done = subprocess.run([sys.executable, "-m", "stages.train"], cwd=project,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((project / "metrics" / "train.json").read_text())["optimizer_steps"] == 1
    loss, _ = first_step(project / "dvclive" / "train")
    assert loss == pytest.approx(one_process[0], rel=1e-4)
