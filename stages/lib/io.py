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
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; move it to ``path`` when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = path.parent / f".{path.name}{TMP_MARK}{os.getpid()}"
    try:
        yield tmp
        if not tmp.exists():
            raise RuntimeError(f"nothing was written to {tmp}")
        if path.exists() or path.is_symlink():
            old = path.parent / f".{path.name}{TMP_MARK}old-{os.getpid()}"
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    except OSError as err:
        _remove(tmp)
        raise UserError(f"could not write {path}: {err.strerror or err}. "
                        "Nothing was written; free some space or check permissions, "
                        "then run the stage again.") from None
    except BaseException:
        _remove(tmp)
        raise


def require_output(path: str | Path, marker: str) -> Path:
    """Check that ``path``, a stage's output folder, holds ``marker``; else say what to run.

    The stage is the folder's name (``data/<stage>/``).
    """
    path = Path(path)
    if not (path / marker).is_file():
        raise UserError(f"{path} is missing or incomplete: it is the output of stage "
                        f"'{path.name}'; run `dvc repro {path.name}` first.")
    return path


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def dumps_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as pretty, deterministic JSON (keys in insertion order)."""
    write_text(path, dumps_json(obj))


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def write_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text(path, buffer.getvalue())
