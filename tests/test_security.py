"""Security rules that hold for all of the project's code."""

from __future__ import annotations

import re

from tests.conftest import ROOT

SOURCES = sorted(p for folder in ("stages", "scripts", "benchmarks")
                 for p in (ROOT / folder).rglob("*.py"))


def code_lines():
    for path in SOURCES:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            code = line.split("#", 1)[0]
            if code.strip():
                yield path.relative_to(ROOT), number, code


def test_sources_found():
    assert any(p.name == "download.py" for p in SOURCES)


def test_remote_code_is_never_trusted():
    offenders = [f"{p}:{n}" for p, n, code in code_lines()
                 if re.search(r"trust_remote_code\s*=\s*(True|1)", code)]
    assert offenders == []


def test_yaml_is_read_with_safe_loaders_only():
    offenders = [f"{p}:{n}" for p, n, code in code_lines()
                 if re.search(r"yaml\.(load|load_all|unsafe_load|full_load)\(", code)]
    assert offenders == []


def test_weights_are_not_unpickled():
    # torch.load unpickles arbitrary objects; weights are read as safetensors.
    offenders = [f"{p}:{n}" for p, n, code in code_lines()
                 if re.search(r"torch\.load\(|pickle\.loads?\(|use_safetensors\s*=\s*False", code)]
    assert offenders == []
