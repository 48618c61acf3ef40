"""Stage train: a few steps of a tiny T5, resuming, NaN losses, precision, data parallelism."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import TrainerCallback

from stages.base_model import save_model
from stages.evaluate import evaluate_model
from stages.lib.checkpoints import last_checkpoint
from stages.lib.data import load_splits
from stages.lib.errors import UserError
from stages.lib.generation import load_model
from stages.lib.params import validate_section
from stages.lib.phases import PhaseReport
from stages.lib.reports import choose_kept, train_metrics
from stages.lib.rouge import ROUGE_TYPES, Rouge, sentence_texts
from stages.lib.trainer import (
    CheckedTrainer,
    NonFiniteLossError,
    resolve_precision,
    validation_metrics,
)
from stages.train import SPEC, train_model
from tests.conftest import copy_project, set_params
from tests.model_helpers import ROUGE, TRAIN, make_inputs, reviews, splits, table

# In-process training takes the CPU path even where there is a GPU.
pytestmark = pytest.mark.usefixtures("cpu_only")


def run(root: Path, inputs: tuple[Path, Path], params: dict, name: str = "out", **kwargs):
    tokenized, base = inputs
    return train_model(validate_section("train", params, SPEC), ROUGE, data_dir=tokenized,
                       base_model_dir=base, output_dir=root / name / "model",
                       checkpoints_root=root / "checkpoints", live_dir=root / name / "live",
                       **kwargs)


def curve(live: Path, name: str) -> list[tuple[int, float]]:
    lines = (live / "plots" / "metrics" / f"{name}.tsv").read_text().splitlines()
    assert lines[0] == f"step\t{name.split('/')[-1]}"
    return [(int(step), float(value)) for step, value in
            (line.split("\t") for line in lines[1:])]


@pytest.fixture
def inputs(tmp_path):
    return make_inputs(tmp_path)


def test_train_writes_model_metrics_and_curves(tmp_path, inputs, caplog):
    stale = tmp_path / "checkpoints" / "0123456789abcdef" / "checkpoint-3"
    stale.mkdir(parents=True)
    result = run(tmp_path, inputs, TRAIN)
    # The best epoch's checkpoint leaves the tied weights out: they are not missing.
    assert not [r for r in caplog.records if "missing keys" in r.getMessage()]
    metrics = result.metrics
    # 16 rows, batches of 4, 2 epochs.
    assert metrics["optimizer_steps"] == 8
    assert (metrics["train_rows"], metrics["validation_rows"]) == (16, 6)
    assert metrics["best_epoch"] in (1, 2) and metrics["best_step"] == 4 * metrics["best_epoch"]
    assert set(metrics["best_validation"]) == {"loss", "rouge1", "rouge2", "rougeL", "rougeLsum",
                                               "gen_len"}
    assert result.speed["processes"] == 1 and result.speed["resumed_from_step"] == 0
    assert (result.speed["device"], result.speed["precision"]) == ("cpu", "fp32")
    assert result.speed["train_input_tokens_per_second"] > 0
    assert result.main_process
    model, tokenizer = load_model(tmp_path / "out" / "model", device="cpu")
    assert model.config.model_type == "t5" and tokenizer.pad_token_id == 0
    assert not (tmp_path / "checkpoints").exists() or not any(
        (tmp_path / "checkpoints").iterdir())  # this run's deleted, the stale one too
    live = tmp_path / "out" / "live"
    assert [step for step, _ in curve(live, "train/loss")] == list(range(1, 9))
    assert [step for step, _ in curve(live, "eval/rougeL")] == [4, 8]
    assert len(curve(live, "train/learning_rate")) == 8
    # The charts' rows: the same points; validations per epoch.
    assert [row["step"] for row in result.curves] == list(range(1, 9))
    assert [row["epoch"] for row in result.epochs] == [1, 2]
    # Validation's generation defaults (max_length 20, ...) are not saved with the model.
    saved = json.loads((tmp_path / "out" / "model" / "generation_config.json").read_text())
    assert "max_length" not in saved and "num_beams" not in saved

    # The saved model is the best epoch's: generating as the validation did gives its scores.
    tables = load_splits(inputs[0])
    scores, _, _ = evaluate_model(
        model, tokenizer, tables["validation"], "validation",
        {"num_beams": 1, "max_new_tokens": TRAIN["eval_max_new_tokens"], "min_new_tokens": 0,
         "length_penalty": 1.0, "no_repeat_ngram_size": 0, "batch_size": 8,
         "batch_tokens": 0},
        Rouge(ROUGE, sentence_texts(tables)))
    best = metrics["best_validation"]
    assert best["gen_len"] > 0
    assert {k: scores["model"]["all"][k] for k in ROUGE_TYPES} == {k: best[k] for k in ROUGE_TYPES}
    assert scores["model"]["all"]["summary_tokens"] == best["gen_len"]

    again = run(tmp_path, inputs, TRAIN, name="again")
    assert again.metrics == metrics
    for name in ("model.safetensors", "config.json", "generation_config.json", "tokenizer.json"):
        assert ((tmp_path / "out" / "model" / name).read_bytes()
                == (tmp_path / "again" / "model" / name).read_bytes()), name


def test_loss_goes_down_on_a_repeated_batch(tmp_path):
    rows = splits(train=4)["train"].to_pylist()
    repeated = [(r["language"], r["review_body"], r["review_title"]) for r in rows]
    tables = {"train": table(repeated, "tr"), "validation": table(repeated[:2], "va"),
              "test": table([], "te")}
    inputs = make_inputs(tmp_path, tables)
    params = {**TRAIN, "epochs": 15, "learning_rate": 1e-2, "best_metric": "loss"}
    run(tmp_path, inputs, params)  # one batch of 4, 15 times
    losses = [loss for _, loss in curve(tmp_path / "out" / "live", "train/loss")]
    assert len(losses) == 15
    assert losses[-1] < 0.5 * losses[0], losses


class StopAt(TrainerCallback):
    """Interrupts training after optimizer step ``step`` of a phase, like Ctrl-C would."""

    def __init__(self, step: int, phase: str = "books") -> None:
        self.step = step
        self.phase = phase

    def on_step_end(self, args, state, control, **kwargs):
        phase = Path(args.output_dir).name if args.eval_strategy == "no" else "books"
        if state.global_step == self.step and phase == self.phase:
            raise KeyboardInterrupt


@pytest.fixture
def batches(monkeypatch) -> list[list[tuple[int, ...]]]:
    """The rows of every training batch, in order: each row's input ids without padding."""
    seen: list[list[tuple[int, ...]]] = []
    train_step = CheckedTrainer.training_step

    def recording(self, model, inputs, num_items_in_batch=None):
        seen.append([tuple(ids[mask.bool()].tolist()) for ids, mask in
                     zip(inputs["input_ids"], inputs["attention_mask"], strict=True)])
        return train_step(self, model, inputs, num_items_in_batch)

    monkeypatch.setattr(CheckedTrainer, "training_step", recording)
    return seen


