"""Encoders and tokenizers: any HuggingFace model by name/path, or a small BERT built here.

No pretrained Chinese checkpoint can be downloaded on the machines this project is
developed on, so the default encoder is a small BERT built from a config (random
init, or the output of ``common.pretraining`` MLM) with the standard 21128-token
Chinese BERT vocab; when that vocab is absent too, a character vocab is built from
the training text and saved with the run. ``--model`` takes any HF name or path
for users who have weights (e.g. ``hfl/chinese-roberta-wwm-ext``), or a finished run of
a text pair task here, whose fine-tuned encoder then starts the new run (:func:`model_folders`).
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, BertConfig, BertModel, BertTokenizerFast, PreTrainedTokenizerBase

from common.run import write_text_once

logger = logging.getLogger("common.encoder")

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@dataclass
class EncoderConfig:
    """How the encoder is made; task configs inherit these fields."""

    model: str = ""  # HF name or local path; empty: a small BERT from the fields below
    # vocab folder/file for the small BERT; a relative path missing from the working directory
    # resolves against the repository (the default is the 21128-token Chinese vocab shipped here)
    vocab: str = "common/vocab/bert-base-chinese"
    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 1024
    max_position: int = 512
    dropout: float = 0.1
    # The learning rate when --model names a pretrained encoder from outside this project (an HF
    # name or a folder without pretrain_config.json) and --learning-rate is not given: the tasks'
    # defaults are sized for small encoders trained from scratch or this project's pretraining.
    pretrained_learning_rate: float = 2e-5

    def resolve_defaults(self, explicit: set[str]) -> None:
        """Take ``pretrained_learning_rate`` for an outside pretrained ``model`` unless the rate was set."""
        if (self.model and "learning_rate" not in explicit and hasattr(self, "learning_rate")
                and not is_project_pretraining(self.model)):
            logger.info("--model %s: learning rate %g (pretrained_learning_rate; give --learning-rate to change)",
                        self.model, self.pretrained_learning_rate)
            self.learning_rate = self.pretrained_learning_rate


def is_project_pretraining(model: str) -> bool:
    """True for a folder written by this project's pretraining commands (it holds pretrain_config.json),
    and for a run folder (:func:`model_folders`) whose own ``--model`` was one, or was empty (a small
    encoder trained here from scratch): the task's learning rate suits what this project trained."""
    for _ in range(8):  # a run started from a run started from ...; deeper chains count as outside
        if (Path(model) / "pretrain_config.json").is_file():
            return True
        if not is_pair_run(model):
            return False
        model = str(json.loads((Path(model) / "config.json").read_text(encoding="utf-8")).get("model", ""))
        if not model:
            return True
    return False


def is_pair_run(folder: str | Path) -> bool:
    """True for a pair-classifier run folder of this project: ``encoder/config.json``, ``tokenizer/`` and the
    run's ``config.json`` beside them."""
    folder = Path(folder)
    return (folder / "encoder" / "config.json").is_file() and (folder / "tokenizer").is_dir() \
        and (folder / "config.json").is_file()


WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


PRETRAIN_TEXTS_FILE = "pretrain_texts.npy"  # in a pretraining's output folder: which texts it learnt from


def text_hashes(pairs: Iterable[Sequence]) -> np.ndarray:
    """(U,) sorted unique uint64: the first 8 bytes of BLAKE2b of each text of ``pairs`` (N pairs of texts; a text
    is a string, or a sequence of ids as Xiaobu's, hashed as its tuple's ``repr``)."""
    keys = {t if isinstance(t, str) else repr(tuple(t)) for pair in pairs for t in pair}
    return np.unique(np.array([int.from_bytes(hashlib.blake2b(k.encode("utf-8"), digest_size=8).digest(), "little")
                               for k in keys], dtype=np.uint64))


