"""Ensembles of k-fold runs (common.ensemble, common.commands.ensemble): Caruana selection, the cross-fitted
stack against a direct scikit-learn computation, aligned members, and an end-to-end run on Xiaobu fixtures."""

import json
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score

from common.blas import openblas_kernels
from common.ensemble import (ExtraRows, FeatureOptions, apply_stack, caruana_select, check_members, cross_fit,
                             feature_member, fit_stack, implied_extra_rows, load_member, logit)
from tests.conftest import ROOT


def _synthetic(n=2000, seed=0):
    """Labels and three members: informative, weakly informative, pure noise; (3, n) probabilities."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    signal = 2 * y - 1
    good = 1 / (1 + np.exp(-(1.5 * signal + rng.normal(0, 1.5, n))))
    weak = 1 / (1 + np.exp(-(0.3 * signal + rng.normal(0, 1.5, n))))
    noise = rng.uniform(0.01, 0.99, n)
    return y, np.stack([noise, good, weak])


def test_caruana_picks_the_informative_member_and_beats_every_member():
    y, P = _synthetic()
    selection = caruana_select(P, lambda p: roc_auc_score(y, p), iterations=30)
    own = [roc_auc_score(y, p) for p in P]
    assert int(np.argmax(selection.weights)) == 1  # the informative one
    assert selection.weights[0] <= 0.1  # noise barely (or never) chosen
    assert np.isclose(selection.weights.sum(), 1.0) and (selection.weights >= 0).all()
    assert selection.counts.sum() >= 1 and np.allclose(selection.weights, selection.counts / selection.counts.sum())
    assert selection.score >= max(own) and selection.history[0] >= max(own)  # sorted init starts from the best
    assert np.isclose(selection.score, roc_auc_score(y, selection.weights @ P))


def test_caruana_with_replacement_and_a_smaller_is_better_metric():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 3000)
    # two members with independent errors: their mean beats both; a third is useless
    a = np.clip(0.5 + 0.3 * (2 * y - 1) + rng.normal(0, 0.25, 3000), 0.01, 0.99)
    b = np.clip(0.5 + 0.3 * (2 * y - 1) + rng.normal(0, 0.25, 3000), 0.01, 0.99)
    c = np.full(3000, 0.5)
    P = np.stack([a, b, c])
    selection = caruana_select(P, lambda p: log_loss(y, p), greater_is_better=False, iterations=20, patience=0)
    assert selection.score < min(log_loss(y, p) for p in P)
    assert selection.counts[0] >= 1 and selection.counts[1] >= 1 and selection.counts[2] == 0
    assert len(selection.history) == 21  # patience 0: every step taken, the best prefix kept
    with pytest.raises(ValueError, match=r"\(K, N\)"):
        caruana_select(np.zeros(5), lambda p: 0.0)


def test_cross_fitted_stack_equals_a_manual_fit_on_the_other_folds():
    y, P = _synthetic(600, seed=2)
    fold = np.arange(600) % 3
    oof = cross_fit(fold, lambda tr, he: apply_stack(fit_stack(P[:, tr], y[tr]), P[:, he]))
    manual = np.zeros(600)
    for k in range(3):
        tr, he = fold != k, fold == k
        model = LogisticRegression(C=1.0, max_iter=1000).fit(logit(P[:, tr]).T, y[tr])
        manual[he] = model.predict_proba(logit(P[:, he]).T)[:, 1]
    assert np.allclose(oof, manual)


def test_cross_fitting_does_not_see_the_held_fold():
    """Twenty pure-noise members on 300 rows: fitted in-sample the stack 'finds' signal, cross-fitted it does not."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    P = rng.uniform(0.01, 0.99, (20, 300))
    fold = np.arange(300) % 5
    in_sample = roc_auc_score(y, apply_stack(fit_stack(P, y), P))
    honest = roc_auc_score(y, cross_fit(fold, lambda tr, he: apply_stack(fit_stack(P[:, tr], y[tr]), P[:, he])))
    assert in_sample > 0.65 and abs(honest - 0.5) < 0.08
    # the same for Caruana: choosing weights on the scored rows is optimistic, nested is not
    def select(rows):
        return caruana_select(P[:, rows], lambda p: roc_auc_score(y[rows], p), iterations=10, init_max=1)

    nested = cross_fit(fold, lambda tr, he: select(tr).weights @ P[:, he])
    assert select(np.arange(300)).score > 0.55 and abs(roc_auc_score(y, nested) - 0.5) < 0.08


