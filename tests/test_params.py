"""Every params key of every stage is validated: wrong types, ranges and typos are errors."""

from __future__ import annotations

import importlib

import pytest
import yaml

from stages.lib.errors import UserError
from stages.lib.params import Field, load_params, validate_section
from tests.conftest import ROOT

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def spec_of(section: str) -> dict[str, Field]:
    """The ``{key: Field}`` mapping a section's stage module validates against."""
    if section == "rouge":
        return importlib.import_module("stages.lib.rouge").ROUGE_SPEC
    spec = importlib.import_module(f"stages.{section}").SPEC
    assert all(isinstance(field, Field) for field in spec.values())
    return spec


SECTIONS = sorted(PARAMS)
KEYS = [(section, key) for section in SECTIONS for key in spec_of(section)]


@pytest.mark.parametrize("section", SECTIONS)
def test_defaults_in_params_yaml_are_valid(section):
    assert validate_section(section, PARAMS[section], spec_of(section)).keys() == \
        PARAMS[section].keys()


@pytest.mark.parametrize(("section", "key"), KEYS)
def test_wrong_type_names_the_key(section, key):
    values = {**PARAMS[section], key: [["not valid"]]}
    with pytest.raises(UserError, match=rf"params\.yaml: (section ')?{section}\.{key}'? must be "):
        validate_section(section, values, spec_of(section))


@pytest.mark.parametrize(("section", "key"), KEYS)
def test_non_positive_sizes_are_refused(section, key):
    field = spec_of(section)[key]
    if "positive" in field.expected or ">= 0" in field.expected or "> 0" in field.expected:
        bad = 0 if "positive" in field.expected or "> 0" in field.expected else -1
        with pytest.raises(UserError, match=rf"{section}\.{key} must be .*got {bad}"):
            validate_section(section, {**PARAMS[section], key: bad}, spec_of(section))
    else:
        assert field.expected  # not a size: covered by the wrong-type test


@pytest.mark.parametrize(("section", "key"), KEYS)
def test_misspelt_key_is_not_ignored(section, key):
    typo = key[:-1] if len(key) > 3 else key + "x"
    values = {k: v for k, v in PARAMS[section].items() if k != key}
    values[typo] = PARAMS[section][key]
    with pytest.raises(UserError, match=rf"unknown key {section}\.{typo};"):
        validate_section(section, values, spec_of(section))


@pytest.mark.parametrize(("section", "key", "value"), [
    ("rouge", "tokenizer", "foo"),
    ("train", "precision", "fp8"),
    ("download", "languages", ["en", "en"]),
])
def test_unknown_choices_are_refused(section, key, value):
    if section not in PARAMS:
        pytest.fail(f"section {section} missing from params.yaml")
    with pytest.raises(UserError, match=rf"{section}\.{key} must be"):
        validate_section(section, {**PARAMS[section], key: value}, spec_of(section))


NESTED = [("base_model", "scratch", key)
          for key in importlib.import_module("stages.base_model").SCRATCH_SPEC]


@pytest.mark.parametrize(("section", "group", "key"), NESTED)
def test_nested_keys_are_validated(section, group, key):
    spec = spec_of(section)
    wrong = {**PARAMS[section], group: {**PARAMS[section][group], key: [["not valid"]]}}
    with pytest.raises(UserError, match=rf"{section}\.{group}\.{key} must be "):
        validate_section(section, wrong, spec)
    typo = {**PARAMS[section], group: {**PARAMS[section][group], key + "x": 1}}
    with pytest.raises(UserError, match=rf"unknown key {section}\.{group}\.{key}x"):
        validate_section(section, typo, spec)


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path):
    # YAML keeps the last of two equal keys, so the stages ran with it; DVC refuses the file.
    path = tmp_path / "params.yaml"
    path.write_text("drop_short_titles:\n  min_words: 3\nrouge:\n  seed: 1\n"
                    "drop_short_titles:\n  min_words: 5\n")
    with pytest.raises(UserError, match=r"params.yaml, line 5: drop_short_titles is given twice "
                                        r"\(first on line 1\); keep one of them"):
        load_params("drop_short_titles", {"min_words": Field("an integer", int)}, path)
    path.write_text("train:\n  epochs: 2\n  seed: 1\n  epochs: 8\n")
    with pytest.raises(UserError, match=r"line 4: train.epochs is given twice \(first on line 2"):
        load_params("train", {"epochs": Field("an integer", int)}, path)


def test_evaluate_refuses_a_minimum_length_above_the_maximum():
    from stages.evaluate import check_params

    values = validate_section("evaluate", {**PARAMS["evaluate"], "min_new_tokens": 40,
                                           "max_new_tokens": 30}, spec_of("evaluate"))
    with pytest.raises(UserError, match=r"evaluate.min_new_tokens \(40\) is more than "
                                        r"evaluate.max_new_tokens \(30\)"):
        check_params(values)
    check_params(PARAMS["evaluate"])
