"""The optional additions to a pair classifier's pooled vector, shared by both pair classifiers.

:class:`common.pair_classifier.PairClassifier` (Sohu, AFQMC) and
:class:`common.bert_pair_classifier.BertPairClassifier` (Xiaobu) each may add, before the classifier:

* ``--pair-statistics``: a zero-initialised linear map of the pair's (B, S) statistics
  (:func:`common.match_features.scaled_statistics`; hand features beside the encoder, as
  matching-competition solutions feed their GBM columns);
* ``--esim``: :class:`common.layers.esim.ESIMInteraction` of the last layer's two segments
  (Chen et al., ACL 2017).

Both start at zero, so a model with them starts as the model without.
"""

from __future__ import annotations

import torch
from torch import nn

from common.layers.esim import ESIMInteraction, segment_masks


def add_pooled_heads(pooled: torch.Tensor, hidden: torch.Tensor, attention_mask: torch.Tensor | None,
                     token_type_ids: torch.Tensor | None, statistics: torch.Tensor | None,
                     statistics_projection: nn.Linear | None, esim: ESIMInteraction | None) -> torch.Tensor:
    """``pooled`` plus the statistics map and the ESIM head, each where the model has it.

    Args:
        pooled: (B, H) the pooled (and dropped-out) encoder output.
        hidden: (B, T, H) the last layer's states (read by ESIM only).
        attention_mask: (B, T) 1 on tokens, 0 on padding; None: no padding.
        token_type_ids: (B, T) 0 on ``[CLS] a [SEP]``, 1 on ``b [SEP]`` (ESIM needs them).
        statistics: (B, S) float pair statistics (needed with ``statistics_projection``).
        statistics_projection: ``nn.Linear(S, H)`` or None; esim: the head or None.

    Returns:
        (B, H) in ``pooled``'s dtype.

    Raises:
        ValueError: a model with the statistics map called without ``statistics``, or with ESIM
            without ``token_type_ids``.
    """
    if statistics_projection is not None:
        if statistics is None:
            raise ValueError("this model was built with --pair-statistics: its inputs need `statistics` (B, S)")
        pooled = pooled + statistics_projection(statistics.to(pooled.dtype))  # (B, H)
    if esim is not None:
        if token_type_ids is None:
            raise ValueError("this model was built with --esim: its inputs need `token_type_ids` (B, T)")
        mask = attention_mask if attention_mask is not None else torch.ones_like(token_type_ids)
        pooled = pooled + esim(hidden, *segment_masks(mask, token_type_ids))  # (B, H)
    return pooled
