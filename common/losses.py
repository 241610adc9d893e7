"""Losses that are the point of a method (kept here, one function each, sources cited).

- :func:`multilabel_categorical_crossentropy`: softmax cross-entropy generalised to
  several positive classes (kexue.fm/archives/7359), the loss of GlobalPointer
  (kexue.fm/archives/8373).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Stands for -inf inside the loss: finite, so gradients of fully-masked rows stay 0, not NaN.
NEG_INF = -1e12


def multilabel_categorical_crossentropy(y_pred: torch.Tensor, y_true: torch.Tensor,
                                        valid: torch.Tensor | None = None) -> torch.Tensor:
    """Multilabel categorical cross-entropy, per row.

    For scores ``s`` and the sets ``P`` (positives) and ``N`` (negatives) of a row::

        loss = log(1 + sum_{i in N} exp(s_i)) + log(1 + sum_{j in P} exp(-s_j))

    so that every positive is pushed above the threshold 0 and every negative below
    it, with no class-balance weight to tune (kexue.fm/archives/7359). Each term is
    computed as ``softplus(logsumexp(.))``: the same value as appending a zero logit,
    without copying the scores.

    Args:
        y_pred: (..., C) scores (any float dtype; computed in float32).
        y_true: (..., C) bool or 0/1 targets.
        valid: optional (..., C) bool, False for classes to ignore (padding); they
            count neither as positive nor as negative.

    Returns:
        (...) loss per row (take ``.mean()`` for the batch loss).
    """
    s = y_pred.float()
    pos = y_true.bool()
    neg = ~pos
    if valid is not None:
        pos, neg = pos & valid, neg & valid
    neg_term = F.softplus(torch.logsumexp(s.masked_fill(~neg, NEG_INF), dim=-1))
    pos_term = F.softplus(torch.logsumexp((-s).masked_fill(~pos, NEG_INF), dim=-1))
    return neg_term + pos_term
