"""Atomic writes: outputs appear complete or not at all.

Every output is written to a hidden temporary sibling and renamed into place
only when complete, so a stage killed mid-write (or a full disk) never leaves
something a later ``dvc repro`` / ``dvc commit`` would take for a result.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from stages.lib import interrupts
from stages.lib.errors import UserError

TMP_MARK = ".tmp-"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def remove_stale_temporaries(path: Path) -> None:
    """Delete leftovers of earlier runs of ``path`` that were killed mid-write."""
    if path.parent.is_dir():
        for stale in path.parent.glob(f".{path.name}{TMP_MARK}*"):
            _remove(stale)


@contextmanager
def atomic_outputs(*paths: str | Path) -> Iterator[list[Path]]:
    """Yield temporary paths to write ``paths`` to; move them all into place when the block
    succeeds, or none of them.

    So a stage's data, metrics and plots are replaced together: a failure or a signal
    while they are written leaves the previous ones as they were. The renames at the end
    hold a signal back until they are all done (and are undone if one fails).
    """
    targets = [Path(path) for path in paths]
    temporaries = [path.parent / f".{path.name}{TMP_MARK}{os.getpid()}" for path in targets]
    made: list[Path] = []  # folders made here, removed again if nothing is written
    done = False
    try:
        for path in targets:
            made += reversed([folder for folder in path.parents if not folder.exists()])
            path.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(path)
        yield temporaries
        for tmp in temporaries:
            if not (tmp.exists() or tmp.is_symlink()):
                raise RuntimeError(f"nothing was written to {tmp}")
        with interrupts.deferred():
            _replace_all(temporaries, targets)
        done = True
    except OSError as err:
        raise UserError(f"could not write {_failed_path(err, targets, temporaries)}: "
                        f"{err.strerror or err}. Nothing was written; free some space or check "
                        "permissions, then run the stage again.") from None
    finally:
        for tmp in temporaries:
            _remove(tmp)
        for folder in reversed(made if not done else []):
            with suppress(OSError):
                folder.rmdir()


def _replace_all(temporaries: list[Path], targets: list[Path]) -> None:
    """Rename each temporary to its target; on a failure, put the previous targets back."""
    olds: list[tuple[Path, Path]] = []
    done: list[Path] = []
    try:
        for path in targets:
            if path.exists() or path.is_symlink():
                old = path.parent / f".{path.name}{TMP_MARK}old-{os.getpid()}"
                os.replace(path, old)
                olds.append((old, path))
        for tmp, path in zip(temporaries, targets, strict=True):
            os.replace(tmp, path)
            done.append(path)
    except OSError:
        for path in done:
            _remove(path)
        for old, path in olds:
            os.replace(old, path)
        raise
    for old, _ in olds:
        _remove(old)


def _failed_path(err: OSError, targets: list[Path], temporaries: list[Path]) -> Path:
    """The output an OSError is about (the first one if it does not say)."""
    named = Path(err.filename) if err.filename else None
    for path, tmp in zip(targets, temporaries, strict=True):
        if named is not None and ({path, tmp} & {named, *named.parents}):
            return path
    return targets[0]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; move it to ``path`` when the block succeeds."""
    with atomic_outputs(path) as (tmp,):
        yield tmp


def output_stage(path: str | Path) -> str | None:
    """The stage whose output ``path`` is (``data/<stage>/...``), or None."""
    parts = Path(path).parts
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] == "data" and (_STAGES_DIR / f"{parts[index + 1]}.py").is_file():
            return parts[index + 1]
    return None


_STAGES_DIR = Path(__file__).resolve().parents[1]


def require_output(path: str | Path, marker: str) -> Path:
    """Check that ``path``, a stage's output folder, holds ``marker``; else say what to run.

    The stage is the folder's name (``data/<stage>/``).
    """
    path = Path(path)
    if not (path / marker).is_file():
        stage = output_stage(path) or path.name
        raise UserError(f"{path} is missing or incomplete: it is the output of stage "
                        f"'{stage}'; run `dvc repro {stage}` first.")
    return path


def damaged_output(path: str | Path, err: BaseException | str,
                   elsewhere: str = "write it again") -> UserError:
    """The error for a file or folder an earlier stage wrote that can't be read: which stage
    to rerun (``elsewhere``: what to do when ``path`` is not a stage's output)."""
    detail = err if isinstance(err, str) else first_line(err)
    stage = output_stage(path)
    fix = (f"it is the output of stage '{stage}': rebuild it with `dvc repro -f {stage}`"
           if stage else elsewhere)
    return UserError(f"{path} is damaged or incomplete ({detail}); {fix}.")


def first_line(err: BaseException) -> str:
    """An exception's message, first line, for a one-paragraph error."""
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__


def message_line(err: BaseException) -> str:
    """An exception's message, first line, without its final period (to go on a sentence)."""
    text = str(err).strip()
    return text.splitlines()[0].rstrip(".") if text else type(err).__name__


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def dumps_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as pretty, deterministic JSON (keys in insertion order)."""
    write_text(path, dumps_json(obj))


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    write_text(path, jsonl_text(rows))


def jsonl_text(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()
