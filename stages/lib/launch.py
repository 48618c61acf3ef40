"""Data-parallel training: the stage starts its own processes, the one way it runs.

``python -m stages.train`` is how every run starts (``dvc repro``, by hand, in
tests). It trains in one process, or starts copies of itself with the variables
``torchrun`` sets: one per visible GPU on a machine with several, else
``train.cpu_processes`` on the CPU; the Trainer then trains over NCCL or gloo, each
process on its share of every batch. ``RANK`` in a copy's environment tells it that
it was started so, and never starts processes of its own. (A launcher in the stage's
command, ``torchrun`` or ``accelerate launch``, would be a second way to the same
thing, with its own flags for what params.yaml already says.)
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import threading
from collections.abc import Sequence

from stages.lib import interrupts


def is_main_process() -> bool:
    """Whether this is the process that writes (the only one, or rank 0 of several)."""
    return int(os.environ.get("RANK", "0")) == 0


def launched() -> bool:
    """Whether this process is one of the copies :func:`launch_processes` started."""
    return "RANK" in os.environ


def training_processes(cpu_processes: int) -> int:
    """How many processes train: one per visible GPU, else ``cpu_processes``."""
    import torch  # here: the launcher's tests need no torch

    return torch.cuda.device_count() if torch.cuda.is_available() else cpu_processes


def launch_processes(processes: int, command: Sequence[str], threads: int = 1) -> int:
    """Run ``command`` as ``processes`` data-parallel processes; return the exit status.

    Each process gets ``threads`` OpenMP threads (0: the cores shared out). The
    status is the first failing process's, after the others are stopped, or 0. Each
    child is waited for by its own thread (``Popen.wait``), so stopping one never
    races with reaping another (``os.wait`` here once raised ChildProcessError).

    The children run in a process group of their own, so a Ctrl-C reaches them once,
    from here: a SIGINT or SIGTERM is passed on and the children are waited for (each
    stops cleanly), then :class:`~stages.lib.interrupts.Interrupted` is raised; a
    second signal kills them.
    """
    with socket.socket() as probe:  # a free port for the processes to meet on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    children: list[subprocess.Popen] = []
    ended: queue.Queue[subprocess.Popen] = queue.Queue()
    signals: list[int] = []

    def stop(child: subprocess.Popen) -> None:
        if child.poll() is None:
            child.send_signal(signals[0] if len(signals) == 1 else signal.SIGKILL)

    def forward(signum: int, _frame) -> None:
        signals.append(signum)
        for child in children:
            stop(child)

    previous = {signum: signal.signal(signum, forward) for signum in interrupts.SIGNALS}
    status = 0
    try:
        for rank in range(processes):
            env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                   "WORLD_SIZE": str(processes), "RANK": str(rank), "LOCAL_RANK": str(rank),
                   "LOCAL_WORLD_SIZE": str(processes),
                   "OMP_NUM_THREADS": str(threads or max(1, (os.cpu_count() or 1) // processes))}
            child = subprocess.Popen(list(command), env=env, start_new_session=True)
            children.append(child)
            threading.Thread(target=lambda c=child: (c.wait(), ended.put(c)), daemon=True).start()
            if signals:  # a signal came while the children started: this one missed it
                stop(child)
        for _ in children:
            child = ended.get()
            code = child.returncode
            if code != 0 and status == 0:
                status = code if code > 0 else 128 - code
                for other in children:  # (after a signal they have it already)
                    if other.poll() is None and not signals:
                        other.send_signal(signal.SIGTERM)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if signals:
        raise interrupts.Interrupted(signals[0])
    return status
