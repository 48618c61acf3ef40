"""Ctrl-C (SIGINT) and SIGTERM at several moments of several stages: `interrupted`, exit 130
or 143, no traceback, nothing half-written, and the next run recovers."""

from __future__ import annotations

import ctypes
import os
import queue
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from stages.lib import interrupts
from stages.lib.errors import UserError
from stages.lib.io import atomic_outputs
from tests.conftest import ROOT, set_params
from tests.model_helpers import TRAIN, make_inputs
from tests.test_pipeline import dvc, init_repo, ran

TIMEOUT = 300
REAL_MARC = ROOT.parent / "shared" / "marc"


class Running:
    """A command started in ``cwd``, its stderr read line by line as it comes."""

    def __init__(self, args: list[str], cwd: Path, **popen) -> None:
        self.process = subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, **popen)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str) -> None:
        """Block until a line of stderr holds ``text``."""
        while True:
            line = self.lines.get(timeout=TIMEOUT)
            assert line is not None, f"ended before {text!r}:\n{''.join(self.seen)}"
            self.seen.append(line)
            if text in line:
                return

    def finish(self) -> tuple[int, str]:
        """The exit status and the whole of stderr."""
        self.process.wait(timeout=TIMEOUT)
        while (line := self.lines.get(timeout=TIMEOUT)) is not None:
            self.seen.append(line)
        return self.process.returncode, "".join(self.seen)


def assert_interrupted(status: int, stderr: str, signum: int) -> None:
    assert status == 128 + signum, stderr
    assert "interrupted" in stderr.splitlines(), stderr
    assert "Traceback" not in stderr and "error:" not in stderr, stderr


def test_a_signal_waits_for_the_renames_of_a_deferred_block():
    previous = interrupts.install()
    try:
        with pytest.raises(interrupts.Interrupted) as raised:
            with interrupts.deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                done = "the block went on"
        assert done and raised.value.signum == signal.SIGTERM
        assert interrupts.received() == signal.SIGTERM
    finally:
        interrupts.restore(previous)
    interrupts.raise_if_received()  # forgotten once the handlers are put back


class SignalsItselfWhenCollected:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here, in __del__
        self.collected = True


def test_a_signal_that_lands_in_a_finalizer_is_raised_after_it(capsys):
    # An exception raised in a __del__ is printed ("Exception ignored in ...") and lost, so
    # the stage went on: seen when a two-process training was stopped (a signal landed in
    # a regex object's __del__ while an error unwound).
    previous = interrupts.install()
    try:
        with pytest.raises(interrupts.Interrupted) as raised:
            SignalsItselfWhenCollected()  # dropped at once
            assert interrupts.received() == signal.SIGTERM
            threading.Event().wait(5)  # the signal comes again, here
        assert raised.value.signum == signal.SIGTERM
    finally:
        interrupts.restore(previous)
    assert "Exception ignored" not in capsys.readouterr().err


def test_outputs_are_replaced_all_together_or_not_at_all(tmp_path):
    data, metrics = tmp_path / "data" / "stage", tmp_path / "metrics" / "stage.json"
    with atomic_outputs(data, metrics) as (data_tmp, metrics_tmp):
        data_tmp.mkdir()
        (data_tmp / "rows").write_text("1")
        metrics_tmp.write_text("one")
    with pytest.raises(RuntimeError), atomic_outputs(data, metrics) as (data_tmp, metrics_tmp):
        data_tmp.mkdir()
        metrics_tmp.write_text("two")
        raise RuntimeError("the stage failed after writing some outputs")
    # A rename that fails (here: the slot the previous metrics move to is taken) puts back
    # what was already moved.
    with pytest.raises(UserError, match="could not write .*stage.json"):
        with atomic_outputs(data, metrics) as (data_tmp, metrics_tmp):
            data_tmp.mkdir()
            (data_tmp / "rows").write_text("3")
            metrics_tmp.write_text("three")
            taken = metrics.parent / f".stage.json.tmp-old-{os.getpid()}"
            taken.mkdir()
            (taken / "file").write_text("")
    assert (data / "rows").read_text() == "1" and metrics.read_text() == "one"
    assert sorted(p.name for p in data.parent.iterdir()) == ["stage"]


def big_marc_folder(folder: Path, copies: int = 24) -> Path:
    """The sample's English files, the train file repeated: long enough to parse that a
    signal sent when its first file is announced lands while the stage works."""
    folder.mkdir()
    for split in ("train", "dev", "test"):
        text = (ROOT / "data" / "sample" / f"dataset_en_{split}.json").read_text()
        (folder / f"dataset_en_{split}.json").write_text(text * (copies if split == "train"
                                                                 else 1))
    return folder


