"""`dvc repro` in a temporary copy of the project, as a user runs it from a fresh clone."""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import uuid
from pathlib import Path

import yaml

from tests.conftest import ROOT, set_params

GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]


def git(project: Path, *args: str) -> None:
    subprocess.run([*GIT, *args], cwd=project, check=True, capture_output=True, timeout=60)


def init_repo(project: Path) -> None:
    git(project, "init", "-q")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "copy")


def dvc(project: Path, *args: str, columns: int = 80, timeout: float = 1800
        ) -> subprocess.CompletedProcess:
    """A dvc command that must succeed, printing ``columns`` wide; the stages it runs see no
    GPU (the CPU's results, byte for byte, on any machine)."""
    result = subprocess.run(["dvc", *args], cwd=project, capture_output=True, text=True,
                            env={**os.environ, "DVC_NO_ANALYTICS": "1", "COLUMNS": str(columns),
                                 "CUDA_VISIBLE_DEVICES": ""}, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def ran(result: subprocess.CompletedProcess) -> set[str]:
    """The stages a `dvc repro` ran."""
    return {line.split("'")[1] for line in result.stdout.splitlines()
            if line.startswith("Running stage '")}


def stage_modules(module: str) -> set[str]:
    """The files of ``module`` and of every ``stages.*`` module it imports, transitively."""
    files, todo = set(), [module]
    while todo:
        path = ROOT / (todo.pop().replace(".", "/") + ".py")
        relative = path.relative_to(ROOT).as_posix()
        if relative in files:
            continue
        files.add(relative)
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            todo += [name for name in names
                     if name.startswith("stages.") and (ROOT / (name.replace(".", "/") + ".py"))
                     .is_file()]
    return files


def test_every_stage_depends_on_the_code_it_runs():
    """A change to any module a stage imports reruns it: dvc.yaml lists them all."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert len(stages) >= 9
    for name, stage in stages.items():
        module = stage["cmd"].split("-m ", 1)[1].split()[0]
        code = {dep for dep in stage["deps"] if dep.endswith(".py")}
        assert stage_modules(module) <= code, (name, stage_modules(module) - code)


def test_data_stages_repro_then_noop_then_only_changed(project):
    init_repo(project)
    first = dvc(project, "repro", "drop_short_titles")
    assert ran(first) == {"download", "filter_books", "concat_shuffle", "drop_short_titles"}
    assert (project / "data/drop_short_titles/train.parquet").is_file()

    assert ran(dvc(project, "repro", "drop_short_titles")) == set()

    set_params(project, drop_short_titles={"min_words": 2})
    assert ran(dvc(project, "repro", "drop_short_titles")) == {"drop_short_titles"}

    # The stages' reports are outputs, not metrics: `dvc metrics show` has the headline only.
    assert "metrics/drop_short_titles.json" not in dvc(project, "metrics", "show").stdout
    assert (project / "metrics/drop_short_titles.json").is_file()
    plots = dvc(project, "plots", "show", "--json").stdout
    for image in IMAGES[2:]:
        assert image in plots and (project / image).stat().st_size > 0, image


# Small enough for CI; the mechanics are those of the defaults.
FAST = {
    "base_model": {"scratch": {"vocab_size": 400, "d_model": 32, "d_ff": 64, "d_kv": 8,
                               "num_heads": 2, "num_layers": 1, "num_decoder_layers": 1,
                               "dropout_rate": 0.1, "seed": 42}},
    "tokenize": {"max_input_length": 128},
    "train": {"epochs": 1, "batch_size": 16, "eval_batch_size": 64, "pretrain_epochs": 0.2,
              "others_epochs": 0.2, "min_phase_steps": 0, "pretrain_min_steps": 0},
    "evaluate": {"num_beams": 2, "max_new_tokens": 12, "batch_size": 64},
    "rouge": {"bootstrap_samples": 100},
}
ALL_STAGES = {"download", "filter_books", "concat_shuffle", "drop_short_titles", "baseline",
              "base_model", "tokenize", "train", "evaluate", "package"}
DETERMINISTIC = ["metrics/baseline.json", "metrics/train.json", "metrics/evaluate.json",
                 "data/evaluate/predictions.jsonl"]
#: The charts dvc.yaml shows (`dvc plots show`), as images.
IMAGES = ["plots/train/rouge_per_epoch.png", "plots/train/training.png",
          "plots/drop_short_titles/title_words.png", "plots/drop_short_titles/body_words.png",
          "plots/download/categories.png"]


def snapshot(project: Path) -> dict[str, bytes]:
    files = {name: (project / name).read_bytes() for name in DETERMINISTIC}
    for folder in ("data/train/model", "data/package/model", "plots"):
        for path in sorted((project / folder).rglob("*")):
            if path.is_file():
                files[str(path.relative_to(project))] = path.read_bytes()
    return files


def readme_command(prefix: str) -> list[str]:
    """The command the README recommends that starts with ``prefix``."""
    readme = (ROOT / "README.md").read_text()
    (line,) = {match.strip() for match in re.findall(rf"^({re.escape(prefix)}.*?)(?:  #.*)?$",
                                                      readme, flags=re.MULTILINE)}
    return shlex.split(line)


def check_plots_offline(project: Path) -> None:
    """`dvc plots show` writes a page of images that needs no network."""
    dvc(project, "plots", "show")
    page = (project / "dvc_plots/index.html").read_text()
    assert "<script" not in page and "http" not in page
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == len(IMAGES)
    for source in sources:
        assert (project / "dvc_plots" / source).read_bytes().startswith(b"\x89PNG"), source


def check_experiment_views(project: Path) -> None:
    """After a learning-rate change: the headline scores first, a table that fits 200 columns."""
    shown = dvc(project, "metrics", "show", columns=200).stdout.splitlines()
    assert [line.split()[0] for line in shown[1:]] == ["metrics/scores.json"]
    diff = dvc(project, "metrics", "diff", columns=200).stdout.splitlines()
    assert diff[0].split()[:2] == ["Path", "Metric"] and len(diff) > 1
    assert {line.split()[0] for line in diff[1:]} == {"metrics/scores.json"}
    assert diff[1].split()[1].startswith("model.")

    command = readme_command("dvc exp show")
    table = dvc(project, *command[1:], "--no-pager", columns=200).stdout
    assert "…" not in table, table
    assert max(len(line.rstrip()) for line in table.splitlines()) <= 200, table
    header = dvc(project, *command[1:], "--csv").stdout.splitlines()[0].split(",")
    assert "train.learning_rate" in header and "model.all.RL" in header, header
    assert len(header) <= 12, header


def test_whole_pipeline_end_to_end(project, monkeypatch):
    # Every stage runs with a token in its environment; its value must be in no output.
    token = f"hf_{uuid.uuid4().hex}"
    monkeypatch.setenv("HF_TOKEN", token)
    set_params(project, **FAST)
    init_repo(project)
    first = dvc(project, "repro")
    assert ran(first) == ALL_STAGES
    assert token not in first.stdout + first.stderr
    evaluate = json.loads((project / "metrics/evaluate.json").read_text())
    assert evaluate["model"]["all"]["rows"] == evaluate["model"]["en"]["rows"] + \
        evaluate["model"]["es"]["rows"]
    assert (project / "data/package/model/model.safetensors").is_file()
    shown = dvc(project, "metrics", "show", "--json").stdout
    assert "lead3" in shown and "model" in shown
    check_plots_offline(project)
    written = [path for folder in ("data", "metrics", "plots", "dvclive")
               for path in (project / folder).rglob("*") if path.is_file()]
    assert project / "data/package/model/model.safetensors" in written
    for path in [*written, project / "dvc.lock"]:
        assert token.encode() not in path.read_bytes(), path

    assert ran(dvc(project, "repro")) == set()

    subprocess.run([*GIT, "add", "-A"], cwd=project, check=True)
    subprocess.run([*GIT, "commit", "-qm", "first run"], cwd=project, check=True)
    set_params(project, train={"learning_rate": 2e-3})
    assert ran(dvc(project, "repro")) == {"train", "evaluate", "package"}
    check_experiment_views(project)

    set_params(project, evaluate={"num_beams": 1})  # decoding: never retrains
    assert ran(dvc(project, "repro")) == {"evaluate", "package"}
    saved = json.loads((project / "data/package/model/generation_config.json").read_text())
    assert saved["num_beams"] == 1 and "max_length" not in saved

    set_params(project, tokenize={"max_input_length": 96})
    assert ran(dvc(project, "repro")) == {"tokenize", "train", "evaluate", "package"}

    before = snapshot(project)
    assert ran(dvc(project, "repro", "-f")) == ALL_STAGES
    after = snapshot(project)
    assert before.keys() == after.keys()
    assert [name for name in before if before[name] != after[name]] == []
