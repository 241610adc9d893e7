"""common.cv: folds (disjoint, covering, stratified, grouped), OOF assembly, averaging, resume."""

import json

import numpy as np
import pytest

from common.cv import (CVConfig, FoldResult, assert_same_ids, average_predictions, make_folds, run_cv,
                       text_groups)


def test_text_groups_join_pairs_sharing_a_text():
    pairs = [("a", "b"), ("c", "d"), ("b", "e"), ("f", "f"), ("e", "a"), ("d", "g")]
    groups = text_groups(pairs)
    assert groups.tolist() == [0, 1, 0, 2, 0, 1]


@pytest.mark.parametrize("grouped", [False, True])
def test_folds_are_disjoint_cover_everything_and_are_stratified(grouped):
    rng = np.random.default_rng(0)
    n, k = 600, 5
    labels = (rng.random(n) < 0.2).astype(int)  # 20% positives, like Sohu B / Xiaobu
    groups = rng.integers(0, 250, size=n) if grouped else None
    fold = make_folds(labels, k, seed=1, groups=groups)
    assert fold.shape == (n,) and set(fold.tolist()) == set(range(k))  # every row in exactly one fold
    held = [np.flatnonzero(fold == f) for f in range(k)]
    assert sum(len(h) for h in held) == n and len(np.unique(np.concatenate(held))) == n
    overall = labels.mean()
    for h in held:
        assert abs(labels[h].mean() - overall) < (0.03 if not grouped else 0.06)
        assert abs(len(h) - n / k) < (2 if not grouped else 25)
    if grouped:
        for g in np.unique(groups):
            assert len(set(fold[groups == g].tolist())) == 1  # a group never spans two folds
    assert np.array_equal(fold, make_folds(labels, k, seed=1, groups=groups))  # seeded
    assert not np.array_equal(fold, make_folds(labels, k, seed=2, groups=groups))


def test_bad_fold_counts_are_refused():
    with pytest.raises(ValueError, match="at least 2"):
        make_folds([0, 1, 0, 1], 1, seed=0)
    with pytest.raises(ValueError, match="groups"):
        make_folds([0, 1, 0, 1], 3, seed=0, groups=[0, 0, 1, 1])


def test_average_refuses_misaligned_ids():
    ids = np.array(["a", "b", "c"])
    mean = average_predictions([ids, ids.copy()], [np.array([0.0, 1.0, 0.5]), np.array([1.0, 1.0, 0.0])])
    assert np.allclose(mean, [0.5, 1.0, 0.25])
    with pytest.raises(ValueError, match="model1.*misaligned"):
        average_predictions([ids, ids[::-1]], [np.zeros(3), np.zeros(3)])
    with pytest.raises(ValueError, match="misaligned"):
        average_predictions([ids, ids[:2]], [np.zeros(3), np.zeros(2)])
    with pytest.raises(ValueError, match="ids differ"):
        assert_same_ids(ids, np.array(["a", "c", "b"]), "x")


class ToyTask:
    """A fold function: predicts each held-out row's label mean over the training rows + its own feature."""

    def __init__(self, x: np.ndarray, labels: np.ndarray, n_test: int, fail_on: int | None = None) -> None:
        self.x, self.labels, self.n_test, self.fail_on = x, labels, n_test, fail_on
        self.trained: list[int] = []

    def __call__(self, k, train_idx, held_idx, fold_dir):
        if k == self.fail_on:
            raise RuntimeError("simulated crash")
        fold_dir.mkdir(parents=True, exist_ok=True)
        self.trained.append(k)
        assert not set(train_idx) & set(held_idx)
        base = self.labels[train_idx].mean()
        return FoldResult(oof=0.5 * base + 0.5 * self.x[held_idx], test=np.full(self.n_test, base + k),
                          metrics={"rows": len(train_idx)})


def score(labels):
    return lambda rows, pred: {"mse": float(np.mean((labels[rows] - pred) ** 2))}


