"""Stage package: the model folder with its settings and card, and the headline scores;
``summarize`` on that folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import GenerationConfig

from stages.lib.errors import UserError
from stages.lib.generation import decoding_settings, load_model, summarize_texts
from stages.package import headline_scores
from tests.conftest import run_stage
from tests.model_helpers import make_inputs

GENERATION = {"num_beams": 2, "max_new_tokens": 6, "min_new_tokens": 2, "length_penalty": 1.0,
              "no_repeat_ngram_size": 3}
TEXTS = ["A fun book for children, with nice art.", "Demasiado largo y aburrido, lo dejé."]


def rouge(base: float, rows: int) -> dict:
    values = {"rows": rows}
    for offset, name in enumerate(("rouge1", "rouge2", "rougeL", "rougeLsum")):
        score = base - 3 * offset + 0.123
        values.update({name: score, f"{name}_low": score - 4, f"{name}_high": score + 4})
    return values


def scored(base: float) -> dict:
    return {"all": rouge(base, 10), "en": rouge(base + 1, 6), "es": rouge(base - 1, 4)}


def reports(split: str = "validation") -> dict[str, dict]:
    common = {"rows": {"all": 10, "en": 6, "es": 4},
              "rouge": {"tokenizer": "multilingual", "stemmer": True, "bootstrap_samples": 20,
                        "seed": 1}}
    return {
        "evaluate": {"split": "validation", **common, "model": scored(20),
                     "generation": GENERATION},
        "baseline": {"split": split, **common, "lead3": scored(17), "lead1": scored(19),
                     "sentence_splitter": {}},
        "train": {"kept": "books", "best_epoch": 2, "best_metric": "rougeL", "train_rows": 16,
                  "others": {"rows": 12}},
        "train_speed": {"device": "cpu", "processes": 1, "precision": "fp32",
                        "wall_seconds": 93.0},
        "base_model": {"checkpoint": "scratch", "parameters": 1234, "vocab_size": 300},
    }


def test_headline_scores_are_few_and_model_first():
    scores = headline_scores(reports())
    assert list(scores) == ["model", "lead3", "lead1", "kept", "train_minutes"]
    assert scores["model"] == {"all": {"R1": 20.12, "R2": 17.12, "RL": 14.12},
                               "en": {"R1": 21.12, "R2": 18.12, "RL": 15.12},
                               "es": {"R1": 19.12, "R2": 16.12, "RL": 13.12}}
    assert scores["kept"] == "books" and scores["train_minutes"] == 1.6
    with pytest.raises(UserError, match="evaluate.split is 'validation' but baseline.split "
                                        "is 'test'"):
        headline_scores(reports(split="test"))


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    """A project copy whose train stage 'wrote' a tiny untrained model (with the max_length
    the Trainer's validation leaves in it) and whose stages wrote their reports."""
    from tests.conftest import copy_project

    project = copy_project(tmp_path_factory.mktemp("package") / "project")
    _, base = make_inputs(project)
    model, tokenizer = load_model(base, device="cpu")
    model.generation_config.max_length = 20
    model.generation_config.suppress_tokens = [tokenizer.pad_token_id, tokenizer.unk_token_id]
    tokenizer.model_max_length = 64
    model.save_pretrained(project / "data/train/model")
    tokenizer.save_pretrained(project / "data/train/model")
    for name, report in reports().items():
        (project / "metrics" / f"{name}.json").write_text(json.dumps(report))
    done = run_stage(project, "package")
    assert done.returncode == 0, done.stderr
    return project


def test_model_folder_carries_the_scored_settings_and_a_card(packaged):
    folder = packaged / "data/package/model"
    saved = json.loads((folder / "generation_config.json").read_text())
    assert "max_length" not in saved and saved["do_sample"] is False
    assert decoding_settings(GenerationConfig.from_pretrained(folder)) == GENERATION
    for name in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json"):
        assert (folder / name).read_bytes() == (packaged / "data/train/model" / name).read_bytes()
    _, tokenizer = load_model(folder, device="cpu")
    assert tokenizer.model_max_length == 64

    card = (folder / "README.md").read_text()
    assert "| **this model** | 20.12 | 17.12 | 14.12 | 21.12 |" in card
    assert "| lead3 | 17.12 |" in card and "| lead1 |" in card
    assert "beam search (2 beams), at most 6 new tokens, at least 2, no 3-gram twice" in card
    assert "Trained on the synthetic sample" in card and "first 64 tokens" in card

    scores = json.loads((packaged / "metrics/scores.json").read_text())
    assert list(scores) == ["model", "lead3", "lead1", "kept", "train_minutes"]

    files = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert run_stage(packaged, "package").returncode == 0
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == files


def test_package_needs_the_reports(packaged, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(packaged, project)
    (project / "metrics/evaluate.json").unlink()
    done = run_stage(project, "package")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "metrics/evaluate.json is missing" in done.stderr and "dvc repro evaluate" in done.stderr


def summarize(project: Path, *args: str, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "stages.summarize", "--device", "cpu", *args],
                          cwd=project, input=stdin, capture_output=True, text=True, timeout=300)


def test_summarize_uses_the_folder_settings_without_warnings(packaged):
    model, tokenizer = load_model(packaged / "data/train/model", device="cpu")
    expected = summarize_texts(model, tokenizer, TEXTS, max_input_length=64, **GENERATION)
    assert all(expected)
    done = summarize(packaged, *TEXTS)  # the default model: data/package/model
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == expected
    assert "beam search (2 beams), at most 6 new tokens" in done.stderr
    assert "warn" not in done.stderr.lower() and "max_length" not in done.stderr

    quiet = summarize(packaged, "--quiet", *TEXTS)
    assert (quiet.stdout, quiet.stderr) == (done.stdout, "")

    greedy = summarize(packaged, "--quiet", "--num-beams", "1", *TEXTS)  # a flag overrides
    settings = {**GENERATION, "num_beams": 1}
    assert greedy.stdout.splitlines() == summarize_texts(model, tokenizer, TEXTS,
                                                         max_input_length=64, **settings)
    assert greedy.stderr == ""
