"""Sohu metric: F1 of the positive class per group (A, B); the score is their mean.

A group's F1 pools all its subtasks (short-short, short-long, long-long), as the
competition did. Decision thresholds are tuned per group on the validation split.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score

from common.thresholds import best_threshold
from competitions.sohu.data import SUBTASKS


def group_of(task_ids: np.ndarray) -> np.ndarray:
    """(N,) subtask ids -> (N,) group letters."""
    groups = np.array([t.group for t in SUBTASKS])
    return groups[task_ids]


def sohu_scores(labels: np.ndarray, probs: np.ndarray, task_ids: np.ndarray,
                thresholds: dict[str, float] | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """F1 per subtask and group, and the score (mean over the groups present).

    Args:
        labels, probs, task_ids: (N,) arrays.
        thresholds: group -> threshold; None tunes them on these labels.

    Returns:
        (metrics, thresholds). metrics holds ``f1_<group>``, ``f1_<group>@0.5``,
        ``f1_<prefix>_<group>`` per present subtask, ``score`` (tuned thresholds) and
        ``score@0.5``.
    """
    groups = group_of(task_ids)
    metrics: dict[str, float] = {}
    used: dict[str, float] = {}
    for g in sorted(set(groups)):
        sel = groups == g
        if thresholds is None or g not in thresholds:
            used[g], _ = best_threshold(labels[sel], probs[sel])
        else:
            used[g] = thresholds[g]
        metrics[f"f1_{g}"] = f1_score(labels[sel], probs[sel] >= used[g], zero_division=0)
        metrics[f"f1_{g}@0.5"] = f1_score(labels[sel], probs[sel] >= 0.5, zero_division=0)
    for task in SUBTASKS:
        sel = task_ids == task.index
        if sel.any():
            metrics[f"f1_{task.prefix}_{task.group}"] = f1_score(
                labels[sel], probs[sel] >= used[task.group], zero_division=0)
    present = sorted(set(groups))
    metrics["score"] = float(np.mean([metrics[f"f1_{g}"] for g in present]))
    metrics["score@0.5"] = float(np.mean([metrics[f"f1_{g}@0.5"] for g in present]))
    return {k: float(v) for k, v in metrics.items()}, used