def test_run_cv_oof_ids_average_and_resume(tmp_path):
    rng = np.random.default_rng(0)
    n, k = 50, 5
    labels = rng.integers(0, 2, size=n)
    x = labels + rng.normal(0, 0.1, size=n)
    ids = [f"row{i}" for i in range(n)]
    test_ids = [f"t{i}" for i in range(7)]
    config = CVConfig(folds=k, fold_seed=3)

    crashing = ToyTask(x, labels, 7, fail_on=2)
    with pytest.raises(RuntimeError, match="simulated"):
        run_cv(tmp_path, ids, labels, labels, crashing, score(labels), config, test_ids=test_ids, metric_name="mse")
    assert crashing.trained == [0, 1]

    resumed = ToyTask(x, labels, 7)
    result = run_cv(tmp_path, ids, labels, labels, resumed, score(labels), config, test_ids=test_ids,
                    metric_name="mse")
    assert resumed.trained == [2, 3, 4]  # finished folds skipped
    assert result["complete"] and result["folds_done"] == list(range(k))

    oof = np.load(tmp_path / "oof.npz")
    assert oof["ids"].tolist() == ids  # OOF ids equal the training ids, in order
    fold = oof["fold"]
    expected = np.array([0.5 * labels[fold != fold[i]].mean() + 0.5 * x[i] for i in range(n)])
    assert np.allclose(oof["oof"], expected) and np.allclose(result["oof"], expected)
    assert result["cv"]["mse"] == pytest.approx(np.mean((labels - expected) ** 2))
    test = np.load(tmp_path / "test_predictions.npz")
    bases = [labels[fold != f].mean() + f for f in range(k)]
    assert test["test_ids"].tolist() == test_ids and np.allclose(test["test"], np.mean(bases))
    assert json.loads((tmp_path / "cv_metrics.json").read_text())["cv"]["mse"] == pytest.approx(result["cv"]["mse"])

    again = ToyTask(x, labels, 7)
    run_cv(tmp_path, ids, labels, labels, again, score(labels), config, test_ids=test_ids, metric_name="mse")
    assert again.trained == []  # everything done: nothing retrained

    with pytest.raises(ValueError, match="saved folds"):  # other data in the same run folder
        run_cv(tmp_path, ids[:-1] + ["other"], labels, labels, again, score(labels), config, metric_name="mse")


def test_only_folds_leaves_the_cv_score_for_later(tmp_path):
    labels = np.array([0, 1] * 10)
    task = ToyTask(labels.astype(float), labels, 2)
    config = CVConfig(folds=4, only_folds="1,3")
    result = run_cv(tmp_path, [str(i) for i in range(20)], labels, labels, task, score(labels), config,
                    test_ids=["a", "b"], metric_name="mse")
    assert task.trained == [1, 3] and not result["complete"] and result["cv"] is None
    assert not (tmp_path / "oof.npz").exists()
    config.only_folds = ""
    result = run_cv(tmp_path, [str(i) for i in range(20)], labels, labels, task, score(labels), config,
                    test_ids=["a", "b"], metric_name="mse")
    assert task.trained == [1, 3, 0, 2] and result["complete"]


def test_duplicate_ids_are_refused(tmp_path):
    labels = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="unique"):
        run_cv(tmp_path, ["a", "a", "b", "c"], labels, labels, ToyTask(labels, labels, 0), score(labels),
               CVConfig(folds=2), metric_name="mse")


def test_folds_that_cannot_be_drawn_say_which_option_to_change():
    from common.cv import make_folds, stratified_holdout

    with pytest.raises(ValueError, match=r"3 stratified folds of 4 rows: .*give fewer --folds"):
        make_folds([0, 0, 1, 1], 3, 0)
    with pytest.raises(ValueError, match=r"a stratified 0.5 validation split of 4 rows: .*give a dev file"):
        stratified_holdout(list("abcd"), [0, 1, 2, 2], 0.5, 0)


@pytest.mark.parametrize("text, message", [("a", r"--only-folds 'a': expected fold numbers 0-2 separated by commas"),
                                           ("0,,1", r"--only-folds '0,,1': expected fold numbers"),
                                           ("-1", r"--only-folds '-1': expected fold numbers"),
                                           ("3", r"--only-folds '3': fold numbers must be 0-2, got \[3\]")])
def test_only_folds_that_name_no_fold_are_one_line_errors(text, message):
    from common.cv import parse_only_folds

    assert parse_only_folds("2, 0", 3) == [0, 2] and parse_only_folds("", 3) == [0, 1, 2]
    with pytest.raises(ValueError, match=message):
        parse_only_folds(text, 3)


def test_loading_a_kfold_folder_as_one_model_names_its_fold_folders(tmp_path):
    """export (and anything loading one model) given a k-fold folder: the message names fold0, not "missing"."""
    from common.commands.predict import load_run
    from common.task import get_task

    (tmp_path / "folds.json").write_text("{}", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match=r"is a k-fold run: its models are .*/fold<k> \(give one of them, "
                                                r"e\.g\. .*/fold0"):
        load_run(get_task("xiaobu"), tmp_path)
