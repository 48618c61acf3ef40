"""Stage base_model: the scratch tokenizer and model, and checkpoints from folders or the Hub."""

from __future__ import annotations

import random

import pytest
import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertModel

from stages.base_model import (
    SPEC,
    _canonical_vocab,
    build_base_model,
    load_checkpoint,
    save_model,
    train_tokenizer,
    training_texts,
)
from stages.lib.errors import UserError
from stages.lib.generation import load_model
from stages.lib.params import validate_section
from tests.model_helpers import TINY_BASE, TINY_SCRATCH, splits


def test_params_spec_accepts_the_defaults_shape():
    params = validate_section("base_model", TINY_BASE, SPEC)
    assert params["scratch"]["d_model"] == 32
    with pytest.raises(UserError, match="base_model.scratch.*d_modle"):
        validate_section("base_model", {**TINY_BASE, "scratch": {**TINY_SCRATCH, "d_modle": 3}},
                         SPEC)


def test_canonical_vocab_ignores_the_trainers_hash_order():
    # Characters put back after EM get min + k * 1e-4 in a random order; ties come in any order.
    pieces = [("▁the", -2.0), ("▁a", -3.0), ("b", -3.0), ("x", -9.0), ("q", -8.9999),
              ("z", -8.9998)]
    specials = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    results = set()
    for seed in range(6):
        shuffled = pieces[:]
        random.Random(seed).shuffle(shuffled)
        # Another run: the re-added characters got their penalties in another order.
        scores = [-9.0, -8.9999, -8.9998]
        random.Random(seed + 10).shuffle(scores)
        penalties = dict(zip("xqz", scores, strict=True))
        shuffled = [(p, penalties.get(p, s) + 1e-15 * seed) for p, s in shuffled]
        results.add(tuple(_canonical_vocab(specials + shuffled, 3)))
    assert len(results) == 1
    vocab = results.pop()
    assert vocab[:3] == tuple(specials)
    # By score, ties by piece; the re-added characters get their penalties in sorted order.
    assert vocab[3:] == (("▁the", -2.0), ("b", -3.0), ("▁a", -3.0), ("z", -8.9998),
                         ("x", -8.9999), ("q", -9.0))


def test_tokenizer_training_is_deterministic(tmp_path):
    texts = training_texts(splits(train=40)["train"])
    first, second = train_tokenizer(texts, 300), train_tokenizer(texts, 300)
    first.save_pretrained(tmp_path / "a")
    second.save_pretrained(tmp_path / "b")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (first.pad_token_id, first.eos_token_id, first.unk_token_id) == (0, 1, 2)
    ids = first("Un libro divertido, ｌeído en 3 días.")["input_ids"]
    assert ids[-1] == first.eos_token_id
    # NFKC: the full-width letter reads as "l"; decoding gives the text back.
    assert first.decode(ids, skip_special_tokens=True) == "Un libro divertido, leído en 3 días."


def test_scratch_model_is_seeded_and_saved(tmp_path):
    train = splits()["train"]
    for name in ("a", "b"):
        model, tokenizer = build_base_model(TINY_BASE, train)
        save_model(model, tokenizer, tmp_path / name)
    for name in ("model.safetensors", "config.json", "tokenizer.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    model, tokenizer = load_model(tmp_path / "a", device="cpu")
    assert model.config.model_type == "t5"
    assert (model.config.d_model, model.config.num_layers) == (32, 1)
    assert model.config.vocab_size == len(tokenizer)
    assert model.config.decoder_start_token_id == tokenizer.pad_token_id == 0
    other, _ = build_base_model({**TINY_BASE, "scratch": {**TINY_SCRATCH, "seed": 1}}, train)
    assert not torch.equal(other.shared.weight, model.shared.weight)


def test_scratch_needs_train_rows():
    with pytest.raises(UserError, match="train split"):
        build_base_model(TINY_BASE, splits(train=0)["train"])


def test_checkpoint_from_a_local_folder(tmp_path):
    model, tokenizer = build_base_model(TINY_BASE, splits()["train"])
    save_model(model, tokenizer, tmp_path / "hub-like")
    params = {**TINY_BASE, "checkpoint": str(tmp_path / "hub-like")}
    loaded, loaded_tokenizer = build_base_model(params, None)
    save_model(loaded, loaded_tokenizer, tmp_path / "copy")
    original = load_file(tmp_path / "hub-like" / "model.safetensors")
    copied = load_file(tmp_path / "copy" / "model.safetensors")
    assert original.keys() == copied.keys()
    assert all(torch.equal(original[k], copied[k]) for k in original)
    text = "Un libro divertido."
    assert loaded_tokenizer(text)["input_ids"] == tokenizer(text)["input_ids"]


def test_folder_that_is_not_a_seq2seq_model(tmp_path):
    config = BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1,
                        num_attention_heads=1, intermediate_size=8)
    BertModel(config).save_pretrained(tmp_path / "bert")
    with pytest.raises(UserError, match="'bert' model, not a sequence-to-sequence"):
        load_checkpoint(str(tmp_path / "bert"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no config.json"):
        load_checkpoint(str(tmp_path / "empty"))


def test_hub_id_offline_and_not_cached():
    # conftest sets HF_HUB_OFFLINE=1: only the local cache, which lacks this made-up id.
    with pytest.raises(UserError, match="internet access"):
        load_checkpoint("t-org/no-such-model")