def test_stack_per_group():
    """A member whose meaning flips between two groups: one regression per group recovers it, one for all cannot."""
    rng = np.random.default_rng(4)
    y, groups = rng.integers(0, 2, 1000), np.arange(1000) % 2
    p = np.clip(np.where(groups == 0, y, 1 - y) * 0.6 + 0.2 + rng.normal(0, 0.1, 1000), 0.01, 0.99)[None]
    pooled = roc_auc_score(y, apply_stack(fit_stack(p, y), p))
    per_group = roc_auc_score(y, apply_stack(fit_stack(p, y, groups), p, groups))
    assert pooled < 0.6 and per_group > 0.95
    unseen = apply_stack(fit_stack(p, y, groups), p[:, :4], np.array([7, 7, 7, 7]))  # falls back to the pooled model
    assert unseen.shape == (4,) and ((unseen > 0) & (unseen < 1)).all()


def word_pairs(n: int, n_folds: int, seed: int):
    """(pairs, labels, fold, groups) of n synthetic char pairs: a positive pair repeats its first text."""
    rng = np.random.default_rng(seed)
    words = ["天气", "很好", "公园", "散步", "北京", "地区", "风险", "调整"]
    first = ["".join(rng.choice(words, 4)) for _ in range(n)]
    y = rng.integers(0, 2, n)
    second = [a if label else "".join(rng.choice(words, 4)) for a, label in zip(first, y)]
    return list(zip(first, second)), y, np.arange(n) % n_folds, np.arange(n) % 2


def test_feature_members_on_given_folds():
    """tfidf, tfidf-word and gbm on char pairs (with groups), gbm on id pairs: one OOF probability per row, one
    test row per fold."""
    pairs, y, fold, groups = word_pairs(80, 4, seed=5)
    quick = FeatureOptions(gbm_iterations=20)
    for spec in ("tfidf", "tfidf-word", "gbm"):
        oof, per_fold = feature_member(spec, pairs, y, fold, pairs[:10], groups, groups[:10], quick)
        assert oof.shape == (80,) and per_fold.shape == (4, 10) and ((oof >= 0) & (oof <= 1)).all()
        assert roc_auc_score(y, oof) > 0.8  # identical texts are easy
    ids = [([int(c) for c in str(i)], [int(c) for c in str(i * 7)]) for i in range(40)]
    oof, per_fold = feature_member("gbm", ids, np.arange(40) % 2, np.arange(40) % 2, ids[:3], options=quick)
    assert oof.shape == (40,) and per_fold.shape == (2, 3)
    with pytest.raises(ValueError, match="tfidf-word: the texts are token ids"):
        feature_member("tfidf-word", ids, np.arange(40) % 2, np.arange(40) % 2, ids[:3])
    with pytest.raises(ValueError, match="unknown member 'svm'"):
        feature_member("svm", pairs, y, fold, pairs)


def test_a_feature_member_fitted_again_with_its_test_set_counted_predicts_a_later_one_as_the_same_member():
    """``fit_test_rows``: the gbm's word2vec learns from the pool and the test set it was fitted with only, so a
    later test set appended after it leaves the OOF and fold models as they were (what the ensemble weighed);
    without it, the later texts move the vectors and the OOF predictions."""
    rng = np.random.default_rng(3)
    words = ["风险", "北京", "下雨", "很好", "地区", "天气", "公园", "散步"]

    def texts(n):  # unrelated pairs under noise labels: the trees split on every column, word2vec's too
        return [("".join(rng.choice(words, 4)), "".join(rng.choice(words, 4))) for _ in range(n)]
    pairs, y, fold, groups = texts(400), rng.integers(0, 2, 400), np.arange(400) % 4, np.arange(400) % 2
    later = texts(200)
    own, own_groups = pairs[:30], groups[:30]
    options = FeatureOptions(gbm_iterations=30)
    oof, per_fold = feature_member("gbm", pairs, y, fold, own, groups, own_groups, options)
    again, both = feature_member("gbm", pairs, y, fold, own + later, groups,
                                 np.concatenate([own_groups, np.arange(200) % 2]), options, fit_test_rows=len(own))
    assert np.array_equal(again, oof) and np.array_equal(both[:, :len(own)], per_fold)
    moved = feature_member("gbm", pairs, y, fold, own + later, groups,
                           np.concatenate([own_groups, np.arange(200) % 2]), options)[0]
    assert not np.array_equal(moved, oof)