def save_pretraining_texts(folder: Path, pairs: Iterable[Sequence], base: str = "") -> None:
    """Write :func:`text_hashes` of the pretraining text ``pairs`` to ``folder/pretrain_texts.npy`` (the output
    folder, before its atomic swap), for :func:`warn_other_pretraining_data`'s check of a fine-tuning run's text.
    Pretrained on from ``base`` (``--model``), a cache holding such a file: only the texts both saw, since the
    vocabulary is the base's, pruned to its text (probe AM: a continued pretraining on a round-B file recorded the
    new texts, whose new characters its vocabulary spells as [UNK], and the fine-tuning run was not warned)."""
    hashes = text_hashes(pairs)
    if base and (Path(base) / PRETRAIN_TEXTS_FILE).is_file():
        hashes = np.intersect1d(hashes, np.load(Path(base) / PRETRAIN_TEXTS_FILE))
    np.save(folder / PRETRAIN_TEXTS_FILE, hashes)


def warn_other_pretraining_data(model: str, data_dir: str, pairs: Iterable[Sequence] | None = None) -> str:
    """Log (and return) a warning when ``model`` is this project's pretraining (``pretrain_config.json``) made on
    another data folder than ``data_dir``: a cache (``cache/<task>-mlm``) is built once, and a run on other data
    reused it without a word (probe W); or made on the first rows of its files only (``--limit``: a smoke run's
    cache, reused by a full run; probe AC); or, where neither holds and ``pairs`` (the run's text pairs: train,
    validation and test) are given, on text that lacks some of them (its ``pretrain_texts.npy``): a data file
    edited or replaced in place since (a contest's round-B test file), whose new characters a vocabulary pruned to
    the old text spells as [UNK] (probe AF: 2.2% of the new rows' tokens). Empty when none holds or the folder is
    unknown.
    """
    try:
        config = json.loads((Path(model) / "pretrain_config.json").read_text(encoding="utf-8"))
        recorded, limit = config.get("data_dir", ""), int(config.get("limit") or 0)
    except (OSError, ValueError, TypeError, AttributeError):
        return ""
    start, seen, origin, chain = config, {str(Path(model).resolve())}, "", [model]
    while isinstance(start.get("model"), str) and start["model"]:  # pretrained on from a cache made with --limit
        try:  # (sohu-mlm-8ep on a quick sohu-mlm: probe AI): that text is in it too
            folder = Path(start["model"])
            if str(folder.resolve()) in seen:
                break
            seen.add(str(folder.resolve()))
            start = json.loads((folder / "pretrain_config.json").read_text(encoding="utf-8"))
            chain.append(str(folder))  # its vocabulary is the first cache's: rebuilt, they all are
            if not limit:
                limit, origin = int(start.get("limit") or 0), f" started from {folder}, which"
        except (OSError, ValueError, TypeError, AttributeError):
            break
    messages = []
    if recorded and data_dir and Path(recorded).resolve() != Path(data_dir).resolve():
        messages.append(f"--model {model} was pretrained on {recorded}, this run reads {data_dir}: its vocabulary "
                        "and MLM are of that text")
    if limit > 0:
        messages.append(f"--model {model}{origin} was pretrained on the first {limit} rows of its files only "
                        f"(--limit {limit}: a quick run's cache?)")
    if not messages and pairs is not None and (Path(model) / PRETRAIN_TEXTS_FILE).is_file():
        seen, texts = np.load(Path(model) / PRETRAIN_TEXTS_FILE), text_hashes(pairs)
        new = int((~np.isin(texts, seen)).sum())
        if new:
            messages.append(f"{new} of the {len(texts)} texts this run reads ({100 * new / len(texts):.1f}%) are not "
                            f"in the text --model {model} was pretrained on (a data file edited or replaced since "
                            "it was built?): its vocabulary and MLM have not seen them")
    if not messages:
        return ""
    message = "; ".join(messages) + f" (to pretrain on this data, delete {' and '.join(chain)} and make " \
        f"{'its target' if len(chain) == 1 else 'their targets'} again)"
    logger.warning(message)
    return message


