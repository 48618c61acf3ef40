"""Loading a seq2seq model and generating summaries with it.

Shared by train (validation), evaluate, package and the ``summarize`` command, so
they decode, batch and truncate the same way, with the same decoding settings
(:data:`DECODING`). Also a small Transformers pipeline:
Transformers 5 removed the ``summarization`` task, so importing this module
registers :data:`PIPELINE_TASK` with ``transformers.pipeline``.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm
from transformers import (
    AutoConfig,
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    GenerationConfig,
    Pipeline,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.models.auto.modeling_auto import MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.utils import logging as hf_logging

from stages.lib import interrupts
from stages.lib.errors import UserError
from stages.lib.io import damaged_output, message_line, output_stage

log = logging.getLogger(__name__)

#: The task name under which :class:`SummarizationPipeline` is registered
#: ("summarization" itself is reserved: Transformers 5 raises for it).
PIPELINE_TASK = "review-summarization"

#: The decoding settings, as ``model.generate`` names them: evaluate scores with
#: params.yaml's, the package stage saves them in the model folder's
#: generation_config.json, and summarize reads them from there.
DECODING = ("num_beams", "max_new_tokens", "min_new_tokens", "length_penalty",
            "no_repeat_ngram_size")

# Transformers draws a bar for every model it loads or saves; the stages show their own.
hf_logging.disable_progress_bar()


def is_seq2seq_config(config: Any) -> bool:
    """Whether ``AutoModelForSeq2SeqLM`` can load a model with this config."""
    return getattr(config, "model_type", None) in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES


def pick_device() -> torch.device:
    """The first CUDA GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def set_cpu_threads(threads: int) -> None:
    """Use ``threads`` CPU threads for PyTorch's operations (0: PyTorch's default, one per core).

    Small models run fastest on one thread: their operations are too small to
    split, and threads that wait on each other slow them down many times over
    when other programs use the cores too. A fixed number also makes results
    independent of the machine's core count (sums are split the same way).
    """
    if threads > 0:
        torch.set_num_threads(threads)


#: Files a tokenizer loads from, besides tokenizer_config.json: a fast tokenizer's own, or a
#: vocabulary that Transformers converts (SentencePiece, BPE, WordPiece).
TOKENIZER_FILES = ("tokenizer.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model",
                   "vocab.json", "vocab.txt")
_SAVE_AGAIN = "save the model and its tokenizer again with save_pretrained"