def test_interrupted_run_resumes_from_its_last_checkpoint(tmp_path, inputs, batches):
    # The default sampler, group_by_length; 4 steps an epoch, checkpoints at 4 and 8.
    params = {**TRAIN, "epochs": 3, "sampler": "group_by_length"}
    whole = run(tmp_path, inputs, params, name="whole")
    assert whole.metrics["optimizer_steps"] == 12
    whole_batches = list(batches)
    # Grouped by length: each epoch starts with a batch holding the longest review first.
    longest = max(len(ids) for ids in load_splits(inputs[0])["train"]["input_ids"].to_pylist())
    assert [len(whole_batches[step][0]) for step in (0, 4, 8)] == [longest] * 3
    assert sorted(map(len, whole_batches)) == [4] * 12

    batches.clear()
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, inputs, params, name="resumed", callbacks=[StopAt(10)])
    assert batches == whole_batches[:10]
    assert not (tmp_path / "resumed" / "model").exists()
    run_dirs = list((tmp_path / "checkpoints").iterdir())
    assert len(run_dirs) == 1 and last_checkpoint(run_dirs[0] / "books").name == "checkpoint-8"

    batches.clear()
    resumed = run(tmp_path, inputs, params, name="resumed")
    assert resumed.speed["resumed_from_step"] == 8
    assert batches == whole_batches[8:]  # the third epoch's batches, as if never stopped
    assert resumed.metrics["optimizer_steps"] == 12
    assert resumed.metrics == whole.metrics
    assert not run_dirs[0].exists()
    # The curves include the steps before the interruption, as if it never happened.
    assert (curve(tmp_path / "resumed" / "live", "train/loss")
            == curve(tmp_path / "whole" / "live", "train/loss"))
    assert ((tmp_path / "resumed" / "model" / "model.safetensors").read_bytes()
            == (tmp_path / "whole" / "model" / "model.safetensors").read_bytes())


