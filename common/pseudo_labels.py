"""Pseudo-labelling: a teacher's confident test predictions added to training as hard labels, in a second round.

Self-training on unlabelled data (Lee, "Pseudo-Label", ICML 2013 workshop; Yarowsky
1995): the test pairs a first-round model is sure about join the training set with
their predicted label (0/1; the most probable class of a contest of 3+ classes). Scored by k-fold CV on the labelled rows only, it has to be
done fold by fold so that nothing round 2 learns about fold k comes from a model that
saw fold k's labels:

* the test predictions that make fold k's pseudo-labels are those of round 1's fold-k
  model (``Teacher.per_fold[k]``, :mod:`common.teacher`), never the fold mean;
* the confidence threshold is chosen on the OOF rows of the *other* folds
  (:func:`confidence_threshold`): the smallest confidence t such that those rows with
  ``max(p, 1 - p) >= t`` have accuracy ``>= min_accuracy`` at the 0.5 decision (with (N, C) class
  probabilities: ``max_c p_c >= t``, accurate at the argmax);
* round 2 uses round 1's folds exactly (the k-fold command asserts ids and folds equal).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from common.teacher import Teacher

logger = logging.getLogger("common.pseudo_labels")

DECISION = 0.5  # a pseudo-label is 1 when P(label 1) >= DECISION


@dataclass
class PseudoLabelConfig:
    """Options of the k-fold command's second round."""

    pseudo_from: str = ""  # a finished k-fold or ensemble run: fold k adds the test rows its fold-k model is sure of
    pseudo_min_accuracy: float = 0.95  # the threshold keeps OOF rows (other folds) at least this accurate
    pseudo_min_oof_rows: int = 50  # ... and at least this many of them clear it, or no test row is pseudo-labelled


def confidence(probs: np.ndarray) -> np.ndarray:
    """(N,) ``max(p, 1 - p)`` of (N,) probabilities of label 1; ``max_c p_c`` of (N, C) class probabilities."""
    probs = np.asarray(probs, dtype=np.float64)
    return probs.max(axis=1) if probs.ndim == 2 else np.maximum(probs, 1.0 - probs)


def decided(probs: np.ndarray) -> np.ndarray:
    """(N,) int64 pseudo-labels: ``p >= 0.5`` of (N,) P(label 1); the argmax class of (N, C) probabilities."""
    probs = np.asarray(probs, dtype=np.float64)
    return probs.argmax(axis=1) if probs.ndim == 2 else (probs >= DECISION).astype(np.int64)


def confidence_threshold(probs: np.ndarray, labels: np.ndarray, min_accuracy: float, min_rows: int = 1) -> float:
    """The smallest confidence t such that the rows with ``confidence >= t`` are at least ``min_accuracy`` accurate.

    Rows are predicted ``probs >= 0.5`` (:func:`decided`; the argmax of (N, C) probabilities). Candidates are the rows' own confidences (ties
    enter together); the accuracy of the rows above a candidate need not be monotone in
    it, so every candidate is checked and the smallest that qualifies is returned.

    Args:
        probs: (N,) P(label 1) of labelled rows (OOF predictions), or (N, C) class probabilities.
        labels: (N,) their 0/1 labels (class indices).
        min_accuracy: in (0, 1].
        min_rows: the fewest rows at or above t that may vouch for it. The smallest qualifying t has the most
            rows above it, so with fewer than ``min_rows`` there no t qualifies: an accuracy measured on a handful
            of rows says little (all of 50 rows right still allows a true accuracy near 0.94 at 95%, by the
            rule of three).

    Returns:
        t, or ``math.inf`` when no candidate qualifies (no row will be pseudo-labelled).

    Raises:
        ValueError: ``min_accuracy`` outside (0, 1], ``min_rows`` below 1, or probs and labels of other lengths.
    """
    if not 0 < min_accuracy <= 1:
        raise ValueError(f"--pseudo-min-accuracy must be in (0, 1], got {min_accuracy}")
    if min_rows < 1:
        raise ValueError(f"--pseudo-min-oof-rows must be at least 1, got {min_rows}")
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels)
    if len(probs) != len(labels):
        raise ValueError(f"{len(probs)} probabilities for {len(labels)} labels")
    conf = confidence(probs)
    correct = decided(probs) == labels
    order = np.argsort(-conf, kind="stable")  # most confident first
    c = conf[order]
    ends = np.flatnonzero(np.r_[c[1:] != c[:-1], True])  # last position of each run of equal confidences
    accuracy = np.cumsum(correct[order])[ends] / (ends + 1)  # (candidates,) accuracy of the rows >= c[end]
    ok = np.flatnonzero(accuracy >= min_accuracy)
    if not ok.size:
        return math.inf
    if ends[ok[-1]] + 1 < min_rows:
        logger.warning("no pseudo-labels: %d OOF rows reach accuracy %.4f, fewer than --pseudo-min-oof-rows %d",
                       ends[ok[-1]] + 1, accuracy[ok[-1]], min_rows)
        return math.inf
    return float(c[ends[ok[-1]]])


