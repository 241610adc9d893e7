"""A finished k-fold or ensemble run read as a teacher: what pseudo-labelling and distillation learn from.

A k-fold run (:mod:`common.cv`) leaves ``oof.npz`` (ids, labels, fold, oof) and
``test_predictions.npz`` (test_ids, test = the fold mean, per_fold): every pool row
predicted by the one fold model that did not train on it, and the test rows by every
fold model. An ensemble run (:mod:`common.commands.ensemble`) leaves the same two files
and ``ensemble.json``.

What makes a teacher usable for a second round scored on the same folds is which
model saw which rows. Fold k's model never saw fold k's rows, so its test predictions
(``per_fold[k]``) may feed the round-2 model of fold k; the fold mean may not (the other
fold models trained on fold k's labels). An ensemble's own ``per_fold[k]`` is its
fold-k combiner applied to its members' fold *means*, so for an ensemble
:func:`load_teacher` rebuilds ``per_fold[k]`` from the members' own fold-k slices
(recursively, for an ensemble of ensembles) with the fold-k combiner: Caruana's
fold-k weights as ``ensemble.json`` saved them (rounded to 4 decimals, renormalised),
or the logistic stack refitted on the other folds' OOF rows exactly as the ensemble
command fitted it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from common.cv import assert_same_ids
from common.ensemble import OOF_FILE, TEST_FILE, Member, apply_stack, fit_stack, load_member

ENSEMBLE_FILE = "ensemble.json"


@dataclass
class Teacher(Member):
    """A finished k-fold (or ensemble) run's predictions, P(label 1) throughout.

    The fields of :class:`common.ensemble.Member`: ``run_dir``; ``ids``, ``labels``,
    ``fold`` (N,) pool ids (str), 0/1 labels, fold numbers 0..K-1; ``oof`` (N,)
    out-of-fold probabilities (row i by a model that did not see row i); ``test_ids``
    (M,); ``test`` (M,) the fold mean (an ensemble: its combiner refitted on all OOF
    rows); ``per_fold`` (K, M), row k from models that never saw fold k's rows.
    """

    def check_pool(self, ids: np.ndarray, fold: np.ndarray | None = None, what: str = "") -> None:
        """Refuse a pool (and folds) other than the teacher's.

        Args:
            ids: (N,) the pool ids in the task's order.
            fold: (N,) the fold of every row in the run that learns from the teacher, or None.
            what: names the run that learns, for the message.

        Raises:
            ValueError: other ids (order included), or other folds (one line).
        """
        assert_same_ids(self.ids, np.asarray(ids, dtype=str), f"{self.run_dir}/{OOF_FILE} against {what or 'the pool'}")
        if fold is not None and not np.array_equal(self.fold, np.asarray(fold)):
            raise ValueError(f"{what or 'this run'}: folds differ from {self.run_dir}'s ({int(np.sum(self.fold != fold))} "
                             "rows in another fold); use the teacher's --folds, --fold-seed and --group-by-text")

    def check_test(self, test_ids: np.ndarray) -> None:
        """Raises ValueError unless ``test_ids`` are the teacher's test ids, in order."""
        assert_same_ids(self.test_ids, np.asarray(test_ids, dtype=str), f"{self.run_dir}/{TEST_FILE} against the test set")

    def oof_of(self, ids: np.ndarray) -> np.ndarray:
        """(n,) OOF probabilities of the pool rows ``ids`` (any subset, any order).

        Raises:
            ValueError: ids the teacher's pool does not hold (one line, with a count).
        """
        index = {i: n for n, i in enumerate(self.ids.tolist())}
        missing = [i for i in np.asarray(ids, dtype=str).tolist() if i not in index]
        if missing:
            raise ValueError(f"{len(missing)} training rows (e.g. {missing[0]!r}) have no OOF prediction in "
                             f"{self.run_dir}/{OOF_FILE}: the teacher's k-fold pool must hold them (same data, --limit)")
        return self.oof[[index[i] for i in np.asarray(ids, dtype=str).tolist()]]


