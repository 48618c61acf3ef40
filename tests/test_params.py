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
def test_misspelt_key_is_not_ignored(section, key):
    typo = key[:-1] if len(key) > 3 else key + "x"
    values = {k: v for k, v in PARAMS[section].items() if k != key}
    values[typo] = PARAMS[section][key]
    with pytest.raises(UserError, match=rf"unknown key {section}\.{typo};"):
        validate_section(section, values, spec_of(section))


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


INF, NAN = float("inf"), float("nan")
POSITIVE = ([0, -1, 1.5, True], [1])  # a positive integer: refused; accepted at the edge
COUNT = ([-1, 0.5], [0])              # an integer >= 0
SEED = ([-1, 2**32, 1.5], [0, 2**32 - 1])  # numpy's seeds are 32-bit

#: For every key (nested ones as ``group.key``): values refused (out of range, not an option,
#: empty, duplicated), and values at the edges of what is accepted.
#: test_every_key_has_edges keeps it complete: a new key needs its line here.
EDGES: dict[tuple[str, str], tuple[list, list]] = {
    ("base_model", "checkpoint"): (["", "  "], ["scratch"]),
    ("base_model", "revision"): (["", 7], [None, "v1.0"]),
    ("base_model", "scratch"): ([{}, "small"], []),
    ("base_model", "scratch.vocab_size"): ([15, 16.0], [16]),
    ("base_model", "scratch.d_model"): POSITIVE,
    ("base_model", "scratch.d_ff"): POSITIVE,
    ("base_model", "scratch.d_kv"): POSITIVE,
    ("base_model", "scratch.num_heads"): POSITIVE,
    ("base_model", "scratch.num_layers"): POSITIVE,
    ("base_model", "scratch.num_decoder_layers"): POSITIVE,
    ("base_model", "scratch.dropout_rate"): ([-0.01, 1.01, NAN], [0, 1]),
    ("base_model", "scratch.seed"): SEED,
    ("baseline", "split"): (["dev", "Validation"], ["train", "validation", "test"]),
    ("baseline", "methods"): ([[], ["lead3", "lead3"], ["lead4"], "lead3"], [["lead_words"]]),
    ("baseline", "lead_words"): POSITIVE,
    ("baseline", "sample_rows"): COUNT,
    ("concat_shuffle", "seed"): SEED,
    ("download", "source"): (["", " "], ["sample", "hf:someone/marc@v1"]),
    ("download", "languages"): ([[], ["en", "en"], [""], "en"], [["es"]]),
    ("drop_short_titles", "min_words"): POSITIVE,
    ("evaluate", "split"): (["dev"], ["test"]),
    ("evaluate", "num_beams"): POSITIVE,
    ("evaluate", "max_new_tokens"): POSITIVE,
    ("evaluate", "min_new_tokens"): COUNT,
    ("evaluate", "length_penalty"): ([INF, NAN, True, "long"], [-2.0, 0, "5e-1"]),
    ("evaluate", "no_repeat_ngram_size"): COUNT,
    ("evaluate", "batch_size"): POSITIVE,
    ("evaluate", "batch_tokens"): COUNT,
    ("evaluate", "cpu_threads"): COUNT,
    ("filter_books", "categories"): ([[], ["book", "book"], "book"], [["toy"]]),
    ("filter_books", "others_categories"): (["All", "toy", ["toy", "toy"]], ["all", []]),
    ("filter_books", "others_splits"): ([["dev"], ["train", "train"]], [[], ["test"]]),
    ("rouge", "tokenizer"): (["unicode"], ["ascii", "multilingual"]),
    ("rouge", "stemmer"): (["true", 1], [False, True]),
    ("rouge", "bootstrap_samples"): POSITIVE,
    ("rouge", "seed"): SEED,
    ("tokenize", "max_input_length"): POSITIVE,
    ("tokenize", "max_target_length"): POSITIVE,
    ("train", "pretrain_epochs"): ([-0.5, INF], [0, 0.2]),
    ("train", "pretrain_min_steps"): COUNT,
    ("train", "pretrain_learning_rate"): ([0, -1e-3, NAN], [1e-9, "3e-3"]),
    ("train", "pretrain_input_tokens"): POSITIVE,
    ("train", "pretrain_target_tokens"): POSITIVE,
    ("train", "others_epochs"): ([-1, INF], [0, 0.5]),
    ("train", "targets"): (["title"], ["titles", "spans"]),
    ("train", "span_min_words"): POSITIVE,
    ("train", "span_max_words"): POSITIVE,
    ("train", "span_margin"): ([-0.1, 1.01], [0, 1]),
    ("train", "learning_rate"): ([0, -1e-3, INF], [1e-9]),
    ("train", "epochs"): ([0, 1.5], [1]),
    ("train", "batch_size"): POSITIVE,
    ("train", "min_phase_steps"): COUNT,
    ("train", "gradient_accumulation_steps"): POSITIVE,
    ("train", "weight_decay"): ([-0.01, NAN], [0]),
    ("train", "lr_warmup"): ([-1, INF], [0, 0.5, 100]),
    ("train", "scheduler"): (["step"], ["linear", "cosine"]),
    ("train", "label_smoothing"): ([-0.1, 1.01, 2], [0, 1]),
    ("train", "seed"): SEED,
    ("train", "precision"): (["fp8", "FP32"], ["auto", "fp32", "bf16", "fp16"]),
    ("train", "sampler"): (["sorted"], ["random", "group_by_length"]),
    ("train", "best_metric"): (["rougeLSum", "bleu"], ["rougeL", "loss"]),
    ("train", "eval_batch_size"): POSITIVE,
    ("train", "eval_num_beams"): POSITIVE,
    ("train", "eval_max_new_tokens"): POSITIVE,
    ("train", "cpu_threads"): COUNT,
    ("train", "cpu_processes"): POSITIVE,
}


def with_value(section: str, key: str, value) -> dict:
    """The section's defaults with ``key`` (or ``group.key``) set to ``value``."""
    group, _, nested = key.partition(".")
    if nested:
        return {**PARAMS[section], group: {**PARAMS[section][group], nested: value}}
    return {**PARAMS[section], key: value}


def test_every_key_has_edges():
    nested = [(section, f"{group}.{key}") for section, group, key in NESTED]
    assert sorted(EDGES) == sorted(KEYS + nested)


@pytest.mark.parametrize(("section", "key"), sorted(EDGES))
def test_out_of_range_values_are_refused_naming_the_key(section, key):
    refused, accepted = EDGES[(section, key)]
    for value in refused:
        with pytest.raises(UserError) as error:
            validate_section(section, with_value(section, key, value), spec_of(section))
        message = str(error.value)
        assert f"{section}.{key}" in message, (value, message)
        if key != "scratch":  # a bad mapping names its own missing key instead
            assert message.endswith(f"got {value!r}."), (value, message)
    for value in accepted:
        result = validate_section(section, with_value(section, key, value), spec_of(section))
        group, _, nested = key.partition(".")
        got = result[group][nested] if nested else result[key]
        assert got == (float(value) if isinstance(got, float) else value), (value, got)
