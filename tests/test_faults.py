"""Faults: a stage killed mid-write, a full disk, queued experiments."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from stages.lib.errors import UserError
from stages.lib.io import atomic_path, write_json
from tests.conftest import ROOT, set_params
from tests.test_pipeline import dvc, git, init_repo, ran

# Runs a stage with save_splits' Parquet writer patched to SIGKILL the process
# after the second split's file is written: a kill in the middle of writing the output.
KILL_DURING_SAVE = textwrap.dedent("""
    import os, signal, sys
    import stages.lib.data as data
    original = data.pq.write_table
    calls = []
    def write_then_die(*args, **kwargs):
        original(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
    data.pq.write_table = write_then_die
    import runpy
    sys.argv = ["stages.{stage}"]
    runpy.run_module("stages.{stage}", run_name="__main__")
""")


def test_stage_killed_mid_write_leaves_no_output_and_reruns(project):
    init_repo(project)
    killed = subprocess.run([sys.executable, "-c", KILL_DURING_SAVE.format(stage="download")],
                            cwd=project, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9
    # Only a hidden temporary is left, never data/download itself.
    assert not (project / "data/download").exists()
    assert list((project / "data").glob(".download.tmp-*"))
    status = dvc(project, "status", "download").stdout
    assert "changed outs" in status and "data/download" in status
    # `dvc commit` has nothing it could take for a result.
    commit = subprocess.run(["dvc", "commit", "-f", "download"], cwd=project,
                            capture_output=True, text=True, timeout=300)
    assert commit.returncode != 0 and "data/download" in commit.stderr + commit.stdout

    assert ran(dvc(project, "repro", "download")) == {"download"}
    assert (project / "data/download/train.parquet").is_file()
    assert not list((project / "data").glob(".download.tmp-*"))
    assert dvc(project, "status", "download").stdout.strip().startswith(
        "Data and pipelines are up to date")


def test_full_disk_while_writing_is_a_clear_error_with_no_partial_output(tmp_path, monkeypatch):
    target = tmp_path / "metrics" / "out.json"

    def no_space(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(type(target), "write_text", no_space)
    with pytest.raises(UserError, match="could not write .*out.json: No space left on device"):
        write_json(target, {"rows": 1})
    assert not target.exists()
    assert not target.parent.exists()  # the folder made for it is removed too


def test_failed_block_keeps_the_previous_output(tmp_path):
    target = tmp_path / "result.json"
    write_json(target, {"version": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == '{\n  "version": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_full_disk_in_a_stage_exits_2_without_output(project):
    script = textwrap.dedent("""
        import errno, runpy, sys
        import stages.lib.data as data
        def no_space(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")
        data.pq.write_table = no_space
        sys.argv = ["stages.download"]
        runpy.run_module("stages.download", run_name="__main__")
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=project, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "could not write data/download: No space left on device" in result.stderr
    assert not (project / "data/download").exists()
    assert not list((project / "data").glob(".download.tmp-*"))


# The queued experiments' stage first meets the other one: opening a FIFO blocks until its
# other end is opened too, so each gets past it only while the other experiment runs. Run one
# after the other, the first would wait alone until the alarm ends it, and its experiment fails.
MEET = textwrap.dedent("""
    import signal, sys, yaml
    signal.alarm(90)  # the other experiment never came: fail, don't wait forever
    words = yaml.safe_load(open("params.yaml"))["drop_short_titles"]["min_words"]
    with open(sys.argv[1], "w" if words == 1 else "r"):
        pass
    print("met the other experiment")
""")


def test_two_queued_experiments_run_in_parallel_and_show(project, tmp_path):
    init_repo(project)
    dvc(project, "repro", "drop_short_titles")
    fifo = tmp_path / "meeting"
    os.mkfifo(fifo)
    (project / "meet.py").write_text(MEET)
    stages = (project / "dvc.yaml").read_text()
    command = "    cmd: python -m stages.drop_short_titles\n"
    assert command in stages
    (project / "dvc.yaml").write_text(stages.replace(
        command, f"    cmd: python meet.py {fifo} && python -m stages.drop_short_titles\n"))
    git(project, "add", "-A")
    git(project, "commit", "-qm", "lock, meet")
    for words in (1, 4):
        dvc(project, "exp", "run", "--queue", "--name", f"min{words}",
            "-S", f"drop_short_titles.min_words={words}", "drop_short_titles")
    # The workers inherit `queue start`'s stdout: read through a pipe, it would not end until
    # they do; like in a terminal, it returns at once when its output goes to a file.
    with open(tmp_path / "queue-start.log", "w") as log:
        subprocess.run(["dvc", "queue", "start", "-j", "2"], cwd=project, stdout=log,
                       stderr=subprocess.STDOUT, env={**os.environ, "DVC_NO_ANALYTICS": "1"},
                       check=True, timeout=120)
    try:
        status = queue_status_when_done(project, deadline=time.monotonic() + 300)
        assert status.count("Success") == 2, status
        for name in ("min1", "min4"):
            logs = dvc(project, "queue", "logs", name).stdout
            assert "met the other experiment" in logs, logs
        shown = dvc(project, "exp", "show", "--csv").stdout
        rows = {line.split(",")[0] for line in shown.splitlines()}
        assert {"min1", "min4"} <= rows, shown
    finally:  # no worker outlives the test, whatever happened
        dvc(project, "queue", "stop", "--kill", timeout=120)


def queue_status_when_done(project, deadline: float) -> str:
    """`dvc queue status` once no experiment is queued or running (each call takes a second or
    so: the polling needs no pause); fails with the last status at the deadline."""
    while True:
        status = dvc(project, "queue", "status").stdout
        tasks = status.split("Worker status")[0]
        if "Queued" not in tasks and "Running" not in tasks:
            return status
        assert time.monotonic() < deadline, f"still not done:\n{status}"


def test_a_params_typo_costs_no_results(project):
    # DVC deleted a stage's outputs before it ran it, so a run that stopped on a typo left
    # no data/concat_shuffle and no metrics (which `dvc checkout` can't restore: not cached).
    init_repo(project)
    dvc(project, "repro", "concat_shuffle")
    outputs = [project / "metrics" / "concat_shuffle.json",
               *sorted((project / "data" / "concat_shuffle").rglob("*.*"))]
    before = {path: path.read_bytes() for path in outputs}
    set_params(project, concat_shuffle={"seed": "42x"})
    failed = subprocess.run(["dvc", "repro", "concat_shuffle"], cwd=project, capture_output=True,
                            text=True, timeout=300)
    assert failed.returncode != 0 and "concat_shuffle.seed must be" in failed.stderr
    assert {path: path.read_bytes() for path in outputs} == before
    status = dvc(project, "status", "concat_shuffle").stdout
    assert "changed outs" not in status and "params.yaml" in status, status  # the typo only
    set_params(project, concat_shuffle={"seed": 42})
    assert dvc(project, "status", "concat_shuffle").stdout.startswith("Data and pipelines are up")


def test_every_output_is_kept_when_its_stage_fails():
    # persist: DVC deletes no output before it runs a stage; the stage replaces them.
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        for kind in ("outs", "metrics", "plots"):
            for out in stage.get(kind, []):
                assert isinstance(out, dict) and next(iter(out.values())).get("persist"), \
                    (name, out)