def test_last_checkpoint_skips_one_killed_while_saving(tmp_path):
    assert last_checkpoint(tmp_path / "none") is None
    for step in (4, 8, 12):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / "checkpoint-4" / "trainer_state.json").write_text('{"global_step": 4}')
    (tmp_path / "checkpoint-8" / "trainer_state.json").write_text('{"global_step": 8}')
    (tmp_path / "checkpoint-12" / "trainer_state.json").write_text('{"global_st')  # cut short
    assert last_checkpoint(tmp_path).name == "checkpoint-8"


def test_nan_loss_stops_with_a_clear_error_and_no_model(tmp_path, inputs):
    model, tokenizer = load_model(inputs[1], device="cpu")
    with torch.no_grad():
        model.lm_head.weight.fill_(float("nan"))
    save_model(model, tokenizer, inputs[1])
    with pytest.raises(NonFiniteLossError, match="loss became nan at optimizer step 1"):
        run(tmp_path, inputs, TRAIN)
    assert not (tmp_path / "out" / "model").exists()
    assert issubclass(NonFiniteLossError, UserError)


def test_precision_choice():
    assert resolve_precision("auto", "t5", cuda=False, bf16_supported=False) == "fp32"
    assert resolve_precision("auto", "mt5", cuda=True, bf16_supported=True) == "bf16"
    assert resolve_precision("auto", "mt5", cuda=True, bf16_supported=False) == "fp32"
    assert resolve_precision("fp32", "mt5", cuda=True, bf16_supported=True) == "fp32"
    assert resolve_precision("fp16", "bart", cuda=True, bf16_supported=False) == "fp16"
    for model_type in ("t5", "mt5"):
        with pytest.raises(UserError, match="overflow.*NaN"):
            resolve_precision("fp16", model_type, cuda=True, bf16_supported=True)
    with pytest.raises(UserError, match="needs a CUDA GPU"):
        resolve_precision("fp16", "bart", cuda=False, bf16_supported=False)
    with pytest.raises(UserError, match="does not support bfloat16"):
        resolve_precision("bf16", "t5", cuda=True, bf16_supported=False)


def test_fp16_is_refused_before_training(tmp_path, inputs):
    with pytest.raises(UserError, match="T5-family"):
        run(tmp_path, inputs, {**TRAIN, "precision": "fp16"})
    assert not (tmp_path / "out").exists()


