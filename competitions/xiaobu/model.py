"""Xiaobu models: a BERT pair classifier, or bojone's joint MLM-head classifier.

Both are stock transformers classes, so the shared trainer and ``save_pretrained``
work unchanged:

- classification (default): ``BertForSequenceClassification`` on
  ``[CLS] a [SEP] b [SEP]`` (pooled [CLS] -> 2 logits, cross-entropy);
- joint (``--joint true``, bojone's baseline, kexue.fm 5 Mar 2021): ``BertForMaskedLM``
  whose target at [CLS] is one of two reserved tokens ``[LABEL0]``/``[LABEL1]`` while
  the other positions keep doing MLM on all (labelled and unlabelled) text; the
  probability is the softmax over those two tokens' logits at [CLS].

The encoder starts from a ``competitions.xiaobu.pretrain`` folder (its
``id_vocab.json`` is reused), from any pretrained BERT (ids mapped onto its
vocabulary by frequency rank, bojone's keep_tokens), or from scratch.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import torch
from torch import nn
from transformers import AutoTokenizer, BertForMaskedLM, BertForSequenceClassification

from common.encoder import small_bert_config
from common.id_vocab import (IdVocab, apply_keep_tokens, build_id_vocab, frequency_rank_keep_tokens,
                             load_char_counts)
from competitions.xiaobu.data import LABEL_TOKENS, resolve

logger = logging.getLogger("xiaobu.model")
VOCAB_FILE = "id_vocab.json"


def model_class(joint: bool) -> type:
    return BertForMaskedLM if joint else BertForSequenceClassification


def build_vocab_and_model(config, sequences: Sequence[Sequence[int]], mlm_head: bool) -> tuple[IdVocab, nn.Module, str]:
    """The id vocabulary and the model to fine-tune, per ``config.model``.

    Args:
        config: a :class:`competitions.xiaobu.config.XiaobuConfig`.
        sequences: every side of every train and test pair (for a new vocabulary).
        mlm_head: ``BertForMaskedLM`` (pretraining, joint variant), else
            ``BertForSequenceClassification``.

    Returns:
        (vocab, model, start) with start ``"id-pretrained"``, ``"bert-frequency-rank"``
        or ``"scratch"``.

    Raises:
        FileNotFoundError: ``--model`` is a general BERT but the counts file is missing.
    """
    cls = model_class(mlm_head)
    extra = {} if mlm_head else {"num_labels": 2}
    if config.model and (Path(config.model) / VOCAB_FILE).is_file():
        vocab = IdVocab.load(Path(config.model) / VOCAB_FILE)
        model = cls.from_pretrained(config.model, **extra)
        logger.info("encoder: %s (MLM-pretrained on ids, vocab %d)", config.model, len(vocab))
        return vocab, model, "id-pretrained"
    vocab = build_id_vocab(sequences, min_freq=config.min_freq, extra_special_tokens=LABEL_TOKENS)
    if config.model:
        model = cls.from_pretrained(config.model, **extra)
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
    model = cls(bert_config)
    logger.info("encoder: small BERT from scratch (%d layers, hidden %d, vocab %d)",
                config.num_layers, config.hidden_size, len(vocab))
    return vocab, model, "scratch"


def classification_predict_step(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """{"prob": (B,) P(label 1)} from ``BertForSequenceClassification`` logits (B, 2)."""
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits = model(**inputs).logits  # (B, 2)
    return {"prob": torch.softmax(logits.float(), dim=-1)[:, 1]}


class JointPredictStep:
    """{"prob": (B,) P(label 1)}: softmax over the ``[LABEL0]``/``[LABEL1]`` MLM logits at [CLS].

    Only the [CLS] position goes through the MLM head (the other T-1 positions' (V,)
    logits are never needed), which makes scoring ~T times cheaper in the head.
    """

    def __init__(self, vocab: IdVocab) -> None:
        self.label_ids = [vocab.token_id(t) for t in LABEL_TOKENS]

    def __call__(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        hidden = model.bert(**inputs).last_hidden_state[:, :1]  # (B, T, H) -> (B, 1, H): [CLS] only
        logits = model.cls(hidden)[:, 0, self.label_ids]  # (B, 1, V) -> (B, 2)
        return {"prob": torch.softmax(logits.float(), dim=-1)[:, 1]}
