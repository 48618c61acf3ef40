"""Ctrl-C (SIGINT) and SIGTERM: a stage stops cleanly, says ``interrupted`` and exits 128 + signal.

A stage's ``main`` runs under :func:`stages.lib.errors.stage_entry`, which calls
:func:`install`: the first signal raises :class:`Interrupted` (a ``KeyboardInterrupt``)
in the main thread, so every ``atomic_outputs`` block removes its temporaries on the way
out; a second one, while that cleanup runs, ends the process at once. Libraries that
turn the ``KeyboardInterrupt`` into an error of their own (DuckDB's ``Query
interrupted``) still end as an interruption: :func:`received` remembers the signal.
"""

from __future__ import annotations

import _thread
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_received: int | None = None
_deferring = False
_pending: int | None = None
#: Whether the next signal is the first one delivered again (see :func:`_deliver_again`).
_redelivery = False


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


def _on_signal(signum: int, frame) -> None:
    global _received, _pending, _redelivery
    if _deferring:  # a few renames: they finish first, even on a second signal
        _received = _received or signum
        _pending = _received
        return
    if _received is not None and not _redelivery:  # a second signal, during the cleanup:
        exit_now(_received)                          # the user means it
    _redelivery = False
    _received = _received or signum
    if _in_finalizer(frame):  # Python would print the exception and go on
        _deliver_again(_received)
        return
    raise Interrupted(_received)


def _exit_at_once(signum: int, _frame) -> None:
    exit_now(signum)


def _unraisable(info: Any) -> None:
    """Python ignores an exception raised where it can't propagate (a weakref or garbage
    collector callback; ``__del__`` is seen to in :func:`_on_signal`), printing a traceback:
    an interruption raised there is delivered again instead."""
    if isinstance(info.exc_value, Interrupted) and _received is not None:
        _deliver_again(_received)
        return
    sys.__unraisablehook__(info)


def _in_finalizer(frame: Any) -> bool:
    """Whether ``frame`` runs inside a ``__del__`` (an exception raised there is lost)."""
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def _deliver_again(signum: int) -> None:
    """Run the handler again in a moment, out of the finalizer the signal landed in."""
    global _redelivery
    _redelivery = True

    def later() -> None:
        time.sleep(0.01)
        if _redelivery and signal.getsignal(signum) is _on_signal:
            _thread.interrupt_main(signum)

    _thread.start_new_thread(later, ())


def install() -> dict[Any, Any]:
    """Turn SIGINT and SIGTERM into :class:`Interrupted`; return the handlers they had.

    Outside the main thread (where handlers can't be set) nothing changes.
    """
    global _received, _pending, _redelivery
    _received = _pending = None
    _redelivery = False
    if threading.current_thread() is not threading.main_thread():
        return {}
    handlers: dict[Any, Any] = {signum: signal.signal(signum, _on_signal) for signum in SIGNALS}
    handlers["unraisablehook"], sys.unraisablehook = sys.unraisablehook, _unraisable
    return handlers


def restore(handlers: dict[Any, Any]) -> None:
    """Put back the handlers (and ``sys.unraisablehook``) :func:`install` returned.

    In a command (see :func:`exit_on_signal`) the stage is over by then, its outputs in
    place or untouched: a signal while Python shuts down is ignored, where Python's
    default would end the process with no word.
    """
    global _received, _pending, _redelivery
    handlers = dict(handlers)
    if "unraisablehook" in handlers:
        sys.unraisablehook = handlers.pop("unraisablehook")
    for signum, handler in handlers.items():
        signal.signal(signum, signal.SIG_IGN if handler is _exit_at_once else handler)
    _received = _pending = None  # (a process that goes on, as a test's, starts afresh)
    _redelivery = False


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
