"""Read and validate sections of ``params.yaml``.

Each stage declares the keys of its section as a ``{key: Field}`` mapping; a
missing key, an unknown key (a typo) or a value of the wrong type or range is a
``UserError`` that names the key and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stages.lib.errors import UserError

PARAMS_FILE = Path("params.yaml")


@dataclass(frozen=True)
class Field:
    """One params key: ``check`` returns the normalised value or raises ValueError."""

    expected: str
    check: Callable[[Any], Any]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def integer(minimum: int | None = None, maximum: int | None = None) -> Field:
    if minimum is None:
        expected = "an integer"
    elif maximum is None:
        expected = {0: "an integer >= 0", 1: "a positive integer"}.get(
            minimum, f"an integer >= {minimum}")
    else:
        expected = f"an integer from {minimum} to {maximum}"

    def check(value: Any) -> int:
        if not _is_int(value):
            raise ValueError
        if minimum is not None and value < minimum or maximum is not None and value > maximum:
            raise ValueError
        return value

    return Field(expected, check)


#: The largest seed: numpy's seeds are 32-bit (np.random.seed, which the Trainer and the
#: ROUGE bootstrap call), so every seed in params.yaml is kept in numpy's range.
MAX_SEED = 2**32 - 1


def seed() -> Field:
    """A seed: an integer from 0 to :data:`MAX_SEED`."""
    return integer(minimum=0, maximum=MAX_SEED)


def number(minimum: float | None = None, *, exclusive: bool = False,
           maximum: float | None = None) -> Field:
    if minimum is None:
        expected = "a number"
    elif exclusive:
        expected = f"a number > {minimum:g}"
    else:
        expected = f"a number >= {minimum:g}"
    if maximum is not None:
        expected += f" and <= {maximum:g}"

    def check(value: Any) -> float:
        # YAML reads "5e-5" (no dot) as a string; accept numeric strings like that.
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ValueError from None
        if not _is_number(value):
            raise ValueError
        if minimum is not None and (value <= minimum if exclusive else value < minimum):
            raise ValueError
        if maximum is not None and value > maximum:
            raise ValueError
        return float(value)

    return Field(expected, check)


def boolean() -> Field:
    def check(value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError
        return value

    return Field("true or false", check)


def string(non_empty: bool = True) -> Field:
    def check(value: Any) -> str:
        if not isinstance(value, str) or (non_empty and not value.strip()):
            raise ValueError
        return value

    return Field("a non-empty string" if non_empty else "a string", check)


def choice(*options: str) -> Field:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError
        return value

    return Field("one of " + ", ".join(map(repr, options)), check)


def string_list(options: tuple[str, ...] | None = None, non_empty: bool = True) -> Field:
    expected = "a list of strings"
    if options:
        expected = "a list whose items are among " + ", ".join(map(repr, options))
    if non_empty:
        expected = "a non-empty " + expected[2:]

    def check(value: Any) -> list[str]:
        if not isinstance(value, list) or (non_empty and not value):
            raise ValueError
        if not all(isinstance(item, str) and item.strip() for item in value):
            raise ValueError
        if options and any(item not in options for item in value):
            raise ValueError
        if len(set(value)) != len(value):
            raise ValueError
        return list(value)

    return Field(expected + " (no duplicates)", check)


def optional(field: Field) -> Field:
    def check(value: Any) -> Any:
        return None if value is None else field.check(value)

    return Field(field.expected + " or null", check)


def read_params_file(path: Path = PARAMS_FILE) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path} not found: run the stage from the project's root folder, "
                        "where params.yaml is.") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        _refuse_repeated_keys(node, path)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as err:
        raise UserError(f"{path} is not valid YAML: {err}") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise UserError(f"{path} must hold a mapping of sections (e.g. 'download:'), "
                        f"got {type(data).__name__}.")
    return data


def _refuse_repeated_keys(node: yaml.Node | None, path: Path, keys: tuple[str, ...] = ()
                          ) -> None:
    """A key given twice in one mapping is an error (YAML loaders keep the last; DVC
    refuses the file), naming it and both lines."""
    if isinstance(node, yaml.MappingNode):
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in lines:
                raise UserError(f"{path}, line {line}: {'.'.join((*keys, key))} is given twice "
                                f"(first on line {lines[key]}); keep one of them.")
            lines[key] = line
            _refuse_repeated_keys(value_node, path, (*keys, key))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_repeated_keys(item, path, keys)


def validate_section(section: str, values: Any, spec: Mapping[str, Field],
                     path: Path = PARAMS_FILE) -> dict[str, Any]:
    """Check one section against ``spec``; return the normalised values."""
    if not isinstance(values, dict):
        raise UserError(f"{path}: section '{section}' must be a mapping of keys "
                        f"({', '.join(spec)}), got {values!r}.")
    unknown = sorted(set(values) - set(spec))
    if unknown:
        raise UserError(
            f"{path}: unknown key {', '.join(f'{section}.{k}' for k in unknown)}; "
            f"the keys of '{section}' are: {', '.join(spec)}. Check the spelling.")
    missing = [k for k in spec if k not in values]
    if missing:
        raise UserError(f"{path}: missing key {', '.join(f'{section}.{k}' for k in missing)} "
                        f"({'; '.join(spec[k].expected for k in missing)}).")
    result = {}
    for key, field in spec.items():
        try:
            result[key] = field.check(values[key])
        except (ValueError, TypeError):
            raise UserError(f"{path}: {section}.{key} must be {field.expected}, "
                            f"got {values[key]!r}.") from None
    return result


def load_params(section: str, spec: Mapping[str, Field],
                path: Path = PARAMS_FILE) -> dict[str, Any]:
    """Read ``params.yaml`` and return its validated ``section``."""
    data = read_params_file(path)
    if section not in data:
        raise UserError(f"{path}: section '{section}' is missing; it needs the keys "
                        f"{', '.join(spec)}.")
    return validate_section(section, data[section], spec, path)
