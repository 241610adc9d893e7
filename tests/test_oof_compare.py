"""bench.oof_compare's paired bootstrap: against the normal approximation of a mean's difference, and its edge cases."""

import numpy as np
import pytest

from bench.oof_compare import paired_bootstrap
from tests.conftest import DATA, SHARED_VOCAB

AFQMC = DATA / "xiaobu" / "pairs" / "csts_afqmc"


def _accuracy(labels):
    return lambda rows, probs: float(((probs[rows] >= 0.5) == labels[rows]).mean())


def test_paired_interval_of_an_accuracy_difference_matches_the_normal_approximation():
    rng = np.random.default_rng(0)
    n = 4000
    labels = rng.integers(0, 2, n)
    right_ref = rng.random(n) < 0.70
    right_other = np.where(rng.random(n) < 0.8, right_ref, rng.random(n) < 0.75)  # correlated with ref, a bit better
    as_probs = lambda right: np.where(right, labels, 1 - labels).astype(float)
    result = paired_bootstrap(_accuracy(labels), as_probs(right_ref), as_probs(right_other), rounds=2000, seed=1)
    d = right_other.astype(float) - right_ref.astype(float)  # per-row paired differences
    half_width = 1.96 * d.std(ddof=1) / np.sqrt(n)
    assert result["diff"] == pytest.approx(d.mean())
    assert result["low"] == pytest.approx(d.mean() - half_width, abs=0.2 * half_width)
    assert result["high"] == pytest.approx(d.mean() + half_width, abs=0.2 * half_width)
    # an unpaired interval (the two accuracies' own variances added) would be much wider: pairing matters
    unpaired = 1.96 * np.sqrt((right_ref.var() + right_other.var()) / n)
    assert result["high"] - result["low"] < 0.8 * 2 * unpaired


def test_identical_runs_differ_by_exactly_zero_and_the_seed_fixes_the_draws():
    labels = np.array([0, 1, 1, 0, 1])
    probs = np.array([0.2, 0.9, 0.4, 0.6, 0.7])
    same = paired_bootstrap(_accuracy(labels), probs, probs.copy(), rounds=50)
    assert same == {"diff": 0.0, "low": 0.0, "high": 0.0, "p_better": 0.0}
    better = np.where(labels == 1, 0.9, 0.1)
    a = paired_bootstrap(_accuracy(labels), probs, better, rounds=50, seed=3)
    assert a == paired_bootstrap(_accuracy(labels), probs, better, rounds=50, seed=3)
    assert a["diff"] == pytest.approx(0.4) and 0 <= a["low"] <= a["high"] and a["p_better"] > 0.5


def test_rejects_mismatched_lengths_and_no_rounds():
    with pytest.raises(ValueError, match="3 reference rows against 2"):
        paired_bootstrap(_accuracy(np.zeros(3)), np.zeros(3), np.zeros(2), rounds=10)
    with pytest.raises(ValueError, match="rounds"):
        paired_bootstrap(_accuracy(np.zeros(3)), np.zeros(3), np.zeros(3), rounds=0)


def test_the_result_is_named_after_the_reference_unless_a_name_is_given():
    from pathlib import Path

    from bench.oof_compare import RESULTS, result_path

    reference = Path("runs/xiaobu/ensemble-cv5")
    assert result_path("xiaobu", reference) == RESULTS / "oof_compare_xiaobu_ensemble-cv5.json"
    assert result_path("xiaobu", reference, "small-member") == RESULTS / "oof_compare_xiaobu_small-member.json"
    for bad in ("../x", "a/b", ".hidden"):
        with pytest.raises(ValueError, match="--name"):
            result_path("xiaobu", reference, bad)


def test_a_bad_name_is_a_usage_error_before_any_run_is_read(tmp_path, capsys):
    from bench.oof_compare import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--task", "xiaobu", "--runs", str(tmp_path / "missing"), "--name", "../elsewhere"])
    assert exit_info.value.code == 2
    assert "--name '../elsewhere': expected a file name part" in capsys.readouterr().err