def model_folders(model: str) -> tuple[str, str]:
    """(weights folder, tokenizer folder) that ``--model`` names.

    A finished pair-classifier run of this project (:func:`is_pair_run`: Sohu, AFQMC, a new
    text task) gives its fine-tuned ``encoder/`` and its ``tokenizer/``, so a run on one task
    starts another: intermediate-task transfer (Phang et al. 2018, "Sentence Encoders on
    STILTs"), e.g. ``--model runs/afqmc/<run>``. Anything else (an HF name, a model folder)
    is both.

    Raises:
        FileNotFoundError: a k-fold run folder (``fold0/`` and no ``encoder/``: name one fold's
            folder), a run whose ``encoder/`` holds no weights yet (it saves them at its first
            best epoch), or a local path that does not exist (:func:`missing_local_path`), which
            would otherwise go to the Hub and fail there after its retries.
    """
    folder = Path(model)
    missing = missing_local_path(model)
    if missing:
        raise FileNotFoundError(f"--model {model}: no such folder ({missing}); build it first or fix the path")
    if not is_pair_run(folder):
        if (folder / "fold0" / "encoder").is_dir() and not (folder / "encoder").exists():
            raise FileNotFoundError(f"--model {model}: a k-fold run; give one fold's folder, e.g. {folder / 'fold0'}")
        return model, model
    if not any((folder / "encoder" / name).is_file() for name in WEIGHT_FILES):
        raise FileNotFoundError(f"--model {model}: {folder / 'encoder'} holds no weights yet "
                                "(a run saves them at its first best epoch)")
    return str(folder / "encoder"), str(folder / "tokenizer")


HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")  # "bert-base-chinese", "hfl/chinese-macbert-base"


def missing_local_path(model: str) -> str:
    """Why ``model`` names a local folder that is not there, or "" (it exists, or may be a HuggingFace Hub id).

    A local path: one no Hub id can be (absolute, ``./``, ``~``, more than one ``/``), or a
    relative one whose first folder exists here (``cache/afqmc-mlm`` where ``cache/`` does).
    """
    path = Path(model).expanduser()
    if not model or path.exists():
        return ""
    if not HUB_ID.fullmatch(model):
        return "not a HuggingFace Hub id either"
    first = Path(model).parts[0]
    if len(Path(model).parts) > 1 and Path(first).is_dir():
        return f"{first}/ is a folder here, so this is a local path"
    return ""


def _stands_alone(ch: str) -> bool:
    """Whether BERT's basic tokenizer makes ``ch`` a token of its own: a CJK ideograph or punctuation (ASCII symbols
    included, as BERT counts them); letters, digits and other symbols join into words, which WordPiece spells."""
    cp = ord(ch)
    cjk = 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2FA1F or 0xF900 <= cp <= 0xFAFF
    ascii_symbol = 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126
    return cjk or ascii_symbol or unicodedata.category(ch).startswith("P")


def build_char_vocab(texts: Iterable[str], path: str | Path, min_freq: int = 2) -> Path:
    """Write a BERT ``vocab.txt`` of the characters seen ``min_freq`` times or more (lower-cased, as the tokenizer
    reads them), with a ``##`` piece of each one that joins into words (letters, digits: ``iPhone12`` is spelt
    ``i ##p ##h ... ##2``; without them every such word was [UNK], probe AB).

    Order: the special tokens, then characters by falling frequency (ties by code point, so the file is the same
    for the same text), then their ``##`` pieces in that order. Returns the written path.
    """
    counts = collections.Counter(ch for text in texts for ch in text.lower() if not ch.isspace())
    chars = sorted((c for c, n in counts.items() if n >= min_freq), key=lambda c: (-counts[c], c))
    pieces = [f"##{c}" for c in chars if not _stands_alone(c)]
    return write_text_once(path, "\n".join(SPECIAL_TOKENS + chars + pieces) + "\n")  # main process; all wait


def pruned_vocab_tokenizer(tokenizer: PreTrainedTokenizerBase, texts: Iterable[str],
                           path: str | Path) -> PreTrainedTokenizerBase:
    """``tokenizer`` (a BERT WordPiece one) cut down to the tokens ``texts`` use, written to ``path`` (a vocab.txt).

    Keeps :data:`SPECIAL_TOKENS` and every token the tokenizer produces on ``texts``, in the
    original vocabulary order, so those texts tokenise to the same tokens (greedy longest-match
    WordPiece only ever reaches pieces it used) under new, smaller ids: an MLM softmax over
    the task's 8k tokens instead of bert-base-chinese's 21k. Returns the new tokenizer.
    """
    used = {i for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"] for i in ids}
    special = set(SPECIAL_TOKENS)
    tokens = [t for i, t in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer)))))
              if i in used and t not in special]
    return _wordpiece_tokenizer(write_text_once(path, "\n".join(SPECIAL_TOKENS + tokens) + "\n"))


