"""Decision thresholds of binary classifiers, tuned on validation probabilities."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import precision_recall_curve


def best_threshold(labels: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    """The threshold maximising F1 of the positive class, and that F1.

    Args:
        labels: (N,) 0/1; probs: (N,) positive-class probabilities.

    Predictions are ``probs >= threshold``. With no positive label, returns (0.5, 0.0).
    """
    if labels.sum() == 0:
        return 0.5, 0.0
    precision, recall, thresholds = precision_recall_curve(labels, probs)
    f1 = 2 * precision[:-1] * recall[:-1] / np.clip(precision[:-1] + recall[:-1], 1e-12, None)
    i = int(np.argmax(f1))
    return float(thresholds[i]), float(f1[i])
