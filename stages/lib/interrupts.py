"""Ctrl-C (SIGINT) and SIGTERM: a stage stops cleanly, says ``interrupted`` and exits 128 + signal.

A stage's ``main`` runs under :func:`stages.lib.errors.stage_entry`, which calls
:func:`install`: the first signal raises :class:`Interrupted` (a ``KeyboardInterrupt``)
in the main thread, so every ``atomic_outputs`` block removes its temporaries on the way
out; a second one, while that cleanup runs, ends the process at once. Libraries that
turn the ``KeyboardInterrupt`` into an error of their own (DuckDB's ``Query
interrupted``) still end as an interruption: :func:`received` remembers the signal.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_received: int | None = None
_deferring = False
_pending: int | None = None


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread by the first SIGINT or SIGTERM."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_status(signum: int) -> int:
    """The shell's status for a process ended by ``signum``: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signum


def received() -> int | None:
    """The first SIGINT/SIGTERM this process got since :func:`install`, or None."""
    return _received


def exit_now(signum: int) -> None:
    """Say ``interrupted`` and end the process without unwinding (nothing half-done is kept:
    every output is a hidden temporary until it is complete)."""
    try:
        sys.stderr.write("interrupted\n")
        sys.stderr.flush()
    finally:
        os._exit(exit_status(signum))


def _on_signal(signum: int, _frame) -> None:
    global _received, _pending
    if _deferring:  # a few renames: they finish first, even on a second signal
        _received = _received or signum
        _pending = _received
        return
    if _received is not None:  # a second signal, during the cleanup: the user means it
        exit_now(_received)
    _received = signum
    raise Interrupted(signum)


def _exit_at_once(signum: int, _frame) -> None:
    exit_now(signum)


def install() -> dict[int, Any]:
    """Turn SIGINT and SIGTERM into :class:`Interrupted`; return the handlers they had.

    Outside the main thread (where handlers can't be set) nothing changes.
    """
    global _received, _pending
    _received = _pending = None
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, _on_signal) for signum in SIGNALS}


def restore(handlers: dict[int, Any]) -> None:
    """Put back the handlers :func:`install` returned.

    In a command (see :func:`exit_on_signal`) the stage is over by then, its outputs in
    place or untouched: a signal while Python shuts down is ignored, where Python's
    default would end the process with no word.
    """
    global _received, _pending
    for signum, handler in handlers.items():
        signal.signal(signum, signal.SIG_IGN if handler is _exit_at_once else handler)
    _received = _pending = None  # (a process that goes on, as a test's, starts afresh)


def exit_on_signal() -> None:
    """End the process at once on SIGINT/SIGTERM: for starting up (imports) and shutting
    down, when the process has nothing half-written."""
    for signum in SIGNALS:
        signal.signal(signum, _exit_at_once)


def raise_if_received() -> None:
    """Raise :class:`Interrupted` if a signal came (for code that catches broad errors and
    would take an interruption for a failure to fall back from)."""
    if _received is not None:
        raise Interrupted(_received)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a signal back until the block ends: for a few renames that must all happen."""
    global _deferring, _pending
    if _deferring:
        yield
        return
    _deferring = True
    try:
        yield
    finally:
        _deferring = False
        pending, _pending = _pending, None
        if pending is not None:
            raise Interrupted(pending)
