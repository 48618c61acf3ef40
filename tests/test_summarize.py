"""The ``summarize`` command and the ``review-summarization`` pipeline."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
import torch
from transformers import T5ForConditionalGeneration, pipeline

from stages import summarize
from stages.base_model import save_model
from stages.lib.generation import PIPELINE_TASK, load_model
from tests.conftest import ROOT
from tests.model_helpers import make_inputs

TEXTS = ["A fun book for children, with nice art.", "Demasiado largo y aburrido, lo dejé.",
         "Clear recipes that work every time. I cook from it every week."]
#: The options every test passes; the rest comes from the model folder's generation config
#: (as summarize takes it), which sets no n-gram limit here.
OPTIONS = {"num_beams": 2, "max_new_tokens": 5}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("summarize")
    _, base = make_inputs(root)
    model, tokenizer = load_model(base, device="cpu")
    # Untrained, it would stop at once: make it write a few (random) tokens.
    model.generation_config.min_new_tokens = 2
    model.generation_config.suppress_tokens = [tokenizer.pad_token_id, tokenizer.unk_token_id]
    save_model(model, tokenizer, root / "model")
    # The same model, saved as the train stage saves it: with the input length it was
    # trained on, which summarize then truncates to.
    tokenizer.model_max_length = 6
    save_model(model, tokenizer, root / "trained-on-6")
    return root / "model"


def one_by_one(model_dir, texts, max_input_length=None) -> list[str]:
    """Each text's summary from the model itself, one text at a time (no batching, no
    sorting): what the CLI must print."""
    model, tokenizer = load_model(model_dir, device="cpu")
    summaries = []
    for text in texts:
        inputs = tokenizer(text, return_tensors="pt", truncation=max_input_length is not None,
                           max_length=max_input_length)
        with torch.inference_mode():
            ids = model.generate(**inputs, **OPTIONS)
        text = tokenizer.decode(ids[0], skip_special_tokens=True,
                                clean_up_tokenization_spaces=True)
        summaries.append(" ".join(text.split()))
    return summaries


@pytest.fixture(scope="module")
def expected(model_dir):
    summaries = one_by_one(model_dir, TEXTS)
    assert all(summaries) and len(set(summaries)) > 1
    return summaries


def run(model_dir, *args, stdin=None):
    return subprocess.run([sys.executable, "-m", "stages.summarize", "--model", str(model_dir),
                           "--num-beams", "2", "--max-new-tokens", "5", *args], cwd=ROOT,
                          input=stdin, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})


def main(capsys, model_dir, *args) -> list[str]:
    """The CLI in this process, on the CPU; its output lines."""
    summarize.main(["--model", str(model_dir), "--num-beams", "2", "--max-new-tokens", "5",
                    "--device", "cpu", *args])
    return capsys.readouterr().out.splitlines()


def test_texts_as_arguments_and_on_stdin(model_dir, expected):
    done = run(model_dir, *TEXTS[:2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == expected[:2]

    # One line in, one line out; an empty line gives an empty line.
    done = run(model_dir, stdin=f"{TEXTS[0]}\n\n{TEXTS[2]}\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [expected[0], "", expected[2]]


def test_file_of_texts(model_dir, expected, tmp_path, capsys):
    path = tmp_path / "reviews.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    assert main(capsys, model_dir, "--file", str(path)) == expected


def test_batch_size_sets_the_rows_per_generate_call(model_dir, expected, capsys, monkeypatch):
    rows = []
    generate = T5ForConditionalGeneration.generate

    def counting(self, *args, **kwargs):
        rows.append(kwargs["input_ids"].shape[0])
        return generate(self, *args, **kwargs)

    monkeypatch.setattr(T5ForConditionalGeneration, "generate", counting)
    assert main(capsys, model_dir, "--batch-size", "2", *TEXTS) == expected
    assert rows == [2, 1]
    rows.clear()
    assert main(capsys, model_dir, *TEXTS) == expected  # the default: 16 a batch
    assert rows == [3]


def test_inputs_are_cut_to_max_input_length(model_dir, expected, capsys):
    cut = one_by_one(model_dir, TEXTS, max_input_length=4)
    assert cut != expected  # the cut changes what the model writes, or this proves nothing
    assert main(capsys, model_dir, "--max-input-length", "4", *TEXTS) == cut
    # Without the option: the length the model was trained on, saved with its tokenizer.
    trained = model_dir.parent / "trained-on-6"
    assert main(capsys, trained, *TEXTS) == one_by_one(trained, TEXTS, max_input_length=6)
    assert main(capsys, trained, "--max-input-length", "4", *TEXTS) == cut


class Terminal(io.StringIO):
    """stdin as an interactive terminal: reading it would wait for someone to type."""

    def isatty(self) -> bool:
        return True

    def read(self, *args):
        raise AssertionError("summarize read a terminal: it would wait for typing")


@pytest.mark.parametrize("args", [[], ["--file", "-"]])
def test_no_texts_on_a_terminal_is_an_error_not_a_wait(model_dir, capsys, monkeypatch, args):
    monkeypatch.setattr(sys, "stdin", Terminal())
    with pytest.raises(SystemExit) as exit_:
        main(capsys, model_dir, *args)
    assert exit_.value.code == 2
    assert "no texts: give them as arguments, with --file, or on stdin" in \
        capsys.readouterr().err


def test_json_lines_in_and_out(model_dir, expected, tmp_path):
    rows = [{"review_id": "r1", "review_body": TEXTS[0], "stars": 5}, None,
            {"review_id": "r2", "review_body": TEXTS[1], "note": "ñ"}]
    lines = ["" if row is None else json.dumps(row, ensure_ascii=False) for row in rows]
    done = run(model_dir, "--jsonl", "--quiet", stdin="\n".join(lines) + "\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[1] == "" and len(out) == 3
    assert json.loads(out[0]) == {**rows[0], "summary": expected[0]}
    assert json.loads(out[2]) == {**rows[2], "summary": expected[1]}
    assert "ñ" in out[2]  # written as UTF-8, not escaped

    path = tmp_path / "reviews.jsonl"
    path.write_text(json.dumps({"text": TEXTS[2]}) + "\n", encoding="utf-8")
    done = run(model_dir, "--jsonl", "--text-field", "text", "--file", str(path), "--quiet")
    assert [json.loads(line)["summary"] for line in done.stdout.splitlines()] == expected[2:]


def test_help_says_where_the_defaults_come_from():
    done = subprocess.run([sys.executable, "-m", "stages.summarize", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "data/package/model" in text and "--jsonl" in text and "--quiet" in text
    assert "default: the model folder's generation_config.json, i.e. what evaluate scored " \
           "with" in text


def test_errors(model_dir, tmp_path, capsys):
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"review_body": "fine"}\n{"review_body": oops}\n', encoding="utf-8")
    no_field = tmp_path / "no_field.jsonl"
    no_field.write_text('{"body": "text"}\n', encoding="utf-8")
    cases = [([str(tmp_path / "nothing"), "some text"], "no config.json"),
             ([str(model_dir), "--file", str(tmp_path / "missing.txt")], "could not read"),
             ([str(model_dir), "text", "--file", "x.txt"], "not both"),
             ([str(model_dir), "text", "--num-beams", "0"], "positive integer"),
             ([str(model_dir), "text", "--batch-size", "0"], "--batch-size must be a positive"),
             ([str(model_dir), "text", "--max-input-length", "-3"],
              "--max-input-length must be a positive"),
             ([str(model_dir), "--jsonl", "text"], "not from arguments"),
             ([str(model_dir), "--jsonl", "--file", str(bad_json)],
              f"{bad_json}, line 2: not valid JSON"),
             ([str(model_dir), "--jsonl", "--file", str(no_field)],
              "line 1: no text field 'review_body' (its fields: body)")]
    for args, message in cases:
        with pytest.raises(SystemExit) as exit_:
            summarize.main(["--model", *args])
        assert exit_.value.code == 2
        assert message in capsys.readouterr().err


def test_transformers_pipeline(model_dir, expected):
    summarizer = pipeline(PIPELINE_TASK, model=str(model_dir), device="cpu")
    assert summarizer(TEXTS[0], **OPTIONS) == [{"summary_text": expected[0]}]
    assert summarizer(TEXTS, **OPTIONS, batch_size=2) == [{"summary_text": s} for s in expected]