def test_download_stopped_while_it_parses(project, tmp_path):
    set_params(project, download={"source": str(big_marc_folder(tmp_path / "marc")),
                                  "languages": ["en"]})
    outputs = {name: (project / name).read_bytes() for name in
               ("metrics/download.json", "plots/download/categories.csv",
                "plots/download/categories.png")}
    running = Running([sys.executable, "-m", "stages.download"], project)
    running.wait_for("reading")
    running.process.send_signal(signal.SIGTERM)
    assert_interrupted(*running.finish(), signal.SIGTERM)
    assert not (project / "data" / "download").exists()
    assert [p.name for p in (project / "data").iterdir()] == ["sample"]  # no temporary
    assert {name: (project / name).read_bytes() for name in outputs} == outputs


class OpenWatch:
    """Counts the times a file is opened (Linux's inotify): an event to wait on."""

    def __init__(self, path: Path) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(0)
        if self.fd < 0 or libc.inotify_add_watch(self.fd, str(path).encode(), 0x20) < 0:
            raise OSError(ctypes.get_errno(), f"no inotify watch on {path}")  # 0x20: IN_OPEN
        self.count = 0

    def wait_for(self, count: int) -> None:
        while self.count < count:
            assert select.select([self.fd], [], [], TIMEOUT)[0], f"opened {self.count} times"
            self.count += len(os.read(self.fd, 4096)) // 16  # an event of a file: 16 bytes

    def close(self) -> None:
        os.close(self.fd)


@pytest.mark.skipif(not REAL_MARC.is_dir() or sys.platform != "linux",
                    reason="needs MARC's files in ../shared/marc, and inotify")
def test_download_of_the_real_files_stopped_in_duckdbs_parse(project):
    # DuckDB turns the Ctrl-C into RuntimeError("Query interrupted"), which was a traceback.
    set_params(project, download={"source": str(REAL_MARC), "languages": ["en", "es"]})
    watch = OpenWatch(REAL_MARC / "dataset_en_train.json.gz")
    try:
        running = Running([sys.executable, "-m", "stages.download"], project)
        watch.wait_for(2)  # read for its first line, then by DuckDB (~0.3 s)
        running.process.send_signal(signal.SIGINT)
    finally:
        watch.close()
    assert_interrupted(*running.finish(), signal.SIGINT)
    assert not (project / "data" / "download").exists()


def test_stopped_while_importing_its_libraries(project):
    # -X importtime reports each import as it ends: the signal lands among them.
    running = Running([sys.executable, "-X", "importtime", "-m", "stages.tokenize"], project)
    running.wait_for("torch")
    running.process.send_signal(signal.SIGINT)
    assert_interrupted(*running.finish(), signal.SIGINT)


def processes_in(folder: Path) -> list[int]:
    """Processes whose working folder is ``folder``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cwd").resolve() == folder.resolve():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_train_in_two_processes_stopped_mid_training(project):
    make_inputs(project)
    set_params(project, train={**TRAIN, "epochs": 50, "cpu_processes": 2})
    before = (project / "metrics" / "train.json").read_bytes()
    running = Running([sys.executable, "-m", "stages.train"], project)
    running.wait_for("books phase")
    running.process.send_signal(signal.SIGINT)  # to the launcher, as a Ctrl-C is
    status, stderr = running.finish()
    assert_interrupted(status, stderr, signal.SIGINT)
    assert stderr.count("interrupted") == 3  # the launcher and both processes
    assert not (project / "data" / "train").exists()
    assert (project / "metrics" / "train.json").read_bytes() == before
    assert not list((project / "dvclive").glob(".train.tmp-*"))
    assert processes_in(project) == []


def test_dvc_repro_interrupted_then_rerun(project, tmp_path):
    set_params(project, download={"source": str(big_marc_folder(tmp_path / "marc")),
                                  "languages": ["en"]})
    init_repo(project)
    # A Ctrl-C in a terminal signals the whole foreground group: dvc and the stage.
    running = Running(["dvc", "repro", "download"], project, start_new_session=True,
                      env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    running.wait_for("reading")
    os.killpg(running.process.pid, signal.SIGINT)
    status, stderr = running.finish()
    assert status != 0 and "interrupted" in stderr and "Traceback" not in stderr, stderr
    assert not (project / "data" / "download").exists()
    assert ran(dvc(project, "repro", "download")) == {"download"}
    assert dvc(project, "status", "download").stdout.startswith("Data and pipelines are up")