REPO_ROOT = Path(__file__).resolve().parents[1]


def resolve_vocab(vocab: str) -> Path:
    """``vocab`` as given when it exists (or is absolute), else relative to the repository root."""
    path = Path(vocab)
    if path.exists() or path.is_absolute():
        return path
    return REPO_ROOT / path


def load_tokenizer(config: EncoderConfig, texts: Iterable[str] | None = None,
                   build_dir: str | Path | None = None) -> PreTrainedTokenizerBase:
    """The tokenizer of ``config.model`` (a run folder: its ``tokenizer/``), else a WordPiece tokenizer on ``config.vocab``.

    When neither exists and ``texts`` is given, builds a character vocab in
    ``build_dir`` (see :func:`build_char_vocab`).

    Raises:
        FileNotFoundError: no model, no vocab, and no texts to build one from.
        ValueError: ``config.model``'s tokenizer holds special tokens only (a folder saved without its tokenizer
            files: transformers 5 then gives a 5-token BERT tokenizer that reads every character as [UNK]), or more
            tokens than the model has embedding rows (:func:`check_tokenizer`).
    """
    if config.model:
        weights, folder = model_folders(config.model)
        tokenizer = AutoTokenizer.from_pretrained(folder)
        check_tokenizer(tokenizer, folder, weights)
        return tokenizer
    vocab = resolve_vocab(config.vocab)
    vocab_file = vocab / "vocab.txt" if vocab.is_dir() else vocab
    if vocab_file.is_file():
        return _wordpiece_tokenizer(vocab_file)
    if texts is None or build_dir is None:
        raise FileNotFoundError(f"vocab not found: {vocab_file} (give --vocab, or --model NAME_OR_PATH)")
    built = build_char_vocab(texts, Path(build_dir) / "vocab.txt")
    logger.warning("vocab %s not found: built a character vocab of %d tokens at %s",
                   vocab_file, sum(1 for _ in built.open(encoding="utf-8")), built)
    return _wordpiece_tokenizer(built)


def check_tokenizer(tokenizer: PreTrainedTokenizerBase, folder: str, weights: str | None = None) -> None:
    """Refuse a tokenizer that cannot feed the model at ``weights``: one of special tokens only (``folder`` holds
    no tokenizer files; every character would be [UNK], and training would run to the class prior without a
    word), or one with more tokens than the model's ``vocab_size`` (ids past its embedding table: an
    IndexError at the first batch, after the run folder is written). A model config that cannot be read is
    not checked.

    Raises:
        ValueError: one line naming the folder.
    """
    if len(tokenizer) <= len(set(tokenizer.all_special_ids)):
        raise ValueError(f"--model {folder}: no tokenizer files there (vocab.txt, tokenizer.json, ...): its "
                         f"tokenizer holds only its {len(tokenizer)} special tokens and reads every character as "
                         "[UNK]; save the tokenizer beside the model (tokenizer.save_pretrained)")
    try:
        vocab_size = getattr(AutoConfig.from_pretrained(weights or folder), "vocab_size", None)
    except (OSError, ValueError):
        return
    if isinstance(vocab_size, int) and len(tokenizer) > vocab_size:
        raise ValueError(f"--model {folder}: its tokenizer has {len(tokenizer)} tokens, the model's embeddings "
                         f"{vocab_size} rows (vocab_size): ids past them have no embedding; use the tokenizer the "
                         "model was trained with")