def test_feature_members_compute_with_one_thread_and_restore_the_caller_limits(monkeypatch):
    """The member's word2vec, SVD and boosting (and the tfidf's regression) run with one BLAS / OpenMP thread under a
    caller's two, which hold again after: on the same folds the Sohu gbm member scored 0.6755 with 1 thread and
    0.6744 with 2 before (float sums moved HistGradientBoosting's bins)."""
    import os

    from sklearn.decomposition import TruncatedSVD
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_info, threadpool_limits

    import common.ensemble as ensemble

    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs 2 cores to set a limit of 2")
    seen = []

    def most_threads() -> int:
        return max(lib["num_threads"] for lib in threadpool_info())

    def spy(name, fn):
        def wrapped(*args, **kwargs):
            seen.append((name, most_threads()))
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(ensemble, "word2vec_alignment", spy("word2vec", ensemble.word2vec_alignment))
    for cls in (TruncatedSVD, HistGradientBoostingClassifier, LogisticRegression):
        monkeypatch.setattr(cls, "fit", spy(cls.__name__, cls.fit))
    pairs, y, fold, groups = word_pairs(80, 4, seed=5)
    with threadpool_limits(limits=2):
        assert most_threads() == 2  # the caller's limit, so one thread inside is the member's doing
        for spec in ("gbm", "tfidf"):
            feature_member(spec, pairs, y, fold, pairs[:10], groups, groups[:10], FeatureOptions(gbm_iterations=20))
        assert most_threads() == 2  # restored
    assert {name for name, _ in seen} == {"word2vec", "TruncatedSVD", "HistGradientBoostingClassifier",
                                          "LogisticRegression"}
    assert all(threads == 1 for _, threads in seen), seen


@pytest.mark.parametrize("spec", ["tfidf", "gbm"])
def test_feature_member_extra_rows_train_the_other_folds_models_only(spec):
    """Extra rows of fold 0 leave fold 0's OOF and model unchanged and change the other folds'; scored rows stay N."""
    pairs, y, fold, groups = word_pairs(80, 4, seed=5)
    more, y_more, _, groups_more = word_pairs(30, 1, seed=6)
    quick = FeatureOptions(gbm_iterations=20)
    base, base_test = feature_member(spec, pairs, y, fold, pairs[:10], groups, groups[:10], quick)
    extra = ExtraRows(more, y_more, np.zeros(30, dtype=int), groups_more)
    oof, per_fold = feature_member(spec, pairs, y, fold, pairs[:10], groups, groups[:10], quick, extra)
    assert oof.shape == (80,) and per_fold.shape == (4, 10)
    np.testing.assert_allclose(oof[fold == 0], base[fold == 0])
    np.testing.assert_allclose(per_fold[0], base_test[0])
    assert not np.allclose(oof[fold == 1], base[fold == 1]) and not np.allclose(per_fold[1], base_test[1])


def test_feature_member_extra_rows_copying_pool_texts_leave_the_vocabulary_and_the_other_groups_alone():
    """Extra rows that copy pool pairs into group 0 (Sohu's A-only implied rows) train group 0's models only: the
    TF-IDF vocabulary and IDF count each pool text once, so group 1's OOF and test probabilities stay bit-equal."""
    pairs, y, fold, groups = word_pairs(80, 4, seed=5)
    copied = np.flatnonzero(groups == 1)[:20]
    extra = ExtraRows([pairs[i] for i in copied], y[copied], fold[copied], np.zeros(len(copied), dtype=int))
    base, base_test = feature_member("tfidf", pairs, y, fold, pairs[:10], groups, groups[:10])
    oof, per_fold = feature_member("tfidf", pairs, y, fold, pairs[:10], groups, groups[:10], extra=extra)
    np.testing.assert_array_equal(oof[groups == 1], base[groups == 1])
    np.testing.assert_array_equal(per_fold[:, groups[:10] == 1], base_test[:, groups[:10] == 1])
    assert not np.allclose(oof[groups == 0], base[groups == 0])


