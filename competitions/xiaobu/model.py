"""Xiaobu models: a BERT pair classifier, or bojone's joint MLM-head classifier.

Both are stock transformers classes, so the shared trainer and ``save_pretrained``
work unchanged:

- classification (default): :class:`common.bert_pair_classifier.BertPairClassifier`
  (``BertForSequenceClassification`` on ``[CLS] a [SEP] b [SEP]`` with the exact-match
  bit and the loss form of logit adjustment);
- joint (``--joint true``, bojone's baseline, kexue.fm 5 Mar 2021): ``BertForMaskedLM``
  whose target at [CLS] is one of two reserved tokens ``[LABEL0]``/``[LABEL1]``
  (:class:`common.joint_mlm.JointMaskedLM`: in training its head runs at the target positions only).

The encoder starts from a ``competitions.xiaobu.pretrain`` folder (its
``id_vocab.json`` is reused), a finished Xiaobu run's encoder (with its ``id_vocab.json``),
any pretrained BERT-architecture checkpoint (ids mapped onto its vocabulary by frequency rank,
bojone's keep_tokens), or from scratch (:func:`common.id_encoder.build_id_vocab_and_model`).
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from common.bert_pair_classifier import BertPairClassifier
from common.id_encoder import build_id_vocab_and_model
from common.id_vocab import IdVocab
from common.joint_mlm import LABEL_TOKENS, JointMaskedLM

def model_class(joint: bool) -> type:
    """:class:`common.joint_mlm.JointMaskedLM` (a ``BertForMaskedLM``) for the joint variant, else the pair classifier."""
    return JointMaskedLM if joint else BertPairClassifier


def build_vocab_and_model(config, sequences: Sequence[Sequence[int]], mlm_head: bool,
                          mlm_class: type = JointMaskedLM) -> tuple[IdVocab, nn.Module, str]:
    """:func:`common.id_encoder.build_id_vocab_and_model` with the joint variant's reserved label tokens.

    ``mlm_class``: the masked LM when ``mlm_head`` (the joint variant's; pretraining passes ``BertForMaskedLM``).
    """
    return build_id_vocab_and_model(config, sequences, mlm_head, LABEL_TOKENS, mlm_class=mlm_class)