def test_the_stage_starts_its_own_processes_which_train_as_one(tmp_path):
    """train.cpu_processes: 2 starts two CPU processes (gloo) that share each batch: one
    model and one set of metrics, and the optimisation of one process (the same steps,
    the same losses up to the order of float sums)."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    results = {}
    for processes in (2, 1):
        project = copy_project(tmp_path / str(processes))
        make_inputs(project)
        set_params(project, train={**TRAIN, "batch_size": 4, "cpu_processes": processes},
                   rouge=ROUGE)
        done = subprocess.run([sys.executable, "-m", "stages.train"], cwd=project, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        # One process reports: one line a phase, no raw Trainer logs, no false alarms.
        assert done.stderr.count("books phase done: 8 steps") == 1, done.stderr
        assert "{'loss'" not in done.stderr and "missing keys" not in done.stderr
        assert (project / "plots/train/rouge_per_epoch.png").stat().st_size > 0
        metrics = json.loads((project / "metrics" / "train.json").read_text())
        speed = json.loads((project / "metrics" / "train_speed.json").read_text())
        # 16 rows, 4 a step (2 per process with two): 4 steps an epoch.
        assert metrics["optimizer_steps"] == 8
        assert speed["processes"] == processes
        # Every non-padding input token of the 16 rows, twice (2 epochs), counted on each
        # process and summed once at the end.
        lengths = load_splits(project / "data" / "tokenize")["train"]["input_ids"].to_pylist()
        assert speed["train_input_tokens"] == 2 * sum(len(ids) for ids in lengths)
        assert [p.name for p in (project / "data" / "train").iterdir()] == ["model"]
        assert not any((project / "checkpoints" / "train").iterdir())
        assert len(curve(project / "dvclive" / "train", "train/loss")) == 8
        results[processes] = curve(project / "dvclive" / "train", "train/loss")
    assert [step for step, _ in results[2]] == [step for step, _ in results[1]]
    assert [loss for _, loss in results[2]] == pytest.approx([loss for _, loss in results[1]],
                                                            rel=1e-3)


def test_batch_size_is_the_global_batch():
    from stages.lib.trainer import per_process_batch

    assert per_process_batch(64, 1, 1) == 64
    assert per_process_batch(64, 2, 1) == 32
    assert per_process_batch(64, 2, 4) == 8
    with pytest.raises(UserError, match=r"train.batch_size \(6\).*multiple of 4"):
        per_process_batch(6, 2, 2)


@pytest.fixture
def others_inputs(tmp_path):
    tables = {**splits(), "others": table(reviews(12, 300), "wu")}
    return make_inputs(tmp_path, tables)


def test_others_phase_comes_first_and_its_curves_join_the_books_phase(tmp_path, others_inputs):
    params = {**TRAIN, "others_epochs": 2}  # 12 others rows in batches of 4: 3 steps an epoch
    result = run(tmp_path, others_inputs, params)
    others = result.metrics["others"]
    assert {k: others[k] for k in ("epochs", "optimizer_steps", "rows")} == \
        {"epochs": 2, "optimizer_steps": 6, "rows": 12}
    assert others["final_train_loss"] > 0
    assert result.metrics["optimizer_steps"] == 8  # then the books: 16 rows, 2 epochs
    live = tmp_path / "out" / "live"
    assert [step for step, _ in curve(live, "train/loss")] == list(range(1, 15))
    # Each phase has its own linear schedule: the rate drops, then starts high again.
    rates = [rate for _, rate in curve(live, "train/learning_rate")]
    assert rates[6] > rates[5] and rates[5] < rates[0]
    # No validation in the others phase; then where the books phase starts and once an epoch.
    assert [step for step, _ in curve(live, "eval/rouge1")] == [6, 10, 14]
    plain = run(tmp_path, others_inputs, TRAIN, name="plain")
    assert "others" not in plain.metrics
    assert ((tmp_path / "out" / "model" / "model.safetensors").read_bytes()
            != (tmp_path / "plain" / "model" / "model.safetensors").read_bytes())


@pytest.mark.parametrize("phase", ["others", "books"])
def test_run_interrupted_in_either_phase_resumes_to_the_same_model(tmp_path, others_inputs,
                                                                   monkeypatch, phase):
    monkeypatch.setattr("stages.lib.trainer.UNVALIDATED_SAVE_STEPS", 2)
    params = {**TRAIN, "others_epochs": 2}
    whole = run(tmp_path, others_inputs, params, name="whole")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, others_inputs, params, name="resumed", callbacks=[StopAt(5, phase)])
    resumed = run(tmp_path, others_inputs, params, name="resumed")
    assert resumed.speed["resumed_from_step"] == 4  # of the phase it was in
    assert resumed.metrics == whole.metrics
    assert (curve(tmp_path / "resumed" / "live", "train/loss")
            == curve(tmp_path / "whole" / "live", "train/loss"))
    assert ((tmp_path / "resumed" / "model" / "model.safetensors").read_bytes()
            == (tmp_path / "whole" / "model" / "model.safetensors").read_bytes())


def test_others_phase_without_an_others_split_names_the_params(tmp_path, inputs):
    with pytest.raises(UserError, match="train.others_epochs is 1, but .* no others split.*"
                                        "filter_books.others_categories"):
        run(tmp_path, inputs, {**TRAIN, "others_epochs": 1})


def test_copy_pairs_read_openings_for_the_epochs_then_from_fresh_words():
    from stages.lib.phases import copy_pairs

    # Tokens 10-19 begin words, 20-29 continue one; EOS is 1.
    starts = np.zeros(30, dtype=bool)
    starts[10:20] = True
    reviews = [[10, 20, 11, 21, 12, 13, 22, 14, 1], [15, 23, 16, 17, 1], [18, 1], [1]]
    texts = [review[:-1] for review in reviews if len(review) > 1]
    pairs = copy_pairs(reviews, epochs=1, min_rows=200, input_tokens=4, target_tokens=2,
                       word_starts=starts, eos_token_id=1, seed=3)
    assert len(pairs["input_ids"]) == len(pairs["labels"]) == 200
    begins = []
    for ids, labels in zip(pairs["input_ids"], pairs["labels"], strict=True):
        assert ids[-1] == 1 and len(ids) <= 4 and labels == ids[:-1][:2] + [1]
        # The input is a review read from one of its words on (one that leaves 2 tokens).
        (text,) = [t for t in texts if any(t[i:i + len(ids) - 1] == ids[:-1]
                                           for i in range(len(t)))]
        begin = next(i for i in range(len(text)) if text[i:i + len(ids) - 1] == ids[:-1])
        assert begin == 0 or (starts[text[begin]] and begin <= len(text) - 2)
        begins.append((text[0], begin))
    # The epoch: each review once, from its opening; then passes from random words, every
    # word that may start a review: 4 for the first, 2 for the second (its last word would
    # leave 1 token), the first word of the third; every review once a pass.
    assert sorted(begins[:3]) == [(10, 0), (15, 0), (18, 0)]
    assert sorted({b for t, b in begins[3:] if t == 10}) == [0, 2, 4, 5]
    assert sorted({b for t, b in begins[3:] if t == 15}) == [0, 2]
    assert [t for t, _ in begins[3:198]].count(18) == 65
    # Without a minimum: the epochs alone (a fraction rounds up); no reviews, no rows.
    assert copy_pairs(reviews, 2, 0, 4, 2, starts, 1, seed=3)["labels"].count([10, 20, 1]) == 2
    assert len(copy_pairs(reviews, 0.5, 0, 4, 2, starts, 1, seed=3)["labels"]) == 2
    assert copy_pairs([[1]], 1, 10, 4, 2, starts, 1, seed=3) == {"input_ids": [], "labels": []}
    # Seeded: the same rows again; another seed, other rows.
    assert copy_pairs(reviews, 1, 200, 4, 2, starts, 1, seed=3) == pairs
    assert copy_pairs(reviews, 1, 200, 4, 2, starts, 1, seed=4) != pairs


def test_pretrain_then_others_then_books_with_joined_curves(tmp_path, others_inputs):
    # pretrain: 16 train + 12 others reviews in batches of 4: 7 steps; others: 3; books: 4
    params = {**TRAIN, "pretrain_epochs": 1, "others_epochs": 1, "epochs": 1}
    result = run(tmp_path, others_inputs, params)
    assert {k: result.metrics["pretrain"][k] for k in ("optimizer_steps", "rows")} == \
        {"optimizer_steps": 7, "rows": 28}
    assert result.metrics["others"]["optimizer_steps"] == 3
    assert result.metrics["optimizer_steps"] == 4
    live = tmp_path / "out" / "live"
    assert [step for step, _ in curve(live, "train/loss")] == list(range(1, 15))
    # Validation of the early phases' model where the books phase starts, then each epoch.
    assert [step for step, _ in curve(live, "eval/rouge1")] == [10, 14]
    assert set(result.metrics["books_start_validation"]) == set(result.metrics["best_validation"])
    assert result.speed["pretrain_seconds"] > 0 and result.speed["others_seconds"] > 0


def test_books_phase_that_does_worse_than_the_early_phases_is_not_kept(tmp_path, inputs):
    # A learning rate this high wrecks the model in the books phase: its validation loss
    # ends above the pretrained model's, so that model is the one saved.
    params = {**TRAIN, "pretrain_epochs": 2, "learning_rate": 3.0, "best_metric": "loss",
              "epochs": 1}
    wrecked = run(tmp_path, inputs, params, name="wrecked")
    metrics = wrecked.metrics
    assert metrics["kept"] == "pretrain" and metrics["best_epoch"] == 0
    assert metrics["last_validation"]["loss"] > metrics["books_start_validation"]["loss"]
    assert metrics["best_validation"] == metrics["books_start_validation"]
    # Another wrecking rate keeps the same pretrained model, byte for byte.
    other = run(tmp_path, inputs, {**params, "learning_rate": 10.0}, name="other")
    assert other.metrics["kept"] == "pretrain"
    assert ((tmp_path / "wrecked" / "model" / "model.safetensors").read_bytes()
            == (tmp_path / "other" / "model" / "model.safetensors").read_bytes())
    # A books phase that helps is kept.
    helped = run(tmp_path, inputs, {**params, "learning_rate": 5e-3, "epochs": 3}, name="ok")
    assert helped.metrics["kept"] == "books"
    assert (helped.metrics["best_validation"]["loss"]
            < helped.metrics["books_start_validation"]["loss"])


def test_run_interrupted_in_the_pretrain_phase_resumes_to_the_same_model(tmp_path, inputs,
                                                                         monkeypatch):
    monkeypatch.setattr("stages.lib.trainer.UNVALIDATED_SAVE_STEPS", 2)
    params = {**TRAIN, "pretrain_epochs": 2}  # 16 reviews, batches of 4: 8 steps
    whole = run(tmp_path, inputs, params, name="whole")
    assert whole.metrics["pretrain"]["optimizer_steps"] == 8
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, inputs, params, name="resumed", callbacks=[StopAt(5, "pretrain")])
    resumed = run(tmp_path, inputs, params, name="resumed")
    assert resumed.metrics == whole.metrics
    assert (curve(tmp_path / "resumed" / "live", "train/loss")
            == curve(tmp_path / "whole" / "live", "train/loss"))
    assert ((tmp_path / "resumed" / "model" / "model.safetensors").read_bytes()
            == (tmp_path / "whole" / "model" / "model.safetensors").read_bytes())


def test_closest_spans_pick_whole_words_nearest_the_title():
    from stages.lib.phases import closest_spans

    # Tokens 10-19 begin words, 20-29 continue one; EOS is 1.
    starts = np.zeros(30, dtype=bool)
    starts[10:20] = True
    review = [10, 11, 21, 12, 13, 14, 15, 16, 1]  # words: [10] [11 21] [12] [13] [14] [15] [16]
    assert closest_spans([review], [[13, 14, 1]], starts, 1, 8, 30, 1) == [[13, 14, 1]]
    # A title word repeated in the review counts once, as in the title: the shorter span wins.
    spans = closest_spans([[10, 13, 12, 13, 14, 1]], [[13, 14, 1]], starts, 1, 8, 30, 1)
    assert spans == [[13, 14, 1]]
    # At least min_words, never cutting a word ([11 21] is one); ties: the earliest.
    assert closest_spans([review], [[21, 1]], starts, 2, 8, 30, 1) == [[10, 11, 21, 1]]
    # At most max_words, and at most max_tokens tokens.
    assert closest_spans([review], [[10, 16, 1]], starts, 1, 1, 30, 1) == [[10, 1]]
    assert closest_spans([review], [[11, 21, 12, 13, 1]], starts, 1, 8, 3, 1) == [[11, 21, 12, 1]]
    # A review shorter than min_words is taken whole.
    assert closest_spans([[12, 13, 1]], [[13, 1]], starts, 5, 8, 30, 1) == [[12, 13, 1]]
    # Nothing in common with the title: the review's opening, min_words long.
    assert closest_spans([review], [[29, 1]], starts, 3, 8, 30, 1) == [[10, 11, 21, 12, 1]]
    # A margin keeps the opening unless a span further in is that much closer (F1): the
    # opening's best is [10 11 21 12 13] (F1 1/3), the span [13] alone has F1 1.
    assert closest_spans([review], [[13, 1]], starts, 1, 5, 30, 1, margin=0.3) == [[13, 1]]
    assert closest_spans([review], [[13, 1]], starts, 1, 5, 30, 1, margin=0.7) == \
        [[10, 11, 21, 12, 13, 1]]


def test_min_phase_steps_stretches_a_small_phase_and_keeps_its_validations(tmp_path, inputs):
    # 16 rows in batches of 4: 2 epochs would be 8 steps; at least 12, validated twice.
    result = run(tmp_path, inputs, {**TRAIN, "min_phase_steps": 12})
    metrics = result.metrics
    assert metrics["optimizer_steps"] == 12
    assert [step for step, _ in curve(tmp_path / "out" / "live", "eval/rougeL")] == [6, 12]
    assert metrics["best_epoch"] in (1, 2) and metrics["best_step"] == 6 * metrics["best_epoch"]
    # A phase long enough on its own is not changed.
    assert run(tmp_path, inputs, {**TRAIN, "min_phase_steps": 8},
               name="enough").metrics["optimizer_steps"] == 8


def test_span_words_must_be_ordered(tmp_path, inputs):
    with pytest.raises(UserError, match=r"span_min_words \(7\) is more than .*span_max_words"):
        run(tmp_path, inputs, {**TRAIN, "span_min_words": 7, "span_max_words": 6})


class WeightsAtValidation(TrainerCallback):
    """The model's weights at each validation of the books phase, by its optimizer step."""

    def __init__(self) -> None:
        self.weights: dict[int, dict[str, torch.Tensor]] = {}

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        self.weights[state.global_step] = {name: value.detach().clone()
                                           for name, value in model.state_dict().items()}


