"""User-facing errors: one clear paragraph, no traceback, non-zero exit."""

from __future__ import annotations

import functools
import logging
import signal
import sys
from collections.abc import Callable
from typing import TypeVar

from stages.lib import interrupts

F = TypeVar("F", bound=Callable[..., object])

#: Exit status of a stage stopped by a user error (bad input, bad params).
USER_ERROR_EXIT = 2


class UserError(Exception):
    """A mistake the user can fix (bad params, bad input file, missing data).

    The message must say what is wrong and where (file and line, or params key)
    and what was expected.
    """


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)


def stage_entry(func: F) -> F:
    """Wrap a stage's ``main``: user errors print one paragraph and exit 2; Ctrl-C and
    SIGTERM print ``interrupted`` and exit 130 and 143 (see :mod:`stages.lib.interrupts`)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        setup_logging()
        previous = interrupts.install()
        try:
            try:
                result = func(*args, **kwargs)
            except SystemExit:
                raise
            except BaseException as err:
                # received(): a library may have turned the KeyboardInterrupt into an
                # error of its own (DuckDB's RuntimeError "Query interrupted").
                signum = interrupts.received() or getattr(err, "signum", None)
                if signum is None and isinstance(err, KeyboardInterrupt):
                    signum = signal.SIGINT
                if signum is not None:
                    _interrupted(signum)
                if isinstance(err, UserError):
                    _say(f"error: {err}")
                    sys.exit(USER_ERROR_EXIT)
                raise
            if interrupts.received() is not None:  # asked to stop, though the work got done
                _interrupted(interrupts.received())
            return result
        finally:
            interrupts.restore(previous)

    return wrapper  # type: ignore[return-value]


def _interrupted(signum: int) -> None:
    _say("interrupted")
    sys.exit(interrupts.exit_status(signum))


def _say(line: str) -> None:
    # One write: the processes of a CPU training run share the terminal.
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
