"""Fitting scikit-learn classifiers of P(label 1) to soft targets in [0, 1] (graded labels mapped to [0, 1]).

scikit-learn's classifiers take class labels only. A soft target y is fitted exactly by the
weighted-duplication reduction of :func:`fit_soft`, which rests on the cross-entropy of the
two-class distribution ``[1 - y, y]`` against a prediction ``p = P(label 1)`` being linear in y:

    CE([1 - y, y], p) = -y log p - (1 - y) log(1 - p) = y * CE(label 1, p) + (1 - y) * CE(label 0, p)

so a row of weight w and target y costs the same as two hard rows, one labelled 1 of weight
``y * w`` and one labelled 0 of weight ``(1 - y) * w``. A model fitted by minimising a weighted sum
of per-row log losses (a logistic regression, gradient boosting on the log loss) therefore
minimises the soft-target loss when fitted to the duplicated rows; its ``predict_proba[:, 1]``
is the predicted y. This is the soft-target cross-entropy that a neural pair model trains on
(sentence-transformers' CrossEncoder fits STS-B's score / 5 the same way).

Targets of C > 2 classes are (N, C) rows of class probabilities (one-hot for hard labels), and the
identity is the same sum over classes, ``CE(y, p) = sum_c y_c * CE(label c, p)``: a row becomes one
copy per class of weight ``y_c * w``. :func:`class_probabilities` reads a fitted model's (N, C)
probabilities of all C classes, also when a class was absent from its training rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp


def check_targets(targets: Any, n: int, where: str = "targets") -> np.ndarray:
    """(N,) float64 copy of ``targets``, checked to be N numbers in [0, 1] (a model of P(label 1) can fit them);
    or (N, C) rows of C > 2 class probabilities, each in [0, 1] and summing to 1.

    Raises:
        ValueError: one line, prefixed with ``where``: a shape other than (n,) or (n, C > 2), NaN, values outside
            [0, 1] (e.g. raw graded labels such as 4.5 passed where ``Task.targets`` belongs), or (N, C) rows that do
            not sum to 1.
    """
    y = np.asarray(targets, dtype=np.float64)
    if y.shape != (n,) and not (y.ndim == 2 and len(y) == n and y.shape[1] > 2):
        raise ValueError(f"{where}: targets of shape {y.shape} for {n} rows")
    known = y[~np.isnan(y)]
    if len(known) < y.size or (known < 0).any() or (known > 1).any():
        hint = ("; class indices of 3+ classes? Task.num_classes returns C and Task.targets gives (N, C) one-hot rows"
                if y.ndim == 1 and len(known) and (known > 1).any() and np.all(known == np.round(known)) else "")
        raise ValueError(f"{where}: targets must be in [0, 1] (Task.targets); got {y.size - len(known)} NaN"
                         + (f", min {known.min():g}, max {known.max():g}" if len(known) else "") + hint)
    if y.ndim == 2 and not np.allclose(y.sum(axis=1), 1.0):
        raise ValueError(f"{where}: (N, C) targets must be class probabilities summing to 1 per row")
    return y


def class_probabilities(model: Any, X: Any, num_classes: int) -> np.ndarray:
    """(R, C) every class's probability from a fitted classifier of C classes: ``predict_proba``'s columns placed at
    its ``classes_`` (0..C-1), 0 for a class its training rows never held."""
    out = np.zeros((X.shape[0], num_classes))
    out[:, np.asarray(model.classes_, dtype=int)] = model.predict_proba(X)
    return out


def fit_soft(model: Any, X: Any, targets: Any, sample_weight: Any = None) -> Any:
    """Fit a scikit-learn classifier of P(label 1) to (N,) targets in [0, 1]; returns the fitted ``model``.

    When every target is exactly 0 or 1 this is ``model.fit(X, targets.astype(int))`` (with
    ``sample_weight`` when given), so 0/1 labels give exactly the plain fit. Otherwise each row
    i is fitted twice (the cross-entropy identity of this module's docstring): labelled 1 with
    weight ``y_i * w_i`` and labelled 0 with weight ``(1 - y_i) * w_i`` (w: ``sample_weight``,
    default 1); a copy of weight 0 (a target of exactly 0 or 1) is dropped. For a
    ``LogisticRegression`` the fit then minimises ``sum_i w_i * CE([1 - y_i, y_i], p_i)`` plus its
    penalty exactly. For a ``HistGradientBoostingClassifier`` each copy pair adds the soft loss's
    gradient ``p - y`` and hessian ``p (1 - p)`` (times w), so the baseline, split gains and leaf
    values are the soft loss's; only rules that count rows rather than weights
    (``min_samples_leaf``, the binning's quantiles) see the copies.

    (N, C) targets of C > 2 classes: one-hot rows are the plain fit on their classes; otherwise row i is fitted
    once per class c with weight ``y_ic * w_i`` (copies of weight 0 dropped), and
    :func:`class_probabilities` reads the (N, C) prediction.

    Args:
        model: an unfitted scikit-learn classifier with ``fit(X, y, sample_weight=...)`` and
            ``predict_proba``; after fitting ``classes_`` is ``[0, 1]`` (both present in the targets).
        X: (N, F) dense numpy array or scipy sparse matrix.
        targets: (N,) floats in [0, 1] (or 0/1 labels of any numeric type); or (N, C) class probabilities.
        sample_weight: optional (N,) non-negative row weights.

    Returns:
        ``model``, fitted; ``model.predict_proba(X)[:, 1]`` is the predicted target.

    Raises:
        ValueError: targets not (N,), NaN or outside [0, 1]; sample weights not (N,), NaN or negative;
            a model with ``class_weight`` set given targets other than 0/1 (class weights count labels).
    """
    n = X.shape[0]
    y = check_targets(targets, n, "fit_soft")
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.shape != (n,) or np.isnan(w).any() or (w < 0).any():
            raise ValueError(f"fit_soft: sample_weight must be (N,) = ({n},) non-negative numbers, got shape {w.shape}")
    if y.ndim == 1:  # P(label 1): the 2-class probabilities [1 - y, y]
        y = np.stack([1 - y, y], axis=1)
    if ((y == 0) | (y == 1)).all():  # hard labels (one-hot rows): the plain fit, bit for bit
        labels = y.argmax(axis=1)
        return model.fit(X, labels) if sample_weight is None else model.fit(X, labels, sample_weight=sample_weight)
    if getattr(model, "class_weight", None) is not None:
        raise ValueError(f"fit_soft: class_weight={model.class_weight!r} needs 0/1 labels (one-hot rows); the "
                         "targets are soft (values strictly between 0 and 1)")
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    weights = y * w[:, None]  # (N, C) weight of row i's copy labelled c
    # the copies class by class, the last class first (for 0/1 targets: every label-1 copy, then every label-0 one)
    per_class = [(np.flatnonzero(weights[:, c] > 0), c) for c in reversed(range(y.shape[1]))]
    rows = np.concatenate([r for r, _ in per_class])  # (R,) source row of each copy, R <= C N
    classes = np.concatenate([np.full(len(r), c) for r, c in per_class])  # (R,)
    X2 = X.tocsr()[rows] if sp.issparse(X) else np.asarray(X)[rows]  # (R, F)
    return model.fit(X2, classes, sample_weight=weights[rows, classes])