def same_weights(saved: Path, weights: dict[str, torch.Tensor]) -> bool:
    state = load_model(saved, device="cpu")[0].state_dict()
    return state.keys() == weights.keys() and all(torch.equal(state[k], weights[k])
                                                  for k in state)


def given_scores(monkeypatch, per_validation: list[dict[str, float]]) -> None:
    """Validation ROUGE given in advance, one dict per validation in order (a tiny model
    scores 0.0 in every epoch). The real compute_metrics still runs (it checks the rows
    line up and measures gen_len); the loss is the Trainer's own."""
    scores = iter(per_validation)

    def metrics(*args, **kwargs):
        real = validation_metrics(*args, **kwargs)

        def compute(prediction):
            given = next(scores)
            return {**real(prediction), **{k: given.get(k, 0.0) for k in ROUGE_TYPES}}
        return compute

    monkeypatch.setattr("stages.train.validation_metrics", metrics)


# rougeL best in epoch 2, rouge1 in epoch 1; the others never lead.
EPOCH_SCORES = [{"rouge1": 30.0, "rougeL": 10.0}, {"rouge1": 10.0, "rougeL": 30.0},
                {"rouge1": 20.0, "rougeL": 20.0}]


@pytest.mark.parametrize(("best_metric", "best_epoch"), [("rougeL", 2), ("rouge1", 1),
                                                        ("loss", None)])
