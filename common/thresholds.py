"""Decision thresholds of binary classifiers, tuned on validation probabilities."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score, precision_recall_curve, roc_auc_score


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


def accuracy_threshold(labels: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    """The threshold maximising accuracy of ``probs >= threshold``, and that accuracy.

    For probabilities that are not calibrated, where 0.5 is not the accuracy-maximising cut (a model trained on
    69% negatives that ranks better than it is calibrated). Every cut between two distinct probabilities is
    tried (the threshold is their midpoint), plus "all 1" (the lowest probability) and "all 0" (just above the
    highest); among cuts of equal accuracy the one nearest 0.5 is taken, so a calibrated model keeps 0.5's decision
    where it is as good.

    Args:
        labels: (N,) 0/1; probs: (N,) positive-class probabilities, N >= 1.

    Raises:
        ValueError: no rows, or labels and probabilities of different lengths.
    """
    labels, probs = np.asarray(labels).astype(int), np.asarray(probs, dtype=float)
    if len(labels) == 0 or len(labels) != len(probs):
        raise ValueError(f"accuracy_threshold: {len(labels)} labels for {len(probs)} probabilities")
    values = np.unique(probs)  # ascending, distinct
    cuts = np.concatenate([values[:1], (values[:-1] + values[1:]) / 2, [np.nextafter(values[-1], np.inf)]])
    # positives predicted at each cut: rows with p >= cut; correct = true positives + true negatives
    order = np.sort(probs)
    ones_above = len(labels) - np.searchsorted(order, cuts, side="left")  # rows predicted 1
    pos_sorted = np.sort(probs[labels == 1])
    tp = len(pos_sorted) - np.searchsorted(pos_sorted, cuts, side="left")
    accuracy = (tp + (len(labels) - labels.sum()) - (ones_above - tp)) / len(labels)
    best = np.flatnonzero(accuracy == accuracy.max())
    i = int(best[np.argmin(np.abs(cuts[best] - 0.5))])
    return float(cuts[i]), float(accuracy[i])


def binary_scores(labels: np.ndarray, probs: np.ndarray, threshold: float) -> dict[str, float]:
    """``accuracy`` and ``f1`` (positive class) of ``probs >= threshold`` against (N,) 0/1 ``labels``, and ``auc``
    (ROC AUC of the (N,) ``probs``; NaN with one class)."""
    decided = (probs >= threshold).astype(int)
    two_classes = len(set(labels.tolist())) == 2
    return {"accuracy": float(np.mean(decided == labels)),
            "f1": float(f1_score(labels, decided, zero_division=0.0)),
            "auc": float(roc_auc_score(labels, probs)) if two_classes else float("nan")}
