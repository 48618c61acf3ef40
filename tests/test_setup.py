"""scripts/setup.sh: a missing prerequisite gets one clear line, nothing half-made."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

#: A stand-in for python3: answers the version check (OLD=1: too old) and fails the
#: venv check, as Debian's python3 does without the python3-venv package.
FAKE_PYTHON = """#!/usr/bin/env bash
case "$*" in
  *version_info*) exit "${OLD:-0}" ;;
  *ensurepip*) exit 1 ;;
  -V) echo "Python 3.8.18" ;;
esac
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    fake = tmp_path / "python3"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    return tmp_path


def setup(project, python, **env):
    environ = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    return subprocess.run(["bash", "scripts/setup.sh"], cwd=project, capture_output=True,
                          text=True, timeout=60, env={**environ, "PYTHON": str(python), **env})


def test_no_python(project):
    done = setup(project, project / "missing-python")
    assert done.returncode == 1
    assert "error: no '" in done.stderr and "install Python 3.10 or newer" in done.stderr


def test_python_too_old(project):
    done = setup(project, project / "python3", OLD="1")
    assert done.returncode == 1
    assert "Python 3.8.18 is too old: this project needs Python 3.10 or newer" in done.stderr
    assert not (project / ".venv").exists()


def test_no_venv_module_names_the_package(project):
    done = setup(project, project / "python3")
    assert done.returncode == 1
    assert "apt install python3-venv" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 3  # one message, no traceback
    assert not (project / ".venv").exists()