def test_the_saved_model_is_the_best_epochs(tmp_path, inputs, monkeypatch, best_metric,
                                            best_epoch):
    """Three epochs with given validation scores: the saved weights are those of the epoch
    that scored best on train.best_metric (the highest ROUGE, the lowest loss)."""
    given_scores(monkeypatch, EPOCH_SCORES)
    weights = WeightsAtValidation()
    result = run(tmp_path, inputs, {**TRAIN, "epochs": 3, "best_metric": best_metric},
                 callbacks=[weights])
    metrics = result.metrics
    assert sorted(weights.weights) == [4, 8, 12]  # once an epoch: 4 steps each
    losses = [value for _, value in curve(tmp_path / "out" / "live", "eval/loss")]
    if best_metric == "loss":
        assert len(set(losses)) == 3  # else "the lowest" would not say which epoch
        best_epoch = 1 + losses.index(min(losses))
    assert metrics["best_epoch"] == best_epoch and metrics["best_step"] == 4 * best_epoch
    assert metrics["kept"] == "books"
    expected = EPOCH_SCORES[best_epoch - 1]
    assert metrics["best_validation"]["rougeL"] == expected["rougeL"]
    assert metrics["best_validation"]["rouge1"] == expected["rouge1"]
    assert metrics["last_validation"]["rougeL"] == EPOCH_SCORES[-1]["rougeL"]
    model = tmp_path / "out" / "model"
    for step, epoch_weights in weights.weights.items():
        assert same_weights(model, epoch_weights) == (step == 4 * best_epoch), step


