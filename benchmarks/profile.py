"""Params profiles: files of params.yaml overrides (``profiles/gpu.yaml``), one switch for a run.

    dvc exp run $(python -m benchmarks.profile profiles/gpu.yaml)   # -S key=value per value

The same file is merged into a copy of params.yaml by ``benchmarks/gpu.sh``, where DVC
is not installed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


def read_profile(path: Path) -> dict[str, Any]:
    """The overrides of a profile file (sections of params.yaml, nested as there)."""
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise SystemExit(f"{path}: cannot read this profile ({err}); a profile is a YAML "
                         "file of params.yaml sections holding the values to override.") from None
    if not isinstance(values, dict):
        raise SystemExit(f"{path}: a profile is a YAML mapping of params.yaml sections "
                         f"(e.g. train: {{batch_size: 512}}), not {type(values).__name__}.")
    return values


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train.batch_size": 512, "base_model.scratch.d_model": 384, ...}``."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def merged(params: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with ``overrides`` applied key by key; an unknown key is an error (a typo
    would otherwise be ignored by every stage)."""
    out = dict(params)
    for key, value in overrides.items():
        if key not in params:
            raise SystemExit(f"profile: '{key}' is not a key of params.yaml here; check its "
                             "spelling against params.yaml.")
        out[key] = (merged(params[key], value) if isinstance(value, Mapping)
                    and isinstance(params[key], Mapping) else value)
    return out


def dvc_arguments(overrides: Mapping[str, Any]) -> list[str]:
    """``dvc exp run`` arguments: ``-S key=value`` per overridden value (YAML/JSON values)."""
    args = []
    for key, value in flatten(overrides).items():
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        args += ["-S", f"{key}={text}"]
    return args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", type=Path, help="e.g. profiles/gpu.yaml")
    args = parser.parse_args(argv)
    print(" ".join(dvc_arguments(read_profile(args.profile))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