def test_implied_extra_rows_take_each_fold_of_its_source_rows():
    from competitions.sohu.data import Example
    from competitions.sohu.task import TASK
    from common.task import Splits

    pool = [Example("甲", "乙", 1, 1, "train:1:0"), Example("丙", "丁", 0, 0, "train:0:0"),
            Example("戊", "己", 0, 1, "train:0:1")]
    data = Splits(pool, [], [])
    extra = implied_extra_rows(TASK, SimpleNamespace(implied_labels=True), pool, np.array([2, 0, 1]), data)
    assert extra.pairs == [("丙", "丁"), ("甲", "乙")] and extra.labels.tolist() == [0, 1]
    assert extra.fold.tolist() == [0, 2] and extra.groups.tolist() == [1, 0]
    assert implied_extra_rows(TASK, SimpleNamespace(implied_labels=False), pool, np.array([2, 0, 1]), data) is None


def _write_run(path, ids, labels, fold, test_ids):
    path.mkdir(parents=True)
    rng = np.random.default_rng(len(str(path)))
    np.savez(path / "oof.npz", ids=np.array(ids), labels=np.array(labels), fold=np.array(fold),
             oof=rng.uniform(size=len(ids)))
    test = rng.uniform(size=len(test_ids))
    np.savez(path / "test_predictions.npz", test_ids=np.array(test_ids), test=test, per_fold=np.stack([test, test]))
    return load_member(path)


@pytest.mark.parametrize("change, message", [
    ({"ids": ["b", "a", "c", "d"]}, r"other/oof\.npz \(against .*ref\): ids differ"),
    ({"labels": [1, 1, 1, 0]}, r"other/oof\.npz: labels differ from .*ref's"),
    ({"fold": [1, 0, 0, 1]}, r"other/oof\.npz: folds differ from .*ref's"),
    ({"test_ids": ["t2", "t1"]}, r"other/test_predictions\.npz \(against .*ref\): ids differ"),
])
def test_misaligned_members_fail_with_a_one_line_error_naming_the_run(tmp_path, change, message):
    base = {"ids": ["a", "b", "c", "d"], "labels": [0, 1, 1, 0], "fold": [0, 1, 0, 1], "test_ids": ["t1", "t2"]}
    ref = _write_run(tmp_path / "ref", **base)
    other = _write_run(tmp_path / "other", **{**base, **change})
    with pytest.raises(ValueError, match=message) as err:
        check_members([ref, other])
    assert "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError, match=r"nothing/oof\.npz missing: is .*nothing a finished k-fold run"):
        load_member(tmp_path / "nothing")