def test_early_phase_model_is_kept_when_no_books_epoch_beats_its_rouge(tmp_path, inputs,
                                                                       monkeypatch):
    """rougeL (higher is better): the pretrained model scores 20, the books epochs 10 and
    15, so the pretrained model is saved and reported."""
    given_scores(monkeypatch, [{"rougeL": 20.0}, {"rougeL": 10.0}, {"rougeL": 15.0}])
    weights = WeightsAtValidation()
    result = run(tmp_path, inputs, {**TRAIN, "pretrain_epochs": 1, "epochs": 2},
                 callbacks=[weights])
    metrics = result.metrics
    assert sorted(weights.weights) == [0, 4, 8]  # the pretrained model, then each epoch
    assert metrics["kept"] == "pretrain" and (metrics["best_epoch"], metrics["best_step"]) == \
        (0, 0)
    assert metrics["best_validation"] == metrics["books_start_validation"]
    assert metrics["best_validation"]["rougeL"] == 20.0
    assert same_weights(tmp_path / "out" / "model", weights.weights[0])
    assert not same_weights(tmp_path / "out" / "model", weights.weights[8])


def test_choose_kept_compares_in_the_metrics_direction():
    start = {"rougeL": 20.0, "loss": 2.0}
    assert choose_kept("others", start, {"rougeL": 19.9, "loss": 1.0}, "rougeL") == "others"
    assert choose_kept("others", start, {"rougeL": 20.1, "loss": 3.0}, "rougeL") == "books"
    assert choose_kept("pretrain", start, {"rougeL": 30.0, "loss": 2.1}, "loss") == "pretrain"
    assert choose_kept("pretrain", start, {"rougeL": 1.0, "loss": 1.9}, "loss") == "books"
    # Ties keep books; without an early phase (or its validation) there is nothing else.
    assert choose_kept("others", start, dict(start), "rougeL") == "books"
    assert choose_kept("others", start, dict(start), "loss") == "books"
    assert choose_kept(None, {}, {"rougeL": 0.0}, "rougeL") == "books"