def load_teacher(run_dir: str | Path, groups: Mapping[str, int] | None = None) -> Teacher:
    """Read a finished k-fold or ensemble run (see the module docstring for ``per_fold``).

    Args:
        run_dir: the run folder.
        groups: id -> group of every pool and test row, needed only to refit an ensemble's
            per-group stack (Sohu's subtask; :func:`task_groups`).

    Raises:
        FileNotFoundError: ``oof.npz`` / ``test_predictions.npz`` (or an ensemble member's) missing.
        ValueError: predictions that are not (N,) probabilities, no per-fold test predictions,
            or an ensemble whose members disagree with it on ids or folds.
    """
    run_dir = Path(run_dir)
    member = load_member(run_dir)
    teacher = Teacher(run_dir, member.ids, member.labels, member.fold.astype(np.int64), member.oof,
                      member.test_ids, member.test, member.per_fold)
    if (run_dir / ENSEMBLE_FILE).is_file():
        teacher.per_fold = _ensemble_per_fold(teacher, json.loads((run_dir / ENSEMBLE_FILE).read_text(encoding="utf-8")),
                                              groups)
    K = len(np.unique(teacher.fold))
    if teacher.per_fold.shape != (K, len(teacher.test_ids)):
        raise ValueError(f"{run_dir}/{TEST_FILE}: per_fold of shape {teacher.per_fold.shape}, expected ({K}, "
                         f"{len(teacher.test_ids)}) for {K} folds (runs from before per-fold test predictions "
                         "were saved have none)")
    return teacher


def _ensemble_per_fold(ensemble: Teacher, report: dict, groups: Mapping[str, int] | None) -> np.ndarray:
    """(K, M): fold k's combiner applied to the members' fold-k test predictions."""
    members = [load_teacher(m["run_dir"], groups) for m in report["members"]]
    names = [m["name"] for m in report["members"]]
    for m in members:
        m.check_pool(ensemble.ids, ensemble.fold, f"the ensemble {ensemble.run_dir}")
        m.check_test(ensemble.test_ids)
    K = len(np.unique(ensemble.fold))
    per_fold = np.zeros((K, len(ensemble.test_ids)))
    P = np.stack([m.oof for m in members])  # (members, N)
    for k in range(K):
        T = np.stack([m.per_fold[k] for m in members])  # (members, M): models that never saw fold k
        if report["method"] == "caruana":
            w = np.array([report["caruana"]["fold_weights"][str(k)][n] for n in names])  # saved rounded
            per_fold[k] = (w / w.sum()) @ T
        else:  # the stack, refitted on the other folds exactly as the ensemble command did
            train = np.flatnonzero(ensemble.fold != k)
            g = tg = None
            if report["stack"].get("per_group"):
                g, tg = _groups_of(groups, ensemble.ids, ensemble.run_dir), _groups_of(groups, ensemble.test_ids,
                                                                                     ensemble.run_dir)
                g = g[train]
            stack = fit_stack(P[:, train], ensemble.labels[train], g, report.get("args", {}).get("stack_C", 1.0))
            per_fold[k] = apply_stack(stack, T, tg)
    return per_fold


def _groups_of(groups: Mapping[str, int] | None, ids: np.ndarray, run_dir: Path) -> np.ndarray:
    if groups is None or any(i not in groups for i in ids.tolist()):
        raise ValueError(f"{run_dir}: a per-group stack; refitting it needs the group of every row it saw")
    return np.array([groups[i] for i in ids.tolist()])


def task_groups(task: Any, examples: Sequence) -> dict[str, int] | None:
    """id -> condition of ``examples`` for a conditioned pair task (Sohu's subtask), else None."""
    if not getattr(task, "num_conditions", 0):
        return None
    return dict(zip(task.ids(examples), task.conditions(examples)))
