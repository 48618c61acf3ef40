"""User-facing errors: one clear paragraph, no traceback, non-zero exit."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import TypeVar

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
    """Wrap a stage's ``main`` so user errors print one paragraph and exit 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        setup_logging()
        try:
            return func(*args, **kwargs)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(USER_ERROR_EXIT)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]
