"""The CPU launcher of the train stage: exit statuses, processes that end together, signals."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import textwrap

from stages.lib.launch import launch_processes
from tests.conftest import ROOT

TIMEOUT = 120


# Rank 1 fails once rank 0 is ready; rank 0 waits for a signal and notes which one came.
# The FIFO is their meeting point (opening it blocks until both ends are open); the alarms
# end both if the launcher never stops rank 0, so a broken launcher fails the test.
STOP_TOGETHER = textwrap.dedent("""
    import os, signal, sys
    fifo, note = sys.argv[1], sys.argv[2]
    signal.alarm(30)
    if os.environ["RANK"] == "1":
        open(fifo).close()  # rank 0 is ready
        sys.exit(3)
    def stopped(signum, frame):
        with open(note, "w") as handle:
            handle.write(signal.Signals(signum).name)
        sys.exit(1)
    signal.signal(signal.SIGTERM, stopped)
    open(fifo, "w").close()
    signal.pause()
""")


def test_processes_stop_together_when_one_fails(tmp_path):
    fifo, note = tmp_path / "ready", tmp_path / "rank0"
    os.mkfifo(fifo)
    status = launch_processes(2, [sys.executable, "-c", STOP_TOGETHER, str(fifo),
                                      str(note)])
    assert status == 3  # the first failure's status
    assert note.read_text() == "SIGTERM"  # rank 0 was stopped by the launcher
    assert launch_processes(2, [sys.executable, "-c", "pass"]) == 0


# A launcher whose two processes say "ready <pid>", then end with status 5 when their
# stdin (the launcher's) closes: both at the same moment.
CHILD = "import os, sys; os.write(1, b'ready %d\\n' % os.getpid()); sys.stdin.read(); sys.exit(5)"
LAUNCHER = ("import sys\nfrom stages.lib.launch import launch_processes\n"
            f"print('status', launch_processes(2, [sys.executable, '-c', {CHILD!r}]))")


def wait_until_ended(pid: int) -> None:
    """Block until process ``pid`` (not a child of this one) has ended."""
    handle = os.pidfd_open(pid)
    try:
        assert select.select([handle], [], [], TIMEOUT)[0], f"{pid} still runs"
    finally:
        os.close(handle)


def test_processes_that_end_together_are_reaped_without_error():
    # Both processes have ended before the launcher looks: with os.wait(), stopping the
    # second (Popen.terminate polls, so reaps it) made the next os.wait() raise
    # ChildProcessError. The launcher is stopped (SIGSTOP) while both end.
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER], cwd=ROOT, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
    try:
        pids = [int(launcher.stdout.readline().split()[1]) for _ in range(2)]
        launcher.send_signal(signal.SIGSTOP)
        os.waitpid(launcher.pid, os.WUNTRACED)  # returns once it is stopped (reaps nothing)
        launcher.stdin.close()  # both read end of file and exit
        launcher.stdin = None
        for pid in pids:
            wait_until_ended(pid)
        launcher.send_signal(signal.SIGCONT)
        out, err = launcher.communicate(timeout=TIMEOUT)
    finally:
        launcher.kill()
    assert launcher.returncode == 0, err
    assert out.split() == ["status", "5"] and "Traceback" not in err


# A stage-like command (under stage_entry) that starts two processes that wait for a signal.
STAGE = textwrap.dedent("""
    import sys
    from stages.lib.errors import stage_entry
    from stages.lib.launch import launch_processes
    child = ("import os, signal; from stages.lib.errors import stage_entry\\n"
             "@stage_entry\\ndef main():\\n    os.write(1, b'ready\\\\n'); signal.pause()\\n"
             "main()")
    stage_entry(lambda: sys.exit(launch_processes(2, [sys.executable, "-c", child])))()
""")


def test_a_sigterm_to_the_launcher_stops_its_processes_cleanly():
    launcher = subprocess.Popen([sys.executable, "-c", STAGE], cwd=ROOT, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert [launcher.stdout.readline() for _ in range(2)] == ["ready\n"] * 2
        launcher.send_signal(signal.SIGTERM)
        _, err = launcher.communicate(timeout=TIMEOUT)
    finally:
        launcher.kill()
    # Each process said so and ended 143; then the launcher, with the same status.
    assert launcher.returncode == 143, err
    assert err.splitlines() == ["interrupted"] * 3
