"""Encoders over an id vocabulary (desensitized text): id-pretrained, a pretrained BERT by frequency rank, or scratch.

The counterpart of :mod:`common.encoder` for tasks whose texts are integer ids
(GAIIC 2021 track 3 "Xiaobu"): the vocabulary is :class:`common.id_vocab.IdVocab`,
saved with a run as ``id_vocab.json`` (:data:`VOCAB_FILE`). The models are BERT classes
(:class:`common.bert_pair_classifier.BertPairClassifier`, ``BertForMaskedLM``), so ``--model``
must be a BERT-architecture checkpoint (:data:`BERT_MODEL_TYPES`; MacBERT and RoBERTa-wwm are).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

from torch import nn
from transformers import AutoTokenizer, BertForMaskedLM, PretrainedConfig

from common.bert_pair_classifier import BertPairClassifier, zero_match
from common.encoder import WEIGHT_FILES, EncoderConfig, model_folders, pretrained_config, small_bert_config
from common.id_vocab import IdVocab, apply_keep_tokens, build_id_vocab, frequency_rank_keep_tokens, load_char_counts
from common.match_features import num_statistics
from common.task import resolve

logger = logging.getLogger("common.id_encoder")
VOCAB_FILE = "id_vocab.json"
# model_type of the checkpoints the BERT classes here load weight for weight (bert-base-chinese, hfl's MacBERT and
# RoBERTa-wwm); ERNIE, RoBERTa, ALBERT, ELECTRA, RoFormer ... have other layers or parameter names
BERT_MODEL_TYPES = ("bert",)
MAX_UNK_SHARE = 0.9  # refused when more of the ids than this would start from the [UNK] row


def id_model_source(model: str) -> tuple[str, str, Path | None]:
    """(weights folder, tokenizer folder, id vocabulary file or None) that ``--model`` names.

    - a folder of this project's id pretraining (``id_vocab.json`` beside the weights): itself and its vocabulary;
    - a finished Xiaobu run (``id_vocab.json`` and ``encoder/``), or that run's ``encoder/``: the fine-tuned
      encoder with the run's vocabulary (the run's heads, kept in its ``model.pt``, are not part of it);
    - anything else (a pretrained BERT, another task's run folder): :func:`common.encoder.model_folders`,
      no id vocabulary (ids mapped by frequency rank).

    Raises:
        FileNotFoundError: a run whose ``encoder/`` holds no weights yet, or what
            :func:`common.encoder.model_folders` refuses (a missing local path, a k-fold run folder).
    """
    folder = Path(model)
    if folder.name == "encoder" and (folder.parent / VOCAB_FILE).is_file():
        folder = folder.parent
    if (folder / VOCAB_FILE).is_file() and (folder / "encoder").is_dir():
        if not any((folder / "encoder" / name).is_file() for name in WEIGHT_FILES):
            raise FileNotFoundError(f"--model {model}: {folder / 'encoder'} holds no weights yet "
                                    "(a run saves them at its first best epoch)")
        return str(folder / "encoder"), "", folder / VOCAB_FILE
    if (folder / VOCAB_FILE).is_file():
        return model, model, folder / VOCAB_FILE
    weights, tokenizer = model_folders(model)
    return weights, tokenizer, None


def bert_checkpoint_config(model: str, weights: str, dropout: float) -> PretrainedConfig:
    """``AutoConfig`` of ``weights`` with ``dropout`` as its hidden and attention dropout
    (:func:`common.encoder.pretrained_config`), checked to be BERT's.

    Raises:
        ValueError: not a BERT-architecture checkpoint (model_type not in :data:`BERT_MODEL_TYPES`).
    """
    loaded = pretrained_config(EncoderConfig(model=weights, dropout=dropout))
    if loaded.model_type not in BERT_MODEL_TYPES:
        raise ValueError(f"{model}: Xiaobu's classifier loads BERT-architecture checkpoints (model_type "
                         f"{', '.join(BERT_MODEL_TYPES)}), got {loaded.model_type}; give a BERT (e.g. bert-base-chinese, "
                         "hfl/chinese-roberta-wwm-ext, hfl/chinese-macbert-base), an id pretraining folder "
                         "(make xiaobu-pretrain) or --model '' (from scratch)")
    return loaded


def load_bert(cls: type, model: str, weights: str, config: PretrainedConfig, checkpoint_labels: int) -> nn.Module:
    """``cls.from_pretrained(weights, config=config)``; a classifier of ``checkpoint_labels`` labels (the
    checkpoint's) other than ``config.num_labels`` is re-initialised, with a warning. Returns the model,
    :func:`common.bert_pair_classifier.zero_match` applied.

    Raises:
        ValueError: encoder weights missing from the checkpoint (parameter names of another layout).
    """
    module, info = cls.from_pretrained(weights, config=config, output_loading_info=True,
                                       ignore_mismatched_sizes=checkpoint_labels != config.num_labels)
    prefix = module.base_model_prefix
    missing = sorted(k for k in info["missing_keys"] if k.startswith((f"{prefix}.embeddings.", f"{prefix}.encoder.")))
    if missing:
        raise ValueError(f"{model}: {len(missing)} encoder weights missing from the checkpoint (e.g. {missing[0]}): "
                         "not a BERT checkpoint this class can load")
    if any(key.startswith("classifier.") for key, *_ in info["mismatched_keys"]):
        # a warning: the train command sets up its log after the model is built, and stderr shows warnings before
        logger.warning("%s: its classifier has %d labels: re-initialised for %d", model, checkpoint_labels,
                       config.num_labels)
    return zero_match(module)


def build_id_vocab_and_model(config: Any, sequences: Sequence[Sequence[int]], mlm_head: bool,
                             extra_special_tokens: Sequence[str] = (),
                             mlm_class: type = BertForMaskedLM) -> tuple[IdVocab, nn.Module, str]:
    """The id vocabulary and the BERT to train on id sequences, per ``config.model``.

    ``config.model`` is a folder of this project's id pretraining (it holds
    ``id_vocab.json``, reused), a finished Xiaobu run or its ``encoder/`` (the fine-tuned
    encoder and the run's ``id_vocab.json``; its heads start afresh), any pretrained BERT-architecture
    checkpoint (ids mapped onto its vocabulary by frequency rank of ``config.counts_file`` under
    ``config.data_dir``, bojone's keep_tokens; a classification checkpoint of another label count
    has its classifier re-initialised), or empty: a small BERT from scratch
    (:func:`common.encoder.small_bert_config`) on a vocabulary of ``sequences`` (ids seen
    ``config.min_freq`` times).

    Args:
        config: an :class:`common.encoder.EncoderConfig` with ``min_freq``, ``data_dir``,
            ``counts_file`` and (classification) ``use_match``, ``ngram_match``, ``pair_statistics``,
            ``alignment_statistics`` and ``esim``.
        sequences: every id sequence known (for a new vocabulary).
        mlm_head: ``mlm_class`` (pretraining: ``BertForMaskedLM``; the joint variant:
            :class:`common.joint_mlm.JointMaskedLM`), else
            :class:`common.bert_pair_classifier.BertPairClassifier` (with the exact-match
            bit when ``config.use_match``, the n-gram match bit when ``config.ngram_match``, the statistics of
            :func:`common.match_features.scaled_statistics` when ``config.pair_statistics`` or
            ``config.alignment_statistics``, the ESIM head when ``config.esim``).
        extra_special_tokens: reserved tokens of a new vocabulary (e.g.
            :data:`common.joint_mlm.LABEL_TOKENS`).

    Returns:
        (vocab, model, start) with start ``"id-pretrained"``, ``"xiaobu-run"``, ``"bert-frequency-rank"``
        or ``"scratch"``.

    Raises:
        ValueError: ``--model`` is not a BERT-architecture checkpoint (:func:`bert_checkpoint_config`,
            :func:`load_bert`), or its tokenizer leaves nearly every id on [UNK] (e.g. a folder without
            tokenizer files, where transformers gives a tokenizer of the special tokens only).
        FileNotFoundError: ``--model`` names no folder (:func:`id_model_source`), or it is a general BERT but
            the counts file is missing.
    """
    cls = mlm_class if mlm_head else BertPairClassifier
    use_match = bool(getattr(config, "use_match", False)) and not mlm_head
    statistics = 0 if mlm_head else num_statistics(getattr(config, "pair_statistics", False),
                                                   getattr(config, "alignment_statistics", False))
    esim = bool(getattr(config, "esim", False)) and not mlm_head
    ngram_match = 0 if mlm_head else int(getattr(config, "ngram_match", 0) or 0)
    if not config.model:
        vocab = build_id_vocab(sequences, min_freq=config.min_freq, extra_special_tokens=tuple(extra_special_tokens))
        bert_config = small_bert_config(config, len(vocab))
        if not mlm_head:
            bert_config.num_labels = 2
            bert_config.use_match, bert_config.pair_statistics = use_match, statistics
            bert_config.esim, bert_config.ngram_match = esim, ngram_match
        model = cls(bert_config)
        logger.info("encoder: small BERT from scratch (%d layers, hidden %d, vocab %d)",
                    config.num_layers, config.hidden_size, len(vocab))
        return vocab, model, "scratch"
    weights, tokenizer_folder, vocab_file = id_model_source(config.model)
    pretrained_config = bert_checkpoint_config(config.model, weights, config.dropout)  # --dropout applied
    checkpoint_labels = pretrained_config.num_labels
    if not mlm_head:
        pretrained_config.num_labels = 2
    pretrained_config.use_match, pretrained_config.pair_statistics = use_match, statistics
    pretrained_config.esim, pretrained_config.ngram_match = esim, ngram_match
    if vocab_file is not None:
        vocab = IdVocab.load(vocab_file)
        encoded = vocab.encode([t for s in sequences for t in s])
        unknown = sum(i == vocab.unk_id for i in encoded) / max(len(encoded), 1)
        if unknown > MAX_UNK_SHARE:  # another id mapping than the data's (another contest's desensitisation)
            raise ValueError(f"--model {config.model}: {unknown:.0%} of this data's ids are not in its vocabulary "
                             f"({vocab_file}): it was made on ids desensitised another way; give a folder made on "
                             "this data, a general BERT (frequency-rank mapping) or --model ''")
        model = load_bert(cls, config.model, weights, pretrained_config, checkpoint_labels)
        start = "id-pretrained" if vocab_file.parent == Path(weights) else "xiaobu-run"
        logger.info("encoder: %s (%s, vocab %d)", config.model,
                    "a Xiaobu run's fine-tuned encoder" if start == "xiaobu-run" else "MLM-pretrained on ids", len(vocab))
        return vocab, model, start
    vocab = build_id_vocab(sequences, min_freq=config.min_freq, extra_special_tokens=tuple(extra_special_tokens))
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    pretrained_tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    counts = load_char_counts(resolve(config.data_dir, config.counts_file))
    keep = frequency_rank_keep_tokens(vocab, pretrained_tokens, counts)
    n_ids = len(vocab) - vocab.num_special
    unk_row = keep[vocab.unk_id]
    unk = sum(row == unk_row for row in keep[vocab.num_special:])
    if n_ids and unk > MAX_UNK_SHARE * n_ids:
        raise ValueError(f"--model {config.model}: {unk} of the {n_ids} ids would start from [UNK]: its tokenizer "
                         f"({tokenizer_folder}, {len(tokenizer)} tokens) holds {n_ids - unk} characters of "
                         f"{config.counts_file}; save the BERT's tokenizer (vocab.txt) beside its weights")
    if unk:
        logger.warning("--model %s: %d of the %d ids start from [UNK] (more ids than characters of its vocabulary "
                       "in %s)", config.model, unk, n_ids, config.counts_file)
    model = load_bert(cls, config.model, weights, pretrained_config, checkpoint_labels)
    apply_keep_tokens(model, keep)
    logger.info("encoder: %s, %d ids mapped onto its vocabulary by frequency rank", config.model, len(vocab))
    return vocab, model, "bert-frequency-rank"