def _wordpiece_tokenizer(vocab_file: Path) -> PreTrainedTokenizerBase:
    """A lower-casing BERT WordPiece tokenizer over ``vocab_file`` (Chinese split per character).

    Loaded through ``from_pretrained`` on the file's folder: the constructor's
    ``vocab_file`` argument is silently ignored by transformers 5 (every token [UNK]).
    """
    tokenizer = BertTokenizerFast.from_pretrained(str(vocab_file.parent), do_lower_case=True,
                                                  tokenize_chinese_chars=True)
    if len(tokenizer) < len(SPECIAL_TOKENS) + 1 or tokenizer.convert_tokens_to_ids("[CLS]") == tokenizer.unk_token_id:
        raise ValueError(f"{vocab_file}: not a BERT vocab (needs {SPECIAL_TOKENS} and one token a line)")
    return tokenizer


def small_bert_config(config: EncoderConfig, vocab_size: int, type_vocab_size: int = 2) -> BertConfig:
    """The BertConfig of the small from-scratch encoder."""
    return BertConfig(vocab_size=vocab_size, hidden_size=config.hidden_size,
                      num_hidden_layers=config.num_layers, num_attention_heads=config.num_heads,
                      intermediate_size=config.intermediate_size,
                      max_position_embeddings=config.max_position, type_vocab_size=type_vocab_size,
                      hidden_dropout_prob=config.dropout, attention_probs_dropout_prob=config.dropout)


def pretrained_config(config: EncoderConfig):
    """``AutoConfig`` of ``config.model`` with ``config.dropout`` as its hidden and attention dropout.

    So that ``--dropout`` (and a tuned dropout) reaches a pretrained encoder too; configs
    without BERT's dropout fields are returned unchanged.
    """
    loaded = AutoConfig.from_pretrained(model_folders(config.model)[0])
    for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
        if hasattr(loaded, name):
            setattr(loaded, name, config.dropout)
    return loaded


def check_max_length(encoder_config: Any, max_length: int, added: int = 0) -> None:
    """Refuse inputs longer than the encoder's position table, before the first batch fails inside it.

    Args:
        encoder_config: the encoder's transformers config (``max_position_embeddings``; none: no limit).
        max_length: ``--max-length``; ``added`` tokens more go in (NER's [CLS] and [SEP] around a piece).

    Raises:
        ValueError: naming both numbers (RoBERTa-style models keep 2 positions for the padding offset).
    """
    positions = getattr(encoder_config, "max_position_embeddings", None)
    if not positions:
        return
    if getattr(encoder_config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        positions -= 2  # their position ids start after the padding index
    if max_length + added > positions:
        tokens = f" ({max_length + added} tokens with the {added} added)" if added else ""
        raise ValueError(f"--max-length {max_length}{tokens}: the encoder has {positions} positions "
                         f"(max_position_embeddings); give --max-length {positions - added} or less, or, for an "
                         "encoder built here, a larger --max-position")


def build_encoder(config: EncoderConfig, tokenizer: PreTrainedTokenizerBase) -> nn.Module:
    """``AutoModel.from_pretrained(config.model)`` (a run folder: its ``encoder/``, :func:`model_folders`)
    without BERT's pooler, which no head here uses (as the small BERT is built), else a randomly
    initialised small BERT.

    The small BERT's vocabulary size is ``len(tokenizer)``.
    """
    if config.model:
        logger.info("encoder: %s (pretrained)", config.model)
        encoder = AutoModel.from_pretrained(model_folders(config.model)[0], config=pretrained_config(config))
        if getattr(encoder, "pooler", None) is not None:
            # BERT's pooler ([CLS] -> tanh): the heads here pool the last layer themselves, and a parameter
            # without a gradient stops DistributedDataParallel at the second step of a multi-process run
            # ("Expected to have finished reduction in the prior iteration").
            encoder.pooler = None
        for module in encoder.modules():  # RoFormer's fixed sin/cos position table (Su et al. 2021) is built
            if "Sinusoidal" in type(module).__name__:  # frozen, but transformers loads it trainable: kept fixed,
                module.requires_grad_(False)  # as in RoFormer and bert4keras (it drifted under fine-tuning)
        return encoder
    logger.info("encoder: small BERT from config (%d layers, hidden %d), random init",
                config.num_layers, config.hidden_size)
    return BertModel(small_bert_config(config, len(tokenizer)), add_pooling_layer=False)
