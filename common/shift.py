"""Adversarial validation: can a classifier tell a task's training pairs from its test pairs?

The Kaggle check before trusting a validation score (Zygmunt Zając, "Adversarial validation",
FastML, 2016; fastml.com/adversarial-validation-part-one): label every labelled pair 0 and every test
pair 1, fit a classifier on what the texts hold, and score it out of fold with ROC AUC. An AUC
near 0.5 says the test pairs look like the training pairs, so a k-fold or validation score
should carry over; an AUC near 1 says they differ, and which n-grams tell them apart (the
classifier's largest weights) says how. Each labelled pair's out-of-fold P(test) ranks how
test-like it is, for a validation set that resembles the test set.

Features: TF-IDF of each side's character n-grams (ids, for desensitized id texts), the two sides
summed, and the log length of each side; a logistic regression (scikit-learn). Folds are stratified
and grouped by text (:func:`common.cv.text_groups` over both files), so a text in both files cannot
be learnt in one fold and recognised in another. Also reported: the share of test pairs with a text
that is also a training text, and the mean side lengths.

Reading it (measured on eight contests, competitions/pair/RESULTS.md): an AUC clearly above 0.5 is a
shift (LCQMC's test file: shorter texts, other punctuation, AUC 0.78, and models that led out of fold
fell below TF-IDF on it). An AUC clearly *below* 0.5 is not: it arises when files were split by
question cluster, so a held-out text group's paraphrases sit in the other file and teach the
classifier the wrong side (BQ Corpus: 0.38, and its models carried over). Without the grouping
(``group_by_text=False``) such files score high instead (BQ: 0.88), since each exact text is in one
file only; ``test_pairs_sharing_a_train_text`` shows that case directly.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from common.cv import make_folds, text_groups
from common.tfidf_reference import PairFeatures

logger = logging.getLogger(__name__)
FEW_PAIRS = 100  # a side with fewer pairs gets a warning: its AUC rests on a few rows


@dataclass
class ShiftConfig:
    """Options of adversarial validation (``common.commands.shift``)."""

    shift_ngram_max: int = 2  # character (or id) n-grams 1..this
    shift_folds: int = 5  # out-of-fold AUC over this many text-grouped folds
    shift_C: float = 1.0  # inverse L2 strength of the logistic regression
    shift_rounds: int = 1000  # bootstrap resamples of the AUC's 95% interval
    shift_top: int = 15  # n-grams listed for each side
    # folds keep pairs sharing a text together (false: plain stratified folds, where a text in both files is learnt)
    shift_group_by_text: bool = True


def pairs_digest(pairs: Sequence[tuple]) -> str:
    """First 16 hex digits of the SHA-256 of (N,) ``(text_a, text_b)`` in order: which pairs a shift run scored."""
    digest = hashlib.sha256()
    for a, b in pairs:
        digest.update(f"{a!r}\t{b!r}\n".encode("utf-8"))
    return digest.hexdigest()[:16]


def _each_fold_holds_both(fold: np.ndarray, y: np.ndarray, folds: int) -> bool:
    """Whether every fold k of ``fold`` (N,) holds rows of both sides of ``y`` (N,) 0/1."""
    return all(0 < y[fold == k].sum() < (fold == k).sum() for k in range(folds))


def adversarial_validation(train: Sequence[tuple], test: Sequence[tuple], ngram_max: int = 2, folds: int = 5,
                           C: float = 1.0, seed: int = 0, rounds: int = 1000, top: int = 15,
                           group_by_text: bool = True) -> dict:
    """Out-of-fold ROC AUC of a classifier of "test pair" against "training pair", with what separates them.

    Args:
        train: (N,) ``(text_a, text_b)`` of the labelled pairs (strings, or tuples of ids).
        test: (M,) the test pairs, the same kind.
        ngram_max: n-grams 1..ngram_max of characters (strings) or ids (tuples).
        folds: k of the stratified folds, text-grouped with ``group_by_text`` (fewer text groups than k:
            ungrouped; ``grouped`` in the result says which).
        C: the logistic regression's inverse L2 strength.
        seed: of the folds and the bootstrap.
        rounds: bootstrap resamples of the rows for the AUC's 95% percentile interval.
        top: n-grams listed per side.

    Returns:
        ``{"auc", "warning" (a side of fewer than :data:`FEW_PAIRS` pairs, else empty), "low", "high",
        "train_pairs", "test_pairs", "grouped", "test_pairs_sharing_a_train_text",
        "mean_length": {"train": [a, b], "test": [a, b]}, "test_like": [(n-gram, weight)],
        "train_like": [...], "length_weights": [a, b], "oof": (N + M,) P(test) of each pair, out of fold,
        "fold": (N + M,)}`` (the arrays for the caller to save; lengths in characters or ids).

    Raises:
        ValueError: an empty side, ``folds`` < 2, or more folds than a side's pairs (naming ``--shift-folds``).
    """
    if not len(train) or not len(test):
        raise ValueError(f"adversarial validation needs training and test pairs, got {len(train)} and {len(test)}")
    if min(len(train), len(test)) < folds:  # probe AO: 1 test pair stopped in the solver, 3 left folds without one
        side = "test" if len(test) < folds else "training"
        raise ValueError(f"adversarial validation of {len(train)} training and {len(test)} test pairs: {folds} folds "
                         f"need at least {folds} {side} pairs, one in each (here: --shift-folds; 2 at the least)")
    pairs = list(train) + list(test)
    y = np.r_[np.zeros(len(train), dtype=int), np.ones(len(test), dtype=int)]
    first, second = [p[0] for p in pairs], [p[1] for p in pairs]
    kind = "char" if all(isinstance(t, str) for t in first + second) else "ids"
    features = PairFeatures(kind, ngram_max, with_sum=False).fit(first + second)  # the TF-IDF references' vectorizer
    lengths = np.array([[len(p[0]), len(p[1])] for p in pairs], dtype=float)  # (N + M, 2)
    log_lengths = np.log1p(lengths)
    scaled = (log_lengths - log_lengths.mean(axis=0)) / np.maximum(log_lengths.std(axis=0), 1e-12)
    X = sp.hstack([features.tfidf(first) + features.tfidf(second), sp.csr_matrix(scaled)]).tocsr()
    groups = text_groups(pairs)
    grouped = group_by_text and len(np.unique(groups)) >= folds
    try:
        fold = make_folds(y.tolist(), folds, seed, groups if grouped else None)
        if grouped and not _each_fold_holds_both(fold, y, folds):  # probe AP: test pairs of a few shared texts left
            logger.warning("adversarial validation: the %d test pairs share their texts in too few groups to put "  # a
                           "test pair in each of %d text-grouped folds; the folds are drawn by pair", len(test),  # fold
                           folds)  # without one, and scikit-learn's solver stopped
            grouped = False
            fold = make_folds(y.tolist(), folds, seed)
    except ValueError as err:
        raise ValueError(f"adversarial validation of {len(train)} training and {len(test)} test pairs: {err} "
                         "(here: --shift-folds)") from None
    oof = np.zeros(len(pairs))
    for k in range(folds):
        held = fold == k
        model = LogisticRegression(C=C, max_iter=2000).fit(X[~held], y[~held])
        oof[held] = model.predict_proba(X[held])[:, 1]
    auc = float(roc_auc_score(y, oof))
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(rounds):
        rows = rng.integers(0, len(y), len(y))
        if 0 < y[rows].sum() < len(rows):
            draws.append(roc_auc_score(y[rows], oof[rows]))
    full = LogisticRegression(C=C, max_iter=2000).fit(X, y)
    weights = full.coef_[0]
    names = features.vectorizer.get_feature_names_out()
    order = np.argsort(weights[:len(names)])
    train_texts = {t for p in train for t in p}
    sharing = float(np.mean([p[0] in train_texts or p[1] in train_texts for p in test]))
    low, high = float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))
    small = min(len(train), len(test))
    warning = (f"only {small} {'test' if len(test) == small else 'training'} pairs: the AUC is a noisy reading; its "
               f"interval [{low:.3f}, {high:.3f}] says how noisy" if small < FEW_PAIRS else "")
    if warning:
        logger.warning("adversarial validation: %s", warning)
    return {"auc": auc, "warning": warning, "low": low, "high": high,
            "train_pairs": len(train), "test_pairs": len(test), "grouped": bool(grouped),
            "test_pairs_sharing_a_train_text": sharing,
            "mean_length": {"train": lengths[y == 0].mean(axis=0).round(1).tolist(),
                            "test": lengths[y == 1].mean(axis=0).round(1).tolist()},
            "test_like": [(str(names[i]), round(float(weights[i]), 3)) for i in order[::-1][:top] if weights[i] > 0],
            "train_like": [(str(names[i]), round(float(weights[i]), 3)) for i in order[:top] if weights[i] < 0],
            "length_weights": [round(float(w), 3) for w in weights[len(names):]],
            "oof": oof, "fold": fold}
