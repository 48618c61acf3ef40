"""Stage base_model: the model and tokenizer that training starts from.

``base_model.checkpoint`` is either

- ``scratch``: a Unigram (SentencePiece-style) tokenizer trained on the train
  split's review bodies and titles, and a small randomly initialised T5 whose
  sizes are the ``base_model.scratch`` params. Runs offline in seconds; or
- a Hugging Face Hub id (e.g. ``google/mt5-small``, the course's model) or a
  local folder holding a seq2seq model saved with ``save_pretrained``. It is
  loaded once (from the Hub, or the local Hub cache when offline) and saved here,
  so later stages never need the network and DVC versions the exact weights.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import torch
from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors, trainers
from tokenizers.models import Unigram
from transformers import (
    AutoConfig,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
    T5Config,
    T5ForConditionalGeneration,
)

from stages.lib.data import OTHERS_SPLIT, load_splits
from stages.lib.errors import UserError, stage_entry
from stages.lib.generation import is_seq2seq_config
from stages.lib.io import atomic_outputs, atomic_path, dumps_json, message_line
from stages.lib.params import (
    Field,
    integer,
    load_params,
    number,
    optional,
    seed,
    string,
    validate_section,
)

log = logging.getLogger("base_model")

INPUT = Path("data/drop_short_titles")
OUTPUT = Path("data/base_model")
METRICS = Path("metrics/base_model.json")

SCRATCH = "scratch"

#: T5's special tokens and their ids (pad doubles as the decoder start token).
PAD, EOS, UNK = "<pad>", "</s>", "<unk>"

SCRATCH_SPEC: dict[str, Field] = {
    "vocab_size": integer(minimum=16),
    "d_model": integer(minimum=1),
    "d_ff": integer(minimum=1),
    "d_kv": integer(minimum=1),
    "num_heads": integer(minimum=1),
    "num_layers": integer(minimum=1),
    "num_decoder_layers": integer(minimum=1),
    "dropout_rate": number(0, maximum=1),
    "seed": seed(),
}


def _section(name: str, spec: Mapping[str, Field]) -> Field:
    return Field("a mapping with the keys " + ", ".join(spec),
                 lambda value: validate_section(name, value, spec))


SPEC: dict[str, Field] = {
    "checkpoint": string(),
    "revision": optional(string()),
    "scratch": _section("base_model.scratch", SCRATCH_SPEC),
}


# --- scratch mode ---------------------------------------------------------------------------

def _canonical_vocab(vocab: list[tuple[str, float]], specials: int) -> list[tuple[str, float]]:
    """The trained Unigram vocabulary in an order and with scores that do not vary by run.

    The ``tokenizers`` trainer gives the same pieces on every run, but it visits
    hash sets in a random order: characters that EM dropped are put back with
    scores ``min + k * 1e-4`` in that order, ties are listed in that order, and
    sums differ in their last bits. Here the re-added characters get their
    penalties in sorted order, scores are rounded to 1e-6 and pieces sorted.
    """
    head, rest = vocab[:specials], vocab[specials:]
    if not rest:
        return head
    lowest = min(score for _, score in rest)
    readded: list[str] = []
    for k in range(len(rest)):
        found = [p for p, s in rest if len(p) == 1 and abs(s - (lowest + k * 1e-4)) < 1e-9]
        if not found:
            break
        readded += found
    readded_set = set(readded)
    pieces = [(p, round(s, 6)) for p, s in rest if p not in readded_set]
    pieces += [(p, round(lowest + k * 1e-4, 6)) for k, p in enumerate(sorted(readded_set))]
    pieces.sort(key=lambda item: (-item[1], item[0]))
    return head + pieces


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A T5-style Unigram tokenizer trained on ``texts``; deterministic.

    NFKC normalisation, SentencePiece's "▁" word marker, ``</s>`` appended to
    every sequence; ids 0, 1, 2 are ``<pad>``, ``</s>``, ``<unk>`` as in T5.
    The vocabulary may come out smaller than ``vocab_size`` on a small corpus.
    """
    def configure(tokenizer: Tokenizer) -> Tokenizer:
        tokenizer.normalizer = normalizers.NFKC()
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)])
        tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always",
                                               split=True)
        return tokenizer

    specials = [PAD, EOS, UNK]
    trained = configure(Tokenizer(Unigram()))
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials,
                                      unk_token=UNK, show_progress=False)
    trained.train_from_iterator(texts, trainer)
    vocab = [(piece, score) for piece, score in json.loads(trained.to_str())["model"]["vocab"]]
    if [piece for piece, _ in vocab[:3]] != specials:
        raise RuntimeError(f"unexpected special tokens in the trained vocabulary: {vocab[:3]}")
    tokenizer = configure(Tokenizer(Unigram(_canonical_vocab(vocab, len(specials)), unk_id=2)))
    tokenizer.post_processor = processors.TemplateProcessing(
        single=["$A", EOS], pair=["$A", EOS, "$B", EOS], special_tokens=[(EOS, 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token=PAD, eos_token=EOS,
                                   unk_token=UNK)


def scratch_model(tokenizer: PreTrainedTokenizerBase,
                  params: Mapping[str, Any]) -> T5ForConditionalGeneration:
    """A randomly initialised T5 of ``params``' size, seeded.

    Gated-GELU feed-forward as in mT5; input and output embeddings shared and the
    output scaled by ``d_model ** -0.5`` as in the original T5 (Transformers 5
    ties T5's embeddings in any case).
    """
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=params["d_model"], d_ff=params["d_ff"], d_kv=params["d_kv"],
        num_heads=params["num_heads"], num_layers=params["num_layers"],
        num_decoder_layers=params["num_decoder_layers"], dropout_rate=params["dropout_rate"],
        feed_forward_proj="gated-gelu",
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(params["seed"])
    return T5ForConditionalGeneration(config)


def training_texts(table: pa.Table) -> list[str]:
    """Review bodies and titles of a split, row by row, for the tokenizer to learn from."""
    texts = []
    for body, title in zip(table["review_body"].to_pylist(), table["review_title"].to_pylist(),
                           strict=True):
        texts += [body, title]
    return texts


# --- checkpoint mode ------------------------------------------------------------------------

def load_checkpoint(checkpoint: str, revision: str | None = None
                    ) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A seq2seq model and its tokenizer from a local folder or the Hub (or its cache).

    Safetensors weights only, and no code from the Hub is run.
    """
    local = Path(checkpoint).expanduser()
    is_folder = local.is_dir() or checkpoint.startswith((".", "/", "~"))
    where = f"the folder {local}" if is_folder else f"'{checkpoint}' on the Hugging Face Hub"
    source = str(local) if is_folder else checkpoint
    if is_folder and not (local / "config.json").is_file():
        raise UserError(f"params.yaml: base_model.checkpoint is {checkpoint!r}, but {local} "
                        "holds no config.json: expected a folder written by `save_pretrained` "
                        "(model + tokenizer), a Hub id such as google/mt5-small, or 'scratch'.")
    hub: dict[str, Any] = {} if is_folder else {"revision": revision}
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=False, **hub)
    except (OSError, ValueError) as err:
        raise UserError(
            f"params.yaml: base_model.checkpoint {checkpoint!r}: could not load {where}: "
            f"{message_line(err)}. Check the id (and base_model.revision); the first run needs "
            "internet access to the Hub, later ones use the local cache "
            "(~/.cache/huggingface, or HF_HOME). Use 'scratch' to build a model offline."
        ) from None
    if not is_seq2seq_config(config):
        raise UserError(f"params.yaml: base_model.checkpoint {checkpoint!r}: {where} holds a "
                        f"'{config.model_type}' model, not a sequence-to-sequence model "
                        "(T5, mT5, BART, ...) that AutoModelForSeq2SeqLM can load.")
    try:
        model = AutoModelForSeq2SeqLM.from_pretrained(source, use_safetensors=True,
                                                      trust_remote_code=False, **hub)
    except (OSError, ValueError) as err:
        raise UserError(f"params.yaml: base_model.checkpoint {checkpoint!r}: could not load "
                        f"the model's safetensors weights from {where}: "
                        f"{message_line(err)}") from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False, **hub)
    except (OSError, ValueError, ImportError) as err:
        raise UserError(
            f"params.yaml: base_model.checkpoint {checkpoint!r}: could not load the tokenizer "
            f"of {where}: {message_line(err)}. A SentencePiece tokenizer without tokenizer.json "
            "(spiece.model, as mT5's) is converted on loading, which needs the sentencepiece "
            "and protobuf packages (pip install sentencepiece protobuf).") from None
    return model, tokenizer



# --- the stage --------------------------------------------------------------------------------

def tokenizer_corpus(tables: Mapping[str, pa.Table]) -> pa.Table:
    """The rows a scratch tokenizer learns from: the train split and the others split.

    Never validation or test: their words would leak into the vocabulary.
    """
    parts = [tables[split] for split in ("train", OTHERS_SPLIT) if split in tables]
    return pa.concat_tables(parts) if parts else pa.table({})


def build_base_model(params: Mapping[str, Any], train_table: pa.Table | None
                     ) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The model and tokenizer ``params`` ask for (``train_table``: the rows a scratch
    tokenizer learns from, see :func:`tokenizer_corpus`)."""
    if params["checkpoint"] != SCRATCH:
        return load_checkpoint(params["checkpoint"], params["revision"])
    if train_table is None or train_table.num_rows == 0:
        raise UserError(f"base_model.checkpoint is 'scratch', which trains a tokenizer on the "
                        f"train split of {INPUT}, but that split has no rows.")
    scratch = params["scratch"]
    tokenizer = train_tokenizer(training_texts(train_table), scratch["vocab_size"])
    log.info("trained a tokenizer of %d tokens on %d rows", len(tokenizer),
             train_table.num_rows)
    return scratch_model(tokenizer, scratch), tokenizer


def save_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
               path: str | Path) -> None:
    """Model (safetensors) and tokenizer in one folder, written atomically."""
    with atomic_path(path) as tmp:
        write_model(model, tokenizer, tmp)


def write_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, folder: Path) -> None:
    """Model (safetensors) and tokenizer in ``folder``."""
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def describe(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
             params: Mapping[str, Any]) -> dict[str, Any]:
    """The metrics of this stage: what the model is and how big."""
    return {
        "checkpoint": params["checkpoint"],
        "model_type": model.config.model_type,
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
    }


@stage_entry
def main() -> None:
    params = load_params("base_model", SPEC)
    scratch = params["checkpoint"] == SCRATCH
    train_table = tokenizer_corpus(load_splits(INPUT)) if scratch else None
    model, tokenizer = build_base_model(params, train_table)
    report = describe(model, tokenizer, params)
    with atomic_outputs(OUTPUT, METRICS) as (data, metrics):
        write_model(model, tokenizer, data)
        metrics.write_text(dumps_json(report), encoding="utf-8")
    log.info("saved %s (%s parameters) to %s", params["checkpoint"],
             f"{sum(p.numel() for p in model.parameters()):,}", OUTPUT)


if __name__ == "__main__":
    main()
