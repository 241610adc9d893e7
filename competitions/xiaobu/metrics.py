"""Xiaobu metric: ROC AUC of the positive-class probability (the competition's score)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def pair_auc(labels: np.ndarray, probs: np.ndarray) -> float:
    """ROC AUC (scikit-learn) of (N,) probabilities against (N,) 0/1 labels.

    Raises:
        ValueError: the labels hold a single class (AUC undefined) or lengths differ.
    """
    labels, probs = np.asarray(labels), np.asarray(probs)
    if labels.shape != probs.shape:
        raise ValueError(f"{labels.shape[0]} labels but {probs.shape[0]} probabilities")
    if len(np.unique(labels)) < 2:
        raise ValueError("AUC needs both classes among the labels")
    return float(roc_auc_score(labels, probs))
