"""The stage code the model benchmarks call: params from params.yaml, the base model.

The benchmarks call the stages' public functions with the project's own params
(the scratch model: it needs no network), in a scratch folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.inputs import ROOT

PARAMS = ROOT / "params.yaml"


def stage_params(section: str) -> dict[str, Any]:
    """``params.yaml:<section>`` validated by the stage's own SPEC."""
    import importlib

    from stages.lib.params import load_params

    module = importlib.import_module(f"stages.{section}")
    return load_params(section, module.SPEC, path=PARAMS)


def scratch_params() -> dict[str, Any]:
    """``base_model`` params with ``checkpoint: scratch`` (benchmarks never use the Hub)."""
    return {**stage_params("base_model"), "checkpoint": "scratch", "revision": None}


def scratch_model_config():
    """The scratch T5's config at its params' vocab size (no tokenizer needed)."""
    from transformers import T5Config

    scratch = scratch_params()["scratch"]
    return T5Config(vocab_size=scratch["vocab_size"], d_model=scratch["d_model"],
                    d_ff=scratch["d_ff"], d_kv=scratch["d_kv"], num_heads=scratch["num_heads"],
                    num_layers=scratch["num_layers"],
                    num_decoder_layers=scratch["num_decoder_layers"],
                    feed_forward_proj="gated-gelu", tie_word_embeddings=False)


def build_base_model(dataset: Path, destination: Path) -> Path:
    """Stage base_model's scratch model and tokenizer, trained on ``dataset``'s train split."""
    from stages.base_model import build_base_model as build
    from stages.base_model import save_model
    from stages.lib.data import load_splits

    if not (destination / "config.json").is_file():
        model, tokenizer = build(scratch_params(), load_splits(dataset)["train"])
        save_model(model, tokenizer, destination)
    return destination
