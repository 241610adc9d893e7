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
import math
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoTokenizer, BertForMaskedLM, BertForSequenceClassification

from common.encoder import pretrained_config as encoder_config, small_bert_config
from common.id_vocab import (IdVocab, apply_keep_tokens, build_id_vocab, frequency_rank_keep_tokens,
                             load_char_counts)
from common.losses import logit_adjusted_cross_entropy, posthoc_logit_adjustment
from competitions.xiaobu.data import LABEL_TOKENS, resolve

logger = logging.getLogger("xiaobu.model")
VOCAB_FILE = "id_vocab.json"


class PairClassifier(BertForSequenceClassification):
    """``BertForSequenceClassification`` (2 labels) with the loss form of logit adjustment.

    The stock class plus two options:

    - ``config.use_match`` (a BertConfig attribute, saved with the encoder config):
      the exact-match bit (:mod:`common.match_features`) enters as a 2-row embedding
      added to the token embeddings, zero-initialised so a pretrained encoder starts
      unchanged;
    - after :meth:`set_logit_adjustment` with ``tau > 0`` the training loss is
      cross-entropy on ``logits + tau * log_prior`` (Menon et al., ICLR 2021;
      kexue.fm/archives/7615); the logits stay raw.

    ``forward`` takes (B, T) ``input_ids``, ``attention_mask``, ``token_type_ids``,
    optional (B, T) ``match_ids`` and (B,) ``labels``; returns
    ``SequenceClassifierOutput(loss, logits (B, 2))``.
    """

    def __init__(self, config) -> None:
        super().__init__(config)
        self.match_embedding = nn.Embedding(2, config.hidden_size) if getattr(config, "use_match", False) else None
        if self.match_embedding is not None:
            nn.init.zeros_(self.match_embedding.weight)
        self.logit_adjust_tau = 0.0
        self.label_log_prior = torch.full((2,), math.log(0.5))  # a plain attribute: not in the state dict

    def set_logit_adjustment(self, log_prior: torch.Tensor, tau: float) -> None:
        """Train with logit-adjusted cross-entropy: ``log_prior`` (2,), ``tau`` >= 0 (0: plain)."""
        self.label_log_prior, self.logit_adjust_tau = log_prior.float(), float(tau)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, match_ids=None,
                **kwargs):
        if self.match_embedding is not None and match_ids is not None:
            embeds = self.bert.embeddings.word_embeddings(input_ids) + self.match_embedding(match_ids)  # (B, T, H)
            input_ids, kwargs["inputs_embeds"] = None, embeds
        outputs = super().forward(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids, **kwargs)
        if labels is not None:
            if self.logit_adjust_tau > 0:
                outputs.loss = logit_adjusted_cross_entropy(outputs.logits, labels, self.label_log_prior,
                                                            self.logit_adjust_tau)
            else:
                outputs.loss = F.cross_entropy(outputs.logits.float(), labels)
        return outputs


def model_class(joint: bool) -> type:
    return BertForMaskedLM if joint else PairClassifier


def build_vocab_and_model(config, sequences: Sequence[Sequence[int]], mlm_head: bool) -> tuple[IdVocab, nn.Module, str]:
    """The id vocabulary and the model to fine-tune, per ``config.model``.

    Args:
        config: a :class:`competitions.xiaobu.config.XiaobuConfig`.
        sequences: every side of every train and test pair (for a new vocabulary).
        mlm_head: ``BertForMaskedLM`` (pretraining, joint variant), else
            :class:`PairClassifier` (with the exact-match bit when ``config.use_match``).

    Returns:
        (vocab, model, start) with start ``"id-pretrained"``, ``"bert-frequency-rank"``
        or ``"scratch"``.

    Raises:
        FileNotFoundError: ``--model`` is a general BERT but the counts file is missing.
    """
    cls = model_class(mlm_head)
    use_match = bool(getattr(config, "use_match", False)) and not mlm_head
    if config.model:
        pretrained_config = encoder_config(config)  # --dropout applied
        if not mlm_head:
            pretrained_config.num_labels = 2
        pretrained_config.use_match = use_match
        extra = {"config": pretrained_config}
    if config.model and (Path(config.model) / VOCAB_FILE).is_file():
        vocab = IdVocab.load(Path(config.model) / VOCAB_FILE)
        model = _zero_match(cls.from_pretrained(config.model, **extra))
        logger.info("encoder: %s (MLM-pretrained on ids, vocab %d)", config.model, len(vocab))
        return vocab, model, "id-pretrained"
    vocab = build_id_vocab(sequences, min_freq=config.min_freq, extra_special_tokens=LABEL_TOKENS)
    if config.model:
        model = _zero_match(cls.from_pretrained(config.model, **extra))
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
        bert_config.use_match = use_match
    model = cls(bert_config)
    logger.info("encoder: small BERT from scratch (%d layers, hidden %d, vocab %d)",
                config.num_layers, config.hidden_size, len(vocab))
    return vocab, model, "scratch"


def _zero_match(model: nn.Module) -> nn.Module:
    """Zero the match embedding that ``from_pretrained`` initialised as a missing weight."""
    if getattr(model, "match_embedding", None) is not None:
        nn.init.zeros_(model.match_embedding.weight)
    return model


class ClassificationPredictStep:
    """{"prob": (B,) P(label 1)} from the classifier's (B, 2) logits.

    With ``posthoc_tau > 0`` the logits are first shifted by ``-tau * log_prior``
    (post-hoc logit adjustment). For two classes that is a constant shift of the
    log-odds: probabilities move, the ranking (ROC AUC) does not.
    """

    def __init__(self, log_prior: torch.Tensor | None = None, posthoc_tau: float = 0.0) -> None:
        if posthoc_tau > 0 and log_prior is None:
            raise ValueError("post-hoc logit adjustment needs the training label prior")
        self.log_prior, self.tau = log_prior, posthoc_tau

    def __call__(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        logits = model(**inputs).logits.float()  # (B, 2)
        if self.tau > 0:
            logits = posthoc_logit_adjustment(logits, self.log_prior, self.tau)  # (B, 2)
        return {"prob": torch.softmax(logits, dim=-1)[:, 1]}


classification_predict_step = ClassificationPredictStep()


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