@pytest.mark.skipif(not (AFQMC / "train.txt").is_file(), reason=f"AFQMC not linked at {AFQMC}")
def test_metric_picks_another_score_of_the_task_and_an_unknown_one_is_a_usage_error(tmp_path, monkeypatch, capsys):
    """AFQMC's metric is accuracy at 0.5, at the floor for a weak model; ``--metric auc`` ranks the runs instead."""
    import json
    import shutil

    import bench.oof_compare as oof_compare
    from common.commands import cv
    from sklearn.metrics import roc_auc_score

    data = tmp_path / "afqmc"
    data.mkdir()
    for name, n in (("train.txt", 60), ("dev.txt", 30), ("test.txt", 10)):
        lines = (AFQMC / name).read_text(encoding="utf-8").splitlines(keepends=True)[:n]
        (data / name).write_text("".join(lines), encoding="utf-8")
    run = tmp_path / "cv"
    cv.main(["--task", "afqmc", "--data-dir", str(data), "--vocab", str(SHARED_VOCAB), "--num-layers", "1",
             "--hidden-size", "32", "--num-heads", "2", "--intermediate-size", "64", "--max-length", "32",
             "--epochs", "1", "--folds", "3", "--run-dir", str(run), "--submission-dir", str(tmp_path / "sub")])
    copy = shutil.copytree(run, tmp_path / "cv-copy")
    monkeypatch.setattr(oof_compare, "RESULTS", tmp_path / "results")
    result = oof_compare.main(["--task", "afqmc", "--runs", str(run), str(copy), "--metric", "auc", "--rounds", "20"])
    saved = np.load(run / "oof.npz")
    row = result["runs"][str(run)]
    assert result["metric"] == "auc" and row["oof"] == pytest.approx(roc_auc_score(saved["labels"], saved["oof"]))
    assert result["runs"][str(copy)]["vs_reference"]["diff"] == 0
    assert json.loads((tmp_path / "results" / "oof_compare_afqmc_cv.json").read_text(encoding="utf-8"))["metric"] == "auc"
    with pytest.raises(SystemExit) as exit_info:
        oof_compare.main(["--task", "afqmc", "--runs", str(run), "--metric", "f1"])
    assert exit_info.value.code == 2 and "--metric f1: afqmc scores accuracy, auc" in capsys.readouterr().err


def test_cross_fitted_decisions_tune_each_folds_threshold_on_the_other_folds():
    """``--decisions cross-fit``: fold k's rows are decided by the threshold the task (AFQMC: accuracy-tuned) picks on
    the other folds' OOF rows; several folds score as the row-weighted mean of their scores."""
    from types import SimpleNamespace

    from sklearn.metrics import accuracy_score

    from bench.oof_compare import CrossFittedScore
    from common.thresholds import accuracy_threshold
    from competitions.afqmc.data import Pair
    from competitions.afqmc.task import TASK

    rng = np.random.default_rng(5)
    n = 900
    labels = (rng.random(n) < 0.3).astype(int)
    probs = np.clip(0.3 + 0.25 * labels + rng.normal(0, 0.12, n), 0, 1)
    fold = rng.integers(0, 3, n)
    examples = [Pair(a="x", b="y", label=int(y), id=f"train:{i}") for i, y in enumerate(labels)]
    score = CrossFittedScore(TASK, examples, SimpleNamespace(fold=fold, oof=probs), "accuracy")
    for k in range(3):
        held, other = fold == k, fold != k
        threshold = accuracy_threshold(labels[other], probs[other])[0]
        assert score.states[k] == {"threshold": threshold}
        assert score(np.flatnonzero(held), probs) == pytest.approx(accuracy_score(labels[held], probs[held] >= threshold))
    decided = np.array([probs[i] >= score.states[int(fold[i])]["threshold"] for i in range(n)])
    assert score(np.arange(n), probs) == pytest.approx(accuracy_score(labels, decided))
    rows = np.array([0, 0, 5, 17, 17, 17])  # repeats count, as in a bootstrap resample
    assert score(rows, probs) == pytest.approx(float(np.mean(decided[rows] == labels[rows])))
