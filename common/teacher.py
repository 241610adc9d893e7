"""A finished k-fold or ensemble run read as a teacher: what pseudo-labelling and distillation learn from.

A k-fold run (:mod:`common.cv`) leaves ``oof.npz`` (ids, labels, fold, oof) and
``test_predictions.npz`` (test_ids, test = the fold mean, per_fold): every pool row
predicted by the one fold model that did not train on it, and the test rows by every
fold model. An ensemble run (:mod:`common.commands.ensemble`) leaves the same two files
and ``ensemble.json``.

What makes a teacher usable for a second round scored on the same folds is which
model saw which rows. Fold k's model never saw fold k's rows, so its test predictions
(``per_fold[k]``) may feed the round-2 model of fold k; the fold mean may not (the other
fold models trained on fold k's labels). The ensemble command writes its ``per_fold[k]``
the same way (fold k's combiner on its members' fold-k slices) and says so in
``ensemble.json`` (``per_fold_leak_free``); :func:`load_teacher` refuses an ensemble
that does not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.cv import assert_same_ids
from common.ensemble import OOF_FILE, TEST_FILE, Member, load_member

ENSEMBLE_FILE = "ensemble.json"


@dataclass
class Teacher(Member):
    """A finished k-fold (or ensemble) run's predictions, P(label 1) throughout (class probabilities, a last axis
    of C, for a contest of 3+ classes).

    The fields of :class:`common.ensemble.Member`: ``run_dir``; ``ids``, ``labels``,
    ``fold`` (N,) pool ids (str), 0/1 labels (class indices), fold numbers 0..K-1; ``oof`` (N,) ((N, C))
    out-of-fold probabilities (row i by a model that did not see row i); ``test_ids``
    (M,); ``test`` (M,) the fold mean (an ensemble: its combiner refitted on all OOF
    rows); ``per_fold`` (K, M), row k from models that never saw fold k's rows.
    """

    def check_pool(self, ids: np.ndarray, fold: np.ndarray | None = None, what: str = "",
                   labels: np.ndarray | None = None) -> None:
        """Refuse a pool (and folds) other than the teacher's.

        Args:
            ids: (N,) the pool ids in the task's order.
            fold: (N,) the fold of every row in the run that learns from the teacher, or None.
            what: names the run that learns, for the message.
            labels: (N,) the pool's labels, checked against the teacher's (:meth:`check_labels`).

        Raises:
            ValueError: other ids (order included), labels or folds (one line).
        """
        assert_same_ids(self.ids, np.asarray(ids, dtype=str), f"{self.run_dir}/{OOF_FILE} against {what or 'the pool'}")
        if labels is not None:
            self.check_labels(np.arange(len(self.ids)), labels)
        if fold is not None and not np.array_equal(self.fold, np.asarray(fold)):
            raise ValueError(f"{what or 'this run'}: folds differ from {self.run_dir}'s ({int(np.sum(self.fold != fold))} "
                             "rows in another fold); use the teacher's --folds, --fold-seed and --group-by-text")

    def check_test(self, test_ids: np.ndarray, digest: str | None = None) -> None:
        """Raises ValueError unless ``test_ids`` are the teacher's test ids, in order, and the test set's content
        ``digest`` (:meth:`common.task.Task.examples_digest`) is the one it predicted, where both are known."""
        assert_same_ids(self.test_ids, np.asarray(test_ids, dtype=str), f"{self.run_dir}/{TEST_FILE} against the test set")
        self.check_test_digest(digest, "the test set read now")

    def thresholds(self, task, pool: list) -> dict:
        """The decision state (Sohu: per-group thresholds; {} for AUC tasks) tuned on the teacher's OOF of ``pool``.

        Args:
            task: the :class:`common.task.Task` that scores ``pool``.
            pool: labelled examples the teacher predicted out of fold (any subset, any order).

        Raises:
            ValueError: examples outside the teacher's pool (:meth:`oof_of`).
        """
        return task.score(pool, self.oof_of(task.ids(pool)))[1]

    def oof_of(self, ids: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """(n,) OOF probabilities of the pool rows ``ids`` (any subset, any order).

        Args:
            labels: (n,) those rows' labels, checked against the teacher's (:meth:`check_labels`).

        Raises:
            ValueError: ids the teacher's pool does not hold (one line, with a count); other labels.
        """
        index = {i: n for n, i in enumerate(self.ids.tolist())}
        missing = [i for i in np.asarray(ids, dtype=str).tolist() if i not in index]
        if missing:
            raise ValueError(f"{len(missing)} training rows (e.g. {missing[0]!r}) have no OOF prediction in "
                             f"{self.run_dir}/{OOF_FILE}: the teacher's k-fold pool must hold them (same data, --limit)")
        rows = np.array([index[i] for i in np.asarray(ids, dtype=str).tolist()], dtype=int)
        if labels is not None:
            self.check_labels(rows, labels)
        return self.oof[rows]

    def check_labels(self, rows: np.ndarray, labels: np.ndarray) -> None:
        """Refuse data whose labels differ from the teacher's at its pool rows ``rows``: ids count rows by position
        (``train:0:k``), so a training file reordered or edited since keeps the ids and moves the labels, and each
        soft target (or pseudo-label fold) would land on another row.

        Raises:
            ValueError: one line with the count of differing rows.
        """
        differ = self.other_labels(labels, rows)
        if differ:
            raise ValueError(f"{self.run_dir}/{OOF_FILE}: {differ} of {len(labels)} rows have other labels in the data "
                             "than the teacher was scored on (a training file reordered or edited since, or the "
                             "label values in another order?); rebuild the teacher on this data")


def load_teacher(run_dir: str | Path, num_classes: int = 2) -> Teacher:
    """Read a finished k-fold or ensemble run (see the module docstring for ``per_fold``).

    Args:
        run_dir: the run folder.
        num_classes: C of the student's task (:meth:`common.task.Task.num_classes`): a teacher of 0/1 labels
            predicts (N,) P(label 1), one of C > 2 classes (N, C); another kind is refused.

    Raises:
        FileNotFoundError: ``oof.npz`` / ``test_predictions.npz`` missing.
        ValueError: predictions that are not (N,) probabilities, no per-fold test predictions,
            or an ensemble whose per-fold test predictions are not leak-free.
    """
    run_dir = Path(run_dir)
    member = load_member(run_dir)
    classes = member.oof.shape[1] if member.oof.ndim == 2 else 2
    if classes != num_classes:
        raise ValueError(f"{run_dir}: a teacher of {classes} classes for a run of {num_classes} (--label-values): "
                         "its probabilities are of other labels")
    teacher = Teacher(run_dir, member.ids, member.labels, member.fold.astype(np.int64), member.oof,
                      member.test_ids, member.test, member.per_fold, test_digest=member.test_digest)
    report = run_dir / ENSEMBLE_FILE
    if report.is_file() and not json.loads(report.read_text(encoding="utf-8")).get("per_fold_leak_free"):
        raise ValueError(f"{report}: its per-fold test predictions have seen the folds (a member without per-fold "
                         "test predictions, or an ensemble from before they were leak-free); rerun the ensemble command")
    K = len(np.unique(teacher.fold))
    if teacher.per_fold.shape[:2] != (K, len(teacher.test_ids)):
        raise ValueError(f"{run_dir}/{TEST_FILE}: per_fold of shape {teacher.per_fold.shape}, expected ({K}, "
                         f"{len(teacher.test_ids)}) for {K} folds (runs from before per-fold test predictions "
                         "were saved have none)")
    return teacher