@dataclass
class PseudoLabels:
    """Fold k's pseudo-labelled test rows.

    Attributes:
        fold: k.
        threshold: the confidence threshold (``inf``: none qualified).
        rows: (n,) indices into the test set, ascending.
        labels: (n,) their pseudo-labels (0/1, or class indices).
        num_classes: C of the labels (2 for 0/1).
        oof_rows / oof_accuracy: how many OOF rows of the other folds clear the threshold,
            and their accuracy (what the threshold promises).
    """

    fold: int
    threshold: float
    rows: np.ndarray
    labels: np.ndarray
    oof_rows: int
    oof_accuracy: float
    num_classes: int = 2

    def metrics(self) -> dict:
        """JSON-ready summary for ``fold_metrics.json`` / ``cv_metrics.json`` (threshold None when inf): with 0/1
        labels ``pseudo_positive``, the rows labelled 1; with 3+ classes ``pseudo_per_class``, the rows of each."""
        counts = ({"pseudo_positive": int(self.labels.sum())} if self.num_classes == 2 else
                  {"pseudo_per_class": np.bincount(self.labels, minlength=self.num_classes).tolist()})
        return {"pseudo_rows": int(len(self.rows)), **counts,
                "pseudo_threshold": None if math.isinf(self.threshold) else round(self.threshold, 6),
                "pseudo_oof_rows": self.oof_rows,
                "pseudo_oof_accuracy": None if math.isnan(self.oof_accuracy) else round(self.oof_accuracy, 6)}


def fold_pseudo_labels(teacher: Teacher, k: int, min_accuracy: float, min_rows: int = 1) -> PseudoLabels:
    """Fold k's pseudo-labels: the threshold from the other folds' OOF rows, applied to the fold-k model's test predictions.

    Args:
        teacher: round 1 (:func:`common.teacher.load_teacher`).
        k: the fold round 2 trains now.
        min_accuracy, min_rows: see :func:`confidence_threshold`.

    Raises:
        ValueError: ``min_accuracy`` outside (0, 1], ``min_rows`` below 1, or a fold the teacher does not have.
    """
    if not 0 <= k < len(teacher.per_fold):
        raise ValueError(f"fold {k}: {teacher.run_dir} has {len(teacher.per_fold)} folds")
    other = teacher.fold != k
    threshold = confidence_threshold(teacher.oof[other], teacher.labels[other], min_accuracy, min_rows)
    above = confidence(teacher.oof[other]) >= threshold
    oof_accuracy = float(np.mean(decided(teacher.oof[other][above]) == teacher.labels[other][above])) \
        if above.any() else float("nan")
    probs = teacher.per_fold[k]  # (M,) or (M, C): fold k's model, which never saw fold k's rows
    rows = np.flatnonzero(confidence(probs) >= threshold)
    num_classes = probs.shape[1] if probs.ndim == 2 else 2
    result = PseudoLabels(k, threshold, rows, decided(probs[rows]), int(above.sum()), oof_accuracy, num_classes)
    per_class = np.bincount(result.labels, minlength=num_classes)
    logger.info("fold %d: %d pseudo-labelled test rows (%s per class) at confidence >= %.4f (other folds' OOF: %d "
                "rows, accuracy %.4f)", k, len(rows), per_class.tolist(), threshold, result.oof_rows, oof_accuracy)
    check_class_mix(k, per_class, np.bincount(teacher.labels.astype(int), minlength=num_classes))
    return result


# total variation distance between the pseudo-labels' class shares and the labelled rows' above which fold k's are
# reported (a 2-class contest of 30% positives whose pseudo-labels are 60%+ positive)
CLASS_MIX_WARNING = 0.3


def check_class_mix(k: int, pseudo: np.ndarray, labelled: np.ndarray, min_rows: int = 20) -> float:
    """Warn when fold ``k``'s pseudo-labels (``pseudo``: (C,) counts) split into classes far unlike the labelled
    rows (``labelled``: (C,) counts): total variation distance above :data:`CLASS_MIX_WARNING`, with ``min_rows``
    pseudo-labels or more. Returns the distance (0 with fewer rows).

    The threshold is set on the other folds' OOF, but fold k's model labels the test rows: a model calibrated unlike
    them (a short or unstable training) passes it with labels of one class (a probe: 99% positive pseudo-labels in a
    contest of 33% positives). Nothing is changed; the warning names the shares.
    """
    if pseudo.sum() < min_rows or labelled.sum() == 0:
        return 0.0
    share, prior = pseudo / pseudo.sum(), labelled / labelled.sum()
    distance = float(0.5 * np.abs(share - prior).sum())
    if distance > CLASS_MIX_WARNING:
        logger.warning("fold %d: its %d pseudo-labels are %s of each class, the labelled rows %s: fold %d's model "
                       "may be calibrated unlike the other folds' models, whose OOF set the threshold; check "
                       "pseudo_per_class in cv_metrics.json (a higher --pseudo-min-accuracy takes fewer rows)", k,
                       int(pseudo.sum()), [round(float(x), 2) for x in share], [round(float(x), 2) for x in prior], k)
    return distance
