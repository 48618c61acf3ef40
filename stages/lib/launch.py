"""Data-parallel training on the CPU: the stage starts its own processes.

``python -m stages.train`` is how every run starts (``dvc repro``, by hand, in
tests). On a machine without a GPU and with ``train.cpu_processes`` > 1 it starts
that many copies of itself with the variables ``torchrun`` sets, and the Trainer
trains over gloo, each process on its share of every batch. On GPUs, start the
stage under ``accelerate launch`` (or ``torchrun``) instead; ``RANK`` in the
environment tells the stage that a launcher already started it, so it never
starts processes of its own.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import threading
from collections.abc import Sequence


def is_main_process() -> bool:
    """Whether this is the process that writes (the only one, or rank 0 of several)."""
    return int(os.environ.get("RANK", "0")) == 0


def launched() -> bool:
    """Whether a launcher (this module, torchrun, accelerate) started this process."""
    return "RANK" in os.environ


def launch_cpu_processes(processes: int, command: Sequence[str], threads: int = 1) -> int:
    """Run ``command`` as ``processes`` data-parallel processes; return the exit status.

    Each process gets ``threads`` OpenMP threads (0: the cores shared out). The
    status is the first failing process's, after the others are stopped, or 0. Each
    child is waited for by its own thread (``Popen.wait``), so stopping one never
    races with reaping another.
    """
    with socket.socket() as probe:  # a free port for the processes to meet on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    children = []
    ended: queue.Queue[subprocess.Popen] = queue.Queue()
    for rank in range(processes):
        env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
               "WORLD_SIZE": str(processes), "RANK": str(rank), "LOCAL_RANK": str(rank),
               "LOCAL_WORLD_SIZE": str(processes),
               "OMP_NUM_THREADS": str(threads or max(1, (os.cpu_count() or 1) // processes))}
        child = subprocess.Popen(list(command), env=env)
        children.append(child)
        threading.Thread(target=lambda c=child: (c.wait(), ended.put(c)), daemon=True).start()
    def forward(signum, _frame):  # a SIGTERM to the launcher stops its processes too
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    status = 0
    try:
        for _ in children:
            child = ended.get()
            code = child.returncode
            if code != 0 and status == 0:
                status = code if code > 0 else 128 - code
                for other in children:
                    if other.poll() is None:
                        other.send_signal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    return status
