"""Encoders over an id vocabulary (desensitized text): id-pretrained, a pretrained BERT by frequency rank, or scratch.

The counterpart of :mod:`common.encoder` for tasks whose texts are integer ids
(GAIIC 2021 track 3 "Xiaobu"): the vocabulary is :class:`common.id_vocab.IdVocab`,
saved with a run as ``id_vocab.json`` (:data:`VOCAB_FILE`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

from torch import nn
from transformers import AutoTokenizer, BertForMaskedLM

from common.bert_pair_classifier import BertPairClassifier, zero_match
from common.encoder import pretrained_config as encoder_config, small_bert_config
from common.id_vocab import IdVocab, apply_keep_tokens, build_id_vocab, frequency_rank_keep_tokens, load_char_counts
from common.match_features import num_statistics
from common.task import resolve

logger = logging.getLogger("common.id_encoder")
VOCAB_FILE = "id_vocab.json"


def build_id_vocab_and_model(config: Any, sequences: Sequence[Sequence[int]], mlm_head: bool,
                             extra_special_tokens: Sequence[str] = (),
                             mlm_class: type = BertForMaskedLM) -> tuple[IdVocab, nn.Module, str]:
    """The id vocabulary and the BERT to train on id sequences, per ``config.model``.

    ``config.model`` is a folder of this project's id pretraining (it holds
    ``id_vocab.json``, reused), any pretrained BERT (ids mapped onto its vocabulary by
    frequency rank of ``config.counts_file`` under ``config.data_dir``, bojone's
    keep_tokens), or empty: a small BERT from scratch (:func:`common.encoder.small_bert_config`)
    on a vocabulary of ``sequences`` (ids seen ``config.min_freq`` times).

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
        (vocab, model, start) with start ``"id-pretrained"``, ``"bert-frequency-rank"``
        or ``"scratch"``.

    Raises:
        FileNotFoundError: ``--model`` is a general BERT but the counts file is missing.
    """
    cls = mlm_class if mlm_head else BertPairClassifier
    use_match = bool(getattr(config, "use_match", False)) and not mlm_head
    statistics = 0 if mlm_head else num_statistics(getattr(config, "pair_statistics", False),
                                                   getattr(config, "alignment_statistics", False))
    esim = bool(getattr(config, "esim", False)) and not mlm_head
    ngram_match = 0 if mlm_head else int(getattr(config, "ngram_match", 0) or 0)
    if config.model:
        pretrained_config = encoder_config(config)  # --dropout applied
        if not mlm_head:
            pretrained_config.num_labels = 2
        pretrained_config.use_match, pretrained_config.pair_statistics = use_match, statistics
        pretrained_config.esim, pretrained_config.ngram_match = esim, ngram_match
        extra = {"config": pretrained_config}
    if config.model and (Path(config.model) / VOCAB_FILE).is_file():
        vocab = IdVocab.load(Path(config.model) / VOCAB_FILE)
        model = zero_match(cls.from_pretrained(config.model, **extra))
        logger.info("encoder: %s (MLM-pretrained on ids, vocab %d)", config.model, len(vocab))
        return vocab, model, "id-pretrained"
    vocab = build_id_vocab(sequences, min_freq=config.min_freq, extra_special_tokens=tuple(extra_special_tokens))
    if config.model:
        model = zero_match(cls.from_pretrained(config.model, **extra))
        tokenizer = AutoTokenizer.from_pretrained(config.model)
        pretrained_tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        counts = load_char_counts(resolve(config.data_dir, config.counts_file))
        keep = frequency_rank_keep_tokens(vocab, pretrained_tokens, counts)
        apply_keep_tokens(model, keep)
        logger.info("encoder: %s, %d ids mapped onto its vocabulary by frequency rank", config.model, len(vocab))
        return vocab, model, "bert-frequency-rank"
    bert_config = small_bert_config(config, len(vocab))
    if not mlm_head:
        bert_config.num_labels = 2
        bert_config.use_match, bert_config.pair_statistics = use_match, statistics
        bert_config.esim, bert_config.ngram_match = esim, ngram_match
    model = cls(bert_config)
    logger.info("encoder: small BERT from scratch (%d layers, hidden %d, vocab %d)",
                config.num_layers, config.hidden_size, len(vocab))
    return vocab, model, "scratch"
