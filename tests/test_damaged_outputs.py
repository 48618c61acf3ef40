"""Files an earlier stage wrote, damaged or cut short: a clear error that says which stage to
rerun (`dvc repro -f <stage>`), in the stages and in `summarize`; never a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stages import summarize
from stages.lib.data import load_splits, save_splits
from stages.lib.errors import UserError
from stages.lib.params import validate_section
from stages.tokenize import load_tokenizer
from stages.train import SPEC, train_model
from tests.model_helpers import ROUGE, TRAIN, make_inputs, splits
from tests.test_data_cli import assert_user_error


def cut(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


@pytest.mark.parametrize(("damage", "said"), [
    (lambda f: cut(f / "train.parquet"), "train.parquet: "),
    # Parquet's footer (its last 8 bytes: the footer's length, "PAR1") lost.
    (lambda f: cut(f / "test.parquet", 1 - 8 / (f / "test.parquet").stat().st_size),
     "test.parquet: "),
    (lambda f: (f / "validation.parquet").unlink(), "(validation.parquet is missing)"),
    (lambda f: (f / "train.parquet").write_text("review_id,stars\n1,5\n"), "train.parquet: "),
])
def test_a_damaged_dataset_names_the_stage_to_rerun(tmp_path, damage, said):
    folder = tmp_path / "data" / "drop_short_titles"
    save_splits(splits(), folder)
    damage(folder)
    with pytest.raises(UserError) as caught:
        load_splits(folder)
    message = str(caught.value)
    assert message.startswith(f"{folder} is damaged or incomplete (") and said in message
    assert message.endswith("it is the output of stage 'drop_short_titles': rebuild it with "
                            "`dvc repro -f drop_short_titles`.")


def test_a_stage_whose_input_is_cut_short_says_what_to_rerun(project):
    save_splits(splits(), project / "data" / "filter_books")
    cut(project / "data" / "filter_books" / "train.parquet")
    assert_user_error(subprocess.run([sys.executable, "-m", "stages.concat_shuffle"],
                                     cwd=project, capture_output=True, text=True, timeout=300),
                      "data/filter_books is damaged or incomplete",
                      "`dvc repro -f filter_books`")


@pytest.fixture(scope="module")
def pipeline_model(tmp_path_factory) -> Path:
    """A project folder with data/package/model (the tiny base model, as package saves it)."""
    root = tmp_path_factory.mktemp("damaged")
    _, base = make_inputs(root)
    shutil.copytree(base, root / "data" / "package" / "model")
    return root


@pytest.mark.parametrize(("damage", "said"), [
    (lambda m: cut(m / "model.safetensors"), "(SafetensorError: "),
    (lambda m: cut(m / "tokenizer.json"), "(JSONDecodeError: "),
    (lambda m: cut(m / "config.json"), "config.json is damaged or incomplete (JSONDecodeError"),
    # Transformers skips a generation_config.json it can't read: its settings would be lost.
    (lambda m: cut(m / "generation_config.json"), "generation_config.json is damaged"),
    # The case: the message blamed sentencepiece, which is installed.
    (lambda m: (m / "tokenizer.json").unlink(), "(no tokenizer: none of tokenizer.json, "),
])
def test_summarize_with_a_damaged_model_says_what_to_rerun(pipeline_model, tmp_path,
                                                            monkeypatch, capsys, damage, said):
    project = tmp_path / "project"
    shutil.copytree(pipeline_model, project)
    damage(project / "data" / "package" / "model")
    monkeypatch.chdir(project)  # summarize's default model: data/package/model
    with pytest.raises(SystemExit) as exit_:
        summarize.main(["A fun book for children."])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    assert "error: data/package/model" in err and said in err, err
    assert err.rstrip().endswith("it is the output of stage 'package': rebuild it with "
                                 "`dvc repro -f package`."), err


def test_summarize_names_what_a_model_folder_of_ones_own_lacks(pipeline_model, tmp_path,
                                                                capsys):
    folder = tmp_path / "my-model"
    shutil.copytree(pipeline_model / "data" / "package" / "model", folder)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(SystemExit):
        summarize.main(["--model", str(folder), "A fun book for children."])
    err = capsys.readouterr().err
    assert "no tokenizer" in err and "sentencepiece" not in err.split(";")[1]
    assert err.rstrip().endswith("save the model and its tokenizer again with save_pretrained.")


def test_train_on_a_damaged_dataset(tmp_path):
    tokenized, base = make_inputs(tmp_path)
    cut(tokenized / "validation.parquet")
    with pytest.raises(UserError, match=r"data/tokenize is damaged or incomplete .*"
                                        r"`dvc repro -f tokenize`"):
        train_model(validate_section("train", TRAIN, SPEC), ROUGE, data_dir=tokenized,
                    base_model_dir=base,
                    output_dir=tmp_path / "model", checkpoints_root=tmp_path / "checkpoints",
                    live_dir=tmp_path / "live")
    assert not (tmp_path / "model").exists() and not (tmp_path / "live").exists()


def test_tokenize_with_a_damaged_base_model(pipeline_model, tmp_path):
    base = tmp_path / "data" / "base_model"
    shutil.copytree(pipeline_model / "data" / "base_model", base)
    cut(base / "tokenizer.json")
    with pytest.raises(UserError, match=r"data/base_model is damaged or incomplete \(.*"
                                        r"`dvc repro -f base_model`"):
        load_tokenizer(base)
