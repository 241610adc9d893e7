"""Decision thresholds tuned on validation probabilities (common.thresholds), against brute force."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from common.thresholds import accuracy_threshold


def _brute(labels, probs):
    """Every cut the rule allows: each probability itself (``p >= p_i``) and "all 0"; the best accuracy."""
    return max([accuracy_score(labels, probs >= t) for t in np.unique(probs)] + [float(np.mean(labels == 0))])


@pytest.mark.parametrize("seed", range(5))
def test_accuracy_threshold_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    labels = (rng.random(300) < 0.3).astype(int)
    probs = np.round(np.clip(0.15 + 0.2 * labels + rng.normal(0, 0.15, 300), 0, 1), 3)  # ties, timid, uncalibrated
    threshold, accuracy = accuracy_threshold(labels, probs)
    assert accuracy == pytest.approx(_brute(labels, probs), abs=1e-12)
    assert accuracy_score(labels, probs >= threshold) == pytest.approx(accuracy, abs=1e-12)


def test_ties_keep_the_cut_nearest_one_half_and_all_zero_lies_above_every_probability():
    # separable at any cut in (0.4, 0.6): the nearest 0.5 among the midpoints is 0.5 itself
    assert accuracy_threshold(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.6, 0.9])) == (0.5, 1.0)
    # a model that never ranks a positive above the negatives: "all 0" is best, above the highest probability
    labels, probs = np.array([0, 0, 0, 1]), np.array([0.2, 0.3, 0.7, 0.1])
    threshold, accuracy = accuracy_threshold(labels, probs)
    assert accuracy == 0.75 and threshold > 0.7 and not (probs >= threshold).any()
    with pytest.raises(ValueError, match="0 labels for 0 probabilities"):
        accuracy_threshold(np.array([]), np.array([]))


def test_afqmc_tunes_its_threshold_on_the_rows_it_scores_and_keeps_a_given_one():
    """AFQMC decides with the accuracy-tuned threshold of the rows it is scored on (validation, OOF); given a
    state (tuned beforehand, e.g. on OOF), it scores held rows with that one."""
    from competitions.afqmc.data import Pair
    from competitions.afqmc.task import TASK

    rng = np.random.default_rng(7)
    labels = (rng.random(200) < 0.3).astype(int)
    probs = np.clip(0.3 + 0.25 * labels + rng.normal(0, 0.1, 200), 0, 1)  # ranks well, every p under 0.9
    rows = [Pair(id=str(i), a="x", b="y", label=int(y)) for i, y in enumerate(labels)]
    metrics, state = TASK.score(rows, probs)
    threshold, accuracy = accuracy_threshold(labels, probs)
    assert state == {"threshold": threshold} and metrics["accuracy"] == accuracy
    assert metrics["accuracy"] > accuracy_score(labels, probs >= 0.5)  # 0.5 is not this model's best cut
    held, _ = TASK.score(rows, probs, {"threshold": 0.5})
    assert held["accuracy"] == accuracy_score(labels, probs >= 0.5) and held["auc"] == metrics["auc"]
