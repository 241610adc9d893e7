"""Losses that are the point of a method (kept here, one function each, sources cited).

- :func:`multilabel_categorical_crossentropy`: softmax cross-entropy generalised to
  several positive classes (kexue.fm/archives/7359), the loss of GlobalPointer
  (kexue.fm/archives/8373).
- :func:`log_prior`, :func:`logit_adjusted_cross_entropy`, :func:`posthoc_logit_adjustment`:
  logit adjustment for imbalanced labels (Menon et al., "Long-tail learning via
  logit adjustment", ICLR 2021; kexue.fm/archives/7615), in its loss form and its
  post-hoc form.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from accelerate.utils import reduce

from common.io import write_json_atomic
from common.run import process_state

@dataclass
class LogitAdjustmentConfig:
    """The two forms of logit adjustment, one flag each (0 = off); task configs inherit these."""

    logit_adjust_tau: float = 0.0  # loss form: train on logits + tau * log prior (predict with raw logits)
    posthoc_tau: float = 0.0  # post-hoc form: predict with logits - tau * log prior


# Where a run keeps the log priors of its training labels (for the post-hoc form at prediction).
LOG_PRIOR_FILE = "label_prior.json"


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


def log_prior(labels: Sequence[int] | np.ndarray, num_classes: int,
              groups: Sequence[int] | np.ndarray | None = None, num_groups: int | None = None,
              smoothing: float = 1.0) -> torch.Tensor:
    """Log class priors estimated from the training labels (add-``smoothing`` counts).

    Args:
        labels: (N,) class indices in ``[0, num_classes)``.
        num_classes: C.
        groups: optional (N,) group ids (e.g. Sohu's subtask): one prior per group.
        num_groups: G, required with ``groups`` (groups without labels get a uniform prior).
        smoothing: pseudo-count added to every class (keeps log finite).

    Returns:
        (C,) float32 ``log p(y)``, or (G, C) with groups.

    Raises:
        ValueError: a label outside ``[0, num_classes)`` or a group outside ``[0, num_groups)``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}")
    if groups is None:
        counts = np.bincount(labels, minlength=num_classes).astype(np.float64)[None]  # (1, C)
    else:
        groups = np.asarray(groups, dtype=np.int64)
        if num_groups is None or (groups.size and (groups.min() < 0 or groups.max() >= num_groups)):
            raise ValueError(f"groups must lie in [0, num_groups={num_groups})")
        counts = np.zeros((num_groups, num_classes))
        np.add.at(counts, (groups, labels), 1.0)  # (G, C)
    counts += smoothing
    prior = counts / counts.sum(axis=1, keepdims=True)
    out = torch.tensor(np.log(prior), dtype=torch.float32)
    return out[0] if groups is None else out


def logit_adjusted_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, log_prior: torch.Tensor,
                                 tau: float = 1.0) -> torch.Tensor:
    """Cross-entropy on ``logits + tau * log_prior`` (the loss form of logit adjustment).

    Training against prior-shifted logits makes the raw logits estimate the
    balanced (prior-free) posterior, so rare classes get a larger margin (Menon et
    al. 2021, eq. 10; kexue.fm/archives/7615). Predict with the raw logits.
    ``tau = 0`` is plain cross-entropy.

    Args:
        logits: (B, C) scores.
        labels: (B,) class indices.
        log_prior: (C,) or (B, C) log priors (per-row priors, e.g. per subtask).
        tau: scale of the adjustment.

    Returns:
        scalar mean loss.
    """
    adjusted = logits.float() + tau * log_prior.to(logits.device, torch.float32)  # (B, C)
    return F.cross_entropy(adjusted, labels)


def posthoc_logit_adjustment(logits: torch.Tensor, log_prior: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """``logits - tau * log_prior``: the post-hoc form, applied at prediction to a model trained plainly.

    The argmax of the result is the balanced-error-optimal decision (Menon et al.
    2021, eq. 9). For two classes it is a constant shift of the log-odds by
    ``-tau * (log p1 - log p0)``, so it moves the 0.5 decision point but leaves any
    ranking metric (ROC AUC) and any tuned-threshold F1 unchanged.

    Args:
        logits: (B, C) scores.
        log_prior: (C,) or (B, C) log priors.
        tau: scale of the adjustment; 0 returns the logits unchanged.

    Returns:
        (B, C) adjusted logits (float32).
    """
    return logits.float() - tau * log_prior.to(logits.device, torch.float32)


def save_log_prior(run_dir: str | Path, prior: torch.Tensor) -> Path:
    """Write ``prior`` ((C,) or (G, C) log priors) as ``run_dir/label_prior.json``, atomically."""
    return write_json_atomic(Path(run_dir) / LOG_PRIOR_FILE, prior.tolist())


def posthoc_arguments(run_dir: str | Path, tau: float) -> dict:
    """``{"log_prior", "posthoc_tau"}`` for a task's probability function, or ``{}`` when ``tau <= 0``.

    Raises:
        FileNotFoundError: ``tau > 0`` and the run has no label_prior.json (trained
            before logit adjustment existed).
    """
    if tau <= 0:
        return {}
    path = Path(run_dir) / LOG_PRIOR_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: post-hoc logit adjustment needs the training priors; retrain")
    prior = torch.tensor(json.loads(path.read_text(encoding="utf-8")), dtype=torch.float32)
    return {"log_prior": prior, "posthoc_tau": tau}


def rdrop_kl(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """R-Drop's regulariser: ``(KL(p_a || p_b) + KL(p_b || p_a)) / 2``, mean over the batch.

    Liang et al., "R-Drop: Regularized Dropout for Neural Networks" (NeurIPS 2021, eq. 2;
    kexue.fm/archives/8496): the same batch through two dropout masks should give the
    same class distribution.

    Args:
        logits_a, logits_b: (B, C) logits of the two passes (p = softmax).

    Returns:
        scalar, >= 0 (float32).

    Raises:
        ValueError: logits that are not two (B, C) tensors of one shape.
    """
    if logits_a.dim() != 2 or logits_a.shape != logits_b.shape:
        raise ValueError(f"R-Drop compares (B, C) class logits; got {tuple(logits_a.shape)} and "
                         f"{tuple(logits_b.shape)}")
    log_a, log_b = F.log_softmax(logits_a.float(), dim=-1), F.log_softmax(logits_b.float(), dim=-1)
    kl_ab = F.kl_div(log_b, log_a, reduction="batchmean", log_target=True)  # KL(p_a || p_b)
    kl_ba = F.kl_div(log_a, log_b, reduction="batchmean", log_target=True)  # KL(p_b || p_a)
    return (kl_ab + kl_ba) / 2


def process_mean_count(mask: torch.Tensor) -> torch.Tensor:
    """How many entries of the bool ``mask`` (any shape: (B,) rows, (B, T) tokens) are set, averaged over the
    processes (all-reduced; one process: the count), 1 where no process has any. A process's sum over its
    entries divided by it makes DDP's gradient (the mean of the processes') the gradient of the mean over every
    process's entries, as one process computes it on the whole batch: the MLM loss over masked tokens
    (:func:`common.pretraining.masked_token_loss`), distillation's hard and soft terms
    (:func:`common.distillation.distillation_loss`). Every process must call it (a collective).

    Returns:
        a () float tensor.
    """
    count = mask.sum().float()
    if process_state().num_processes > 1:
        count = reduce(count, reduction="mean")
    return torch.where(count > 0, count, torch.ones_like(count))