def load_model(path: str | Path, device: torch.device | str | None = None
               ) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A saved seq2seq model and its tokenizer from a local folder, in eval mode.

    Weights are read from safetensors only; nothing is fetched from the Hub. A folder
    that lacks a part or holds a damaged file is a ``UserError`` saying what to rerun.
    """
    path = Path(path)
    stage = output_stage(path)
    if not (path / "config.json").is_file():
        fix = (f"run `dvc repro {stage}`" if stage else
               "run `dvc repro` (its package stage writes data/package/model), or point to a "
               "folder written by `save_pretrained`")
        raise UserError(f"{path} is not a saved model (no config.json there): {fix}.")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise damaged_output(path, f"no tokenizer: none of {', '.join(TOKENIZER_FILES)}",
                             _SAVE_AGAIN)
    for name in ("config.json", "generation_config.json", "tokenizer_config.json"):
        try:  # Transformers ignores a damaged generation_config.json: its settings would go
            if (path / name).is_file():
                json.loads((path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise damaged_output(path / name, err, _SAVE_AGAIN) from None
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as err:
        raise damaged_output(path / "config.json", err, _SAVE_AGAIN) from None
    if not is_seq2seq_config(config):
        raise UserError(f"{path} holds a '{config.model_type}' model, not a sequence-to-sequence "
                        "model (T5, mT5, BART, ...) that can write summaries.")
    try:
        model = AutoModelForSeq2SeqLM.from_pretrained(path, local_files_only=True,
                                                      use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as err:  # (safetensors', tokenizers' and json's errors)
        interrupts.raise_if_received()
        raise damaged_output(path, err, _SAVE_AGAIN) from None
    try:
        model.to(device or pick_device())
    except (RuntimeError, AssertionError, ValueError) as err:
        raise UserError(f"cannot use device {device!r}: {message_line(err)}. Use cpu, or cuda "
                        "when there is a CUDA GPU.") from None
    model.eval()
    return model, tokenizer



def encode(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str],
           max_input_length: int) -> list[list[int]]:
    """Token ids of ``texts`` as the tokenize stage makes them (truncated, with EOS)."""
    if not texts:
        return []
    return tokenizer(list(texts), max_length=max_input_length, truncation=True,
                     return_attention_mask=False)["input_ids"]


def decode(tokenizer: PreTrainedTokenizerBase, token_ids: Any) -> list[str]:
    """Texts of generated ids (rows padded with -100 or the pad id), special tokens removed."""
    ids = np.asarray(token_ids)
    ids = np.where(ids < 0, tokenizer.pad_token_id, ids)
    return [text.strip() for text in
            tokenizer.batch_decode(ids.tolist(), skip_special_tokens=True,
                                   clean_up_tokenization_spaces=True)]


@dataclass(frozen=True)
class Generated:
    """Summaries in input order and their lengths in tokens (EOS and padding excluded)."""

    summaries: list[str]
    token_counts: list[int]


def length_batches(lengths: Sequence[int], batch_size: int, batch_tokens: int = 0
                   ) -> list[list[int]]:
    """Row indices grouped into generation batches, longest inputs first.

    Rows are sorted by length (longest first, so memory problems show at once; ties
    in input order) and cut into batches of at most ``batch_size`` rows. With
    ``batch_tokens`` > 0, a batch also holds at most ``batch_tokens`` padded input
    tokens (rows × its longest input, always at least one row): long inputs go in
    small batches, short ones in large batches, so padding and the per-step cost of
    the decoding loop both stay small.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches = []
    start = 0
    while start < len(order):
        rows = batch_size
        if batch_tokens > 0:
            rows = min(rows, max(1, batch_tokens // max(1, lengths[order[start]])))
        batches.append(order[start:start + rows])
        start += rows
    return batches


def decoding_config(base: GenerationConfig, **settings: Any) -> GenerationConfig:
    """A copy of ``base`` with the :data:`DECODING` settings given (None: ``base``'s own).

    No sampling, and no ``max_length``: ``max_new_tokens`` says how long a summary may
    be, and a model saved with both (the Trainer's validation writes max_length 20)
    makes Transformers warn about the pair on every call. 0 (``min_new_tokens``,
    ``no_repeat_ngram_size``) is stored as unset; ``length_penalty`` only with beams.
    """
    unknown = set(settings) - set(DECODING)
    if unknown:
        raise TypeError(f"unknown decoding setting(s): {', '.join(sorted(unknown))}")
    config = copy.deepcopy(base)
    for key, value in settings.items():
        if value is not None:
            setattr(config, key, value)
    config.do_sample = False
    config.max_length = None
    config._from_model_config = False  # chosen, not derived from the model's config
    config.min_new_tokens = config.min_new_tokens or None
    config.no_repeat_ngram_size = config.no_repeat_ngram_size or None
    if (config.num_beams or 1) == 1:
        config.length_penalty = None
    return config


def decoding_settings(config: GenerationConfig) -> dict[str, Any]:
    """The :data:`DECODING` settings of a generation config (Transformers' defaults where
    unset; ``max_new_tokens`` None when the config has none)."""
    return {"num_beams": config.num_beams or 1, "max_new_tokens": config.max_new_tokens,
            "min_new_tokens": config.min_new_tokens or 0,
            "length_penalty": 1.0 if config.length_penalty is None else config.length_penalty,
            "no_repeat_ngram_size": config.no_repeat_ngram_size or 0}


def decoding_text(settings: Mapping[str, Any]) -> str:
    """The decoding settings in words, e.g. ``beam search (4 beams), at most 30 new tokens``."""
    beams = settings["num_beams"]
    parts = [f"beam search ({beams} beams)" if beams > 1 else "greedy search"]
    if settings.get("max_new_tokens"):
        parts.append(f"at most {settings['max_new_tokens']} new tokens")
    if settings.get("min_new_tokens"):
        parts.append(f"at least {settings['min_new_tokens']}")
    if settings.get("no_repeat_ngram_size"):
        parts.append(f"no {settings['no_repeat_ngram_size']}-gram twice")
    if beams > 1 and settings.get("length_penalty", 1.0) != 1.0:
        parts.append(f"length penalty {settings['length_penalty']:g}")
    return ", ".join(parts)


def generate(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
             input_ids: Sequence[Sequence[int]], *, batch_size: int, batch_tokens: int = 0,
             progress: bool = True, **settings: Any) -> Generated:
    """Summaries of tokenized inputs, generated in batches of similar length.

    Batches are cut by :func:`length_batches` (at most ``batch_size`` rows and,
    when ``batch_tokens`` > 0, at most that many padded input tokens); results
    come back in the input order. ``settings``: :data:`DECODING` values (None or
    left out: the model's saved ones); they become the model's generation config
    (:func:`decoding_config`), which ``save_pretrained`` would save.
    """
    model.generation_config = decoding_config(model.generation_config, **settings)
    batches = length_batches([len(ids) for ids in input_ids], batch_size, batch_tokens)
    summaries: list[str] = [""] * len(input_ids)
    counts = [0] * len(input_ids)
    special = torch.tensor(sorted(set(tokenizer.all_special_ids)))
    with tqdm(total=len(input_ids), desc="generating", unit="row", disable=not progress) as bar:
        for batch in batches:
            features = [{"input_ids": list(input_ids[i])} for i in batch]
            inputs = tokenizer.pad(features, return_tensors="pt").to(model.device)
            with torch.inference_mode():
                output = model.generate(**inputs)
            output = output.cpu()
            texts = decode(tokenizer, output)
            lengths = (~torch.isin(output, special)).sum(dim=1).tolist()
            for row, text, length in zip(batch, texts, lengths, strict=True):
                summaries[row] = text
                counts[row] = length
            bar.update(len(batch))
    return Generated(summaries, counts)


def summarize_texts(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                    texts: Sequence[str], *, max_input_length: int = 512, batch_size: int = 16,
                    progress: bool = False, **settings: Any) -> list[str]:
    """Summaries of raw texts (tokenized as the tokenize stage does); ``settings`` as
    :func:`generate`'s."""
    ids = encode(tokenizer, texts, max_input_length)
    return generate(model, tokenizer, ids, batch_size=batch_size, progress=progress,
                    **settings).summaries


class SummarizationPipeline(Pipeline):
    """``pipeline("review-summarization", model=...)``: a text → summary pipeline.

    What Transformers 4's ``summarization`` pipeline did for encoder-decoder
    models: tokenize (truncated to ``max_input_length``, default 512), generate,
    decode. Like it, returns ``[{"summary_text": ...}]``: one dict per input text
    (a list of texts gives a list of the same length). Generation keywords
    (``num_beams``, ``max_new_tokens``, ...) go to ``generate``; the model's
    ``generation_config.json`` supplies the rest.
    """

    _load_processor = False
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False
    _load_tokenizer = True
    _pipeline_calls_generate = True

    def __call__(self, inputs: str | list[str], **kwargs: Any) -> list[dict[str, str]]:
        result = super().__call__(inputs, **kwargs)
        return [result] if isinstance(inputs, str) else result

    def _sanitize_parameters(self, max_input_length: int | None = None, **generate_kwargs):
        preprocess = {} if max_input_length is None else {"max_input_length": max_input_length}
        return preprocess, generate_kwargs, {}

    def preprocess(self, text: str, max_input_length: int = 512) -> dict[str, torch.Tensor]:
        if not isinstance(text, str):
            raise ValueError(f"{PIPELINE_TASK} takes texts (str), got {type(text).__name__}")
        return self.tokenizer(text, max_length=max_input_length, truncation=True,
                              return_tensors="pt")

    def _forward(self, model_inputs: dict[str, torch.Tensor], **generate_kwargs) -> dict:
        generate_kwargs = self._prepare_generate_kwargs(generate_kwargs)
        return {"output_ids": self.model.generate(**model_inputs, **generate_kwargs)}

    def postprocess(self, model_outputs: dict) -> dict[str, str]:
        return {"summary_text": decode(self.tokenizer, model_outputs["output_ids"])[0]}


PIPELINE_REGISTRY.register_pipeline(PIPELINE_TASK, pipeline_class=SummarizationPipeline,
                                    pt_model=AutoModelForSeq2SeqLM, type="text")