def test_train_metrics_report_the_kept_phase_and_the_phases_before():
    """A pure function of the phases' reports: the books epochs (validations at steps 4
    and 8) lose to the others phase's model, so others is kept as epoch 0, with its
    validation; pretrain and others are reported with their rows, steps and final loss."""
    def validation(step, rouge):
        return {"step": step, "eval_loss": 2.0, "eval_rougeL": rouge}

    reports = {
        "pretrain": PhaseReport(steps=10, rows=640, final_loss=0.5, seconds=1.0, tokens=1),
        "others": PhaseReport(steps=6, rows=300, final_loss=1.5, seconds=1.0, tokens=1),
        "books": PhaseReport(steps=8, rows=128, final_loss=2.5, seconds=1.0, tokens=1,
                             history=[{"step": 4, "loss": 3.0}, validation(4, 10.0),
                                      {"step": 8, "loss": 2.5}, validation(8, 12.0)],
                             start_validation={"loss": 2.2, "rougeL": 14.0}),
    }
    params = {"best_metric": "rougeL", "epochs": 2, "pretrain_epochs": 1, "others_epochs": 0.5}
    metrics = train_metrics(reports, params, validation_rows=30)
    assert metrics["kept"] == "others"
    assert (metrics["best_epoch"], metrics["best_step"]) == (0, 0)
    assert metrics["best_validation"] == {"loss": 2.2, "rougeL": 14.0}
    assert metrics["last_validation"]["rougeL"] == 12.0
    assert metrics["others"] == {"epochs": 0.5, "optimizer_steps": 6, "rows": 300,
                                 "final_train_loss": 1.5}
    assert metrics["pretrain"] == {"epochs": 1, "optimizer_steps": 10, "rows": 640,
                                   "final_train_loss": 0.5}
    assert (metrics["train_rows"], metrics["validation_rows"]) == (128, 30)

    reports["books"].start_validation = {"loss": 2.2, "rougeL": 11.0}  # epoch 2 beats it
    metrics = train_metrics(reports, params, validation_rows=30)
    assert (metrics["kept"], metrics["best_epoch"], metrics["best_step"]) == ("books", 2, 8)
    assert metrics["best_validation"]["rougeL"] == 12.0


def test_speed_report_sums_the_phases():
    """A pure function of the phases' reports: times per phase (0 for a phase that did not
    run), totals, and rates over all phases."""
    from stages.lib.reports import speed_report

    reports = {
        "pretrain": PhaseReport(steps=10, rows=640, final_loss=0.5, seconds=30.0, tokens=6000,
                                samples_per_second=20.0),
        "books": PhaseReport(steps=8, rows=128, final_loss=2.5, seconds=10.0, tokens=2000,
                             samples_per_second=40.0, resumed_from_step=4),
    }
    speed = speed_report(reports, "cpu", processes=2, precision="fp32", cpu_threads=1)
    assert (speed["pretrain_seconds"], speed["others_seconds"], speed["books_seconds"]) == \
        (30.0, 0.0, 10.0)
    assert speed["train_seconds"] == 40.0 and speed["train_input_tokens"] == 8000
    assert speed["train_input_tokens_per_second"] == 200.0
    assert speed["train_samples_per_second"] == 25.0  # (20 x 30 + 40 x 10) rows / 40 s
    assert speed["resumed_from_step"] == 4
    assert (speed["device"], speed["processes"], speed["precision"], speed["cpu_threads"]) == \
        ("cpu", 2, "fp32", 1)
