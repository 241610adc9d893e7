import numpy as np
from sklearn.metrics import f1_score

from competitions.sohu.metrics import best_threshold, sohu_scores


def test_best_threshold_matches_brute_force():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    probs = np.clip(labels * 0.3 + rng.random(200) * 0.7, 0, 1)
    threshold, f1 = best_threshold(labels, probs)
    brute = max(f1_score(labels, probs >= t) for t in np.unique(probs))
    assert abs(f1 - brute) < 1e-9
    assert abs(f1_score(labels, probs >= threshold) - f1) < 1e-9


def test_group_scores_pool_subtasks_and_average_groups():
    labels = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    probs = np.array([0.9, 0.2, 0.4, 0.8, 0.7, 0.1, 0.6, 0.3])
    tasks = np.array([0, 0, 2, 1, 1, 3, 3, 1])  # A: 0, 2; B: 1, 3
    metrics, used = sohu_scores(labels, probs, tasks, thresholds={"A": 0.5, "B": 0.5})
    a = tasks % 2 == 0
    assert metrics["f1_A"] == f1_score(labels[a], probs[a] >= 0.5)
    assert metrics["f1_B"] == f1_score(labels[~a], probs[~a] >= 0.5)
    assert metrics["score"] == (metrics["f1_A"] + metrics["f1_B"]) / 2
    tuned, thresholds = sohu_scores(labels, probs, tasks)
    assert tuned["score"] >= metrics["score"] and set(thresholds) == {"A", "B"}