def test_members_of_other_rows_or_another_task_are_refused_as_such_before_the_data_is_read(tmp_path):
    """A second member made on a contest's other rows was refused as "made on other labelled rows than ... holds
    now (same ids, other texts or labels: a training file was edited since)", and another task's run by the first
    file of the data it could not read (probe Q)."""
    from common.commands import blend, ensemble

    base = {"ids": ["a", "b", "c", "d"], "labels": [0, 1, 1, 0], "fold": [0, 1, 0, 1], "test_ids": ["t1", "t2"]}
    _write_run(tmp_path / "ref", **base)
    _write_run(tmp_path / "fewer", **{k: v[:3] if k != "test_ids" else v for k, v in base.items()})
    nowhere = ["--data-dir", str(tmp_path / "no-data")]  # read, the data would fail first
    with pytest.raises(ValueError, match=r"fewer/oof\.npz \(against .*ref\): ids differ from the reference \(3 vs 4"):
        ensemble.main(["--task", "xiaobu", *nowhere, "--runs", str(tmp_path / "ref"), str(tmp_path / "fewer")])
    _write_run(tmp_path / "pair", **base)
    (tmp_path / "pair" / "environment.json").write_text(json.dumps(
        {"starts": [{"command": ["common/commands/cv.py", "--task", "pair", "--folds", "2"]}]}))
    for command in (ensemble.main, blend.main):
        with pytest.raises(ValueError, match=r"pair is a run of --task pair, not xiaobu: give --task pair"):
            command(["--task", "xiaobu", *nowhere, "--runs", str(tmp_path / "ref"), str(tmp_path / "pair")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fewer", "pair", "ref"]


XIAOBU = ROOT / "tests" / "fixtures" / "xiaobu"
TINY = ["--num-layers", "1", "--hidden-size", "32", "--num-heads", "2", "--intermediate-size", "64",
        "--batch-size", "16", "--epochs", "1", "--folds", "2", "--max-train-minutes", "0"]


def test_ensemble_of_two_kfold_runs_and_tfidf_gbm_writes_a_valid_submission(tmp_path, capsys):
    from common.commands import cv, ensemble
    from common.commands.args import run_cli
    from common.submission import validate_probability_file

    data = ["--data-dir", str(XIAOBU), "--train-file", "train.tsv", "--test-file", "test.tsv",
            "--submission-dir", str(tmp_path / "sub")]
    for name, seed in (("cv", "42"), ("cv-seed2", "7")):
        cv.main(["--task", "xiaobu"] + TINY + data + ["--run-dir", str(tmp_path / name), "--seed", seed])
    runs = [str(tmp_path / "cv"), str(tmp_path / "cv-seed2"), "tfidf", "gbm"]
    args = ["--task", "xiaobu", "--data-dir", str(XIAOBU), "--gbm-iterations", "20", "--runs"] + runs
    result = ensemble.main(args)
    # --gbm-iterations 20: the gbm member's own folder (the tfidf member's options are the defaults)
    gbm_dir = ensemble.feature_cache_dir(tmp_path / "cv", "gbm", FeatureOptions(gbm_iterations=20))
    assert gbm_dir.name.startswith("cv-gbm-") and gbm_dir.is_dir() and not (tmp_path / "cv-gbm").exists()
    assert result["method"] in ("caruana", "stack") and set(result["members"]) == {"cv", "cv-seed2", "tfidf", "gbm"}
    assert f"cv{result['cv']['auc']:.4f}" in result["submission"]
    assert validate_probability_file(result["submission"], 16) == result["rows"] == 16  # every test line once
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["submission"] == result["submission"]
    run = tmp_path / "ensemble-cv"
    report = json.loads((run / "ensemble.json").read_text())
    assert np.isclose(sum(m["caruana_weight"] for m in report["members"]), 1.0, atol=1e-3)
    assert set(report["caruana"]) >= {"oof_in_sample", "oof_cross_fitted", "weights"}
    assert set(report["stack"]) >= {"oof_in_sample", "oof_cross_fitted", "coefficients"}
    assert report["oof"] == report[report["method"]]["oof_cross_fitted"]
    # the ensemble is itself a k-fold run: same ids, labels and folds as its members
    members = [load_member(r) for r in (tmp_path / "cv", run, tmp_path / "cv-tfidf", gbm_dir)]
    check_members(members)
    assert members[1].per_fold.shape == (2, 16)
    assert json.loads((run / "folds.json").read_text())["fold"] == members[1].fold.tolist()
    # draw_folds (bench.feature_members' folds, no run needed) gives the folds the cv command drew
    from common.commands.cv import draw_folds
    from common.cv import CVConfig
    from common.task import get_task
    task = get_task("xiaobu")
    config = task.config_class(data_dir=str(XIAOBU), train_file="train.tsv", test_file="test.tsv")
    assert draw_folds(task, task.cv_pool(config, task.load_data(config)), CVConfig(folds=2)).tolist() == \
        members[0].fold.tolist()
    # per_fold[k]: fold k's weights on the members' fold-k test predictions (models that never saw
    # fold k), not on their fold means, which a second round on these folds must not learn from
    caruana = ensemble.main(args + ["--method", "caruana", "--run-name", "caruana"])
    report = json.loads((tmp_path / "caruana" / "ensemble.json").read_text())
    assert caruana["method"] == "caruana" and report["per_fold_leak_free"] is True
    parts = {m["name"]: load_member(m["run_dir"]) for m in report["members"]}
    per_fold = load_member(tmp_path / "caruana").per_fold
    for k, weights in report["caruana"]["fold_weights"].items():
        k = int(k)
        assert np.allclose(per_fold[k], sum(w * parts[n].per_fold[k] for n, w in weights.items()), atol=1e-3)
        assert not np.allclose(per_fold[k], sum(w * parts[n].test for n, w in weights.items()), atol=1e-3)
    # each member cache and the ensemble record the environment they were fitted in
    for folder in (gbm_dir, tmp_path / "cv-tfidf", tmp_path / "ensemble-cv"):
        assert len(json.loads((folder / "environment.json").read_text())["starts"]) == 1
    # a rerun reuses the cached tfidf / gbm members
    stamp = (gbm_dir / "oof.npz").stat().st_mtime_ns
    again = ensemble.main(args)
    assert (gbm_dir / "oof.npz").stat().st_mtime_ns == stamp and again["cv"] == result["cv"]
    # ... but not one fitted before the members ran with one thread (its member.json has no "threads")
    meta = json.loads((gbm_dir / "member.json").read_text())
    assert meta.pop("threads") == 1
    (gbm_dir / "member.json").write_text(json.dumps(meta))
    ensemble.main(args)
    assert (gbm_dir / "oof.npz").stat().st_mtime_ns != stamp
    # ... nor one fitted with another OpenBLAS kernel set (common.blas), which moved the Sohu gbm's bins
    meta = json.loads((gbm_dir / "member.json").read_text())
    assert meta["blas"] == openblas_kernels()
    (gbm_dir / "member.json").write_text(json.dumps({**meta, "blas": "AnotherCore"}))
    stamp = (gbm_dir / "oof.npz").stat().st_mtime_ns
    ensemble.main(args)
    assert (gbm_dir / "oof.npz").stat().st_mtime_ns != stamp
    # a run on other folds is refused with one line naming it
    other = tmp_path / "other-folds"
    shutil.copytree(tmp_path / "cv-seed2", other)
    arrays = dict(np.load(other / "oof.npz"))
    np.savez(other / "oof.npz", **{**arrays, "fold": 1 - arrays["fold"]})
    capsys.readouterr()
    with pytest.raises(SystemExit):
        run_cli(lambda: ensemble.main(args[:-4] + [str(tmp_path / "cv"), str(other), "--run-name", "other"]))
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: ") and "other-folds/oof.npz: folds differ from" in error
    # other members into the folder of an ensemble a student may learn from: refused before anything is fitted,
    # the ensemble as it was
    before = (run / "ensemble.json").read_bytes()
    with pytest.raises(ValueError, match=r"ensemble-cv/ensemble.json: an ensemble of other members or options "
                                         r"\(runs .* -> .*\).*give another --run-name"):
        ensemble.main(args[:-4] + [str(tmp_path / "cv"), "tfidf"])
    with pytest.raises(ValueError, match=r"ensemble.json: .*method 'auto' -> 'stack'"):
        ensemble.main(args + ["--method", "stack"])
    assert (run / "ensemble.json").read_bytes() == before


def test_the_combiner_is_climbed_and_chosen_on_metric_for_best_model_and_reported_in_the_tasks_metric():
    """By default the task's metric; ``--metric-for-best-model auc``: Caruana climbs AUC and ``auto`` compares the
    cross-fitted AUCs; the report keeps the task's metric beside it. A score the task does not compute is refused
    before anything is fitted."""
    from common.commands.ensemble import ensemble
    from common.ensemble import Member

    y, P = _synthetic(600, seed=3)
    fold = np.arange(600) % 3
    members = [Member(None, np.arange(600).astype(str), y, fold, p, np.arange(5).astype(str), p[:5],
                      np.stack([p[:5]] * 3), name=n) for p, n in zip(P, ("noise", "good", "weak"))]
    task = SimpleNamespace(name="toy", metric_name="accuracy", greater_is_better=True)

    def scorer(rows):
        return lambda probs: {"accuracy": float(np.mean((probs >= 0.5) == y[rows])),
                              "auc": float(roc_auc_score(y[rows], probs))}

    args = SimpleNamespace(method="auto", iterations=20, init_max=0, patience=5, stack_C=1.0,
                           metric_for_best_model="")  # the command's default: the task's metric
    assert ensemble(task, members, scorer, None, None, args)["report"]["selected_on"] == "accuracy"
    args.metric_for_best_model = "auc"
    result = ensemble(task, members, scorer, None, None, args)
    report = result["report"]
    assert report["selected_on"] == "auc" and report["metric"] == "accuracy"
    weights = np.array([m["caruana_weight"] for m in report["members"]])
    assert max(report["caruana"]["history"]) == pytest.approx(roc_auc_score(y, weights @ P), abs=1e-4)  # the best step
    cross = {m: report[m]["oof_cross_fitted"]["auc"] for m in ("caruana", "stack")}
    assert result["method"] == max(cross, key=cross.get)
    args.metric_for_best_model = "f1"
    with pytest.raises(ValueError, match="--metric-for-best-model f1: the task's scores are accuracy, auc"):
        ensemble(task, members, scorer, None, None, args)


def test_an_ensemble_predicts_a_new_test_file_through_its_members(tmp_path, capsys, monkeypatch):
    """``predict --run <ensemble> --test-file F``: every member predicts F (the k-fold run's fold models, its
    inference-setting folder's through the models it names, tfidf and gbm fitted again on the same folds, an
    earlier ensemble through its own members) and the ensemble's combiner joins them. Its own test file comes
    back as its test_predictions.npz, another file's rows as the same rows of it; the ensemble folder is not
    written; an ensemble whose member changed since is refused."""
    from common.commands import cv, ensemble, predict
    from common.submission import validate_probability_file

    data = ["--data-dir", str(XIAOBU), "--train-file", "train.tsv", "--test-file", "test.tsv",
            "--submission-dir", str(tmp_path / "sub")]
    cv_args = ["--task", "xiaobu"] + TINY + data + ["--run-dir", str(tmp_path / "cv")]
    monkeypatch.setattr(sys, "argv", ["cv.py", *cv_args])  # the command line environment.json records
    cv.main(cv_args)
    monkeypatch.undo()
    notta = predict.main(["--task", "xiaobu", "--run", str(tmp_path / "cv"), "--tta-swap", "false"])["run_dir"]
    runs = [str(tmp_path / "cv"), notta, "tfidf", "gbm"]
    common = ["--task", "xiaobu", "--data-dir", str(XIAOBU), "--gbm-iterations", "20"]
    stack_args = common + ["--method", "stack", "--run-name", "stack", "--runs"] + runs  # every member weighed
    monkeypatch.setattr(sys, "argv", ["ensemble.py", *stack_args])  # the command line environment.json records
    ensemble.main(stack_args)
    monkeypatch.undo()
    ensemble.main(common + ["--method", "caruana", "--run-name", "nested", "--runs",
                            str(tmp_path / "cv"), str(tmp_path / "stack"), "gbm"])
    # another ensemble of the same first run with another tfidf option: its own tfidf member, the others' untouched
    ensemble.main(common + ["--tfidf-C", "0.5", "--run-name", "other-c", "--runs", str(tmp_path / "cv"), "tfidf"])
    assert len(list(tmp_path.glob("cv-tfidf*"))) == 2
    own = XIAOBU / "test.tsv"
    lines = own.read_text().splitlines()
    copy, other = tmp_path / "copy.tsv", tmp_path / "b.tsv"
    copy.write_text("\n".join(lines) + "\n")
    rows = list(range(len(lines)))[::-2]  # another file: every other row, last first
    other.write_text("".join(lines[i] + "\n" for i in rows))
    for name in ("stack", "nested"):
        run = tmp_path / name
        before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
        saved = dict(np.load(run / "test_predictions.npz"))["test"]
        result = predict.main(["--task", "xiaobu", "--run", str(run), "--test-file", str(copy)])
        got = np.load(result["submission"].rsplit(".", 1)[0] + ".probabilities.npz")["test_probs"]
        np.testing.assert_allclose(got, saved, atol=1e-6, rtol=0)
        assert validate_probability_file(result["submission"], len(lines)) == len(lines)
        if name == "stack":
            assert set(result["refitted"]) == {"tfidf", "gbm"} and set(result["members"]) == {"cv", "cv-notta",
                                                                                                "tfidf", "gbm"}
        result = predict.main(["--task", "xiaobu", "--run", str(run), "--test-file", str(other)])
        got = np.load(result["submission"].rsplit(".", 1)[0] + ".probabilities.npz")["test_probs"]
        np.testing.assert_allclose(got, saved[rows], atol=1e-5, rtol=0)  # batches of other rows: float32 sums
        assert "b-" in Path(result["submission"]).name and f"cv{result['cv']['auc']:.4f}" in result["submission"]
        assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    # another data folder: its test file predicted, and the submission checked against it
    folder = tmp_path / "b-data"
    folder.mkdir()
    shutil.copy(XIAOBU / "train.tsv", folder / "train.tsv")
    (folder / "test.tsv").write_text(other.read_text())
    result = predict.main(["--task", "xiaobu", "--run", str(tmp_path / "stack"), "--data-dir", str(folder)])
    assert validate_probability_file(result["submission"], len(rows)) == result["rows"] == len(rows)
    # the run's own data: its submission again, from its saved predictions
    result = predict.main(["--task", "xiaobu", "--run", str(tmp_path / "stack")])
    assert validate_probability_file(result["submission"], len(lines)) == len(lines)
    with pytest.raises(ValueError, match="OOF ensemble: its members predict under the settings it weighed"):
        predict.main(["--task", "xiaobu", "--run", str(tmp_path / "stack"), "--tta-swap", "true",
                      "--test-file", str(other)])
    with pytest.raises(ValueError, match=r"stack is a run of --task xiaobu, not afqmc: give --task xiaobu"):
        predict.main(["--task", "afqmc", "--run", str(tmp_path / "stack"), "--test-file", str(other)])
    # the inference-setting folder: its task is its source run's, and it predicts a new file under its setting
    with pytest.raises(ValueError, match=r"cv-notta is a run of --task xiaobu, not afqmc"):
        predict.main(["--task", "afqmc", "--run", notta, "--test-file", str(other)])
    by_folder = predict.main(["--task", "xiaobu", "--run", notta, "--test-file", str(other)])
    by_flag = predict.main(["--task", "xiaobu", "--run", str(tmp_path / "cv"), "--tta-swap", "false", "--test-file",
                            str(other)])
    np.testing.assert_array_equal(*[np.load(r["submission"].rsplit(".", 1)[0] + ".probabilities.npz")["test_probs"]
                                    for r in (by_folder, by_flag)])
    shutil.move(tmp_path / "cv-tfidf", tmp_path / "moved")
    with pytest.raises(FileNotFoundError, match=r"cv-tfidf: the tfidf member .*stack weighed is gone; rebuild"):
        predict.main(["--task", "xiaobu", "--run", str(tmp_path / "stack"), "--test-file", str(other)])
    shutil.move(tmp_path / "moved", tmp_path / "cv-tfidf")
    # a training file reordered since the runs (ids count rows by position): refused by the ensemble command, which
    # would tune its combiner and thresholds on other rows' labels, and by predict
    moved = tmp_path / "moved-data"
    moved.mkdir()
    (moved / "train.tsv").write_text("".join(reversed((XIAOBU / "train.tsv").read_text().splitlines(True))))
    shutil.copy(XIAOBU / "test.tsv", moved / "test.tsv")
    with pytest.raises(ValueError, match=r"moved-data: \d+ of \d+ rows have other labels than .*cv/oof.npz"):
        ensemble.main(["--task", "xiaobu", "--data-dir", str(moved), "--gbm-iterations", "20", "--run-name", "moved",
                       "--runs", str(tmp_path / "cv"), "tfidf"])
    # a member predicting other probabilities than the ensemble weighed: refused, nothing written
    member = tmp_path / "cv" / "test_predictions.npz"
    arrays = dict(np.load(member))
    np.savez(member, **{**arrays, "test": arrays["test"] * 0.9})
    capsys.readouterr()
    with pytest.raises(ValueError, match=r"stack: its members' saved test predictions, combined, are .* away from "
                                         r"its test_predictions.npz: a member was rerun or refitted since"):
        predict.main(["--task", "xiaobu", "--run", str(tmp_path / "stack"), "--test-file", str(other)])


def test_a_k_fold_run_with_folds_to_train_is_named_so(tmp_path):
    """``make afqmc-recipe CV_ARGS="--only-folds 0"``: the ensemble step asked whether the run was a k-fold run at all
    (probe W); it now says the run has folds left and how to train them."""
    from common.ensemble import load_member

    (tmp_path / "fold0").mkdir()
    (tmp_path / "fold0" / "model.pt").write_bytes(b"")
    (tmp_path / "folds.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"oof.npz missing: .* is a k-fold run not finished \(1 fold models\): "
                                                r"rerun its cv command without --only-folds"):
        load_member(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"is .*other a finished k-fold run"):
        load_member(tmp_path / "other")
