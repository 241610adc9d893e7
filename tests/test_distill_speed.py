"""bench.distill_speed's non-neural predictors: the member's tokens (characters or ids) and columns, one (M,) probability per test pair."""

import numpy as np
import pytest

from bench.distill_speed import feature_predictor
from common.task import get_task
from tests.conftest import ROOT


@pytest.mark.parametrize("spec", ["tfidf", "gbm"])
def test_feature_predictor_times_id_texts_with_the_members_features(spec):
    task = get_task("xiaobu")  # id texts: the char tokenizer of the string tasks would fail on them
    config = task.config_class(data_dir=str(ROOT / "tests" / "fixtures" / "xiaobu"), train_file="train.tsv",
                               test_file="test.tsv")
    data = task.load_data(config)
    pool = task.cv_pool(config, data)
    fold, labels = np.arange(len(pool)) % 2, np.asarray(task.labels(pool))
    predict = feature_predictor(spec, pool, data.test, task, fold, labels, folds=2)
    probs = predict()
    assert probs.shape == (len(data.test),) and np.all((probs >= 0) & (probs <= 1))
    assert np.array_equal(predict(), probs)  # the timed call is repeatable


@pytest.mark.parametrize("task_name", ["xiaobu", "sohu"])
def test_gbm_predictor_predicts_what_the_members_fold0_model_predicts(task_name, tmp_path):
    # the bench times the member's own columns and model: with the label-free word2vec columns off (they are
    # fitted on the texts at hand, so they differ between the member and the bench), fold 0's test
    # probabilities are the member's per_fold[0]; on Sohu the group column (the subtask) is in both
    from common.ensemble import FeatureOptions, condition_groups, feature_member
    from tests.test_feature_members_bench import _sohu_data

    task = get_task(task_name)
    if task_name == "xiaobu":
        config = task.config_class(data_dir=str(ROOT / "tests" / "fixtures" / "xiaobu"), train_file="train.tsv",
                                   test_file="test.tsv")
    else:
        config = task.config_class()
        config.data_dir = str(_sohu_data(tmp_path / "data"))
    data = task.load_data(config)
    pool = task.cv_pool(config, data)
    fold, labels = np.arange(len(pool)) % 3, np.asarray(task.labels(pool))
    groups, test_groups = condition_groups(task, pool, data.test)
    assert (groups is not None) == (task_name == "sohu")
    options = FeatureOptions(gbm_features="statistics", gbm_iterations=20, gbm_svd=4)
    _, per_fold = feature_member("gbm", task.text_pairs(pool), labels, fold, task.text_pairs(data.test), groups,
                                 test_groups, options)
    predicted = feature_predictor("gbm", pool, data.test, task, fold, labels, folds=3, options=options)()
    np.testing.assert_allclose(predicted, per_fold[0], rtol=0, atol=1e-12)
    assert not np.allclose(per_fold[0], per_fold[1])  # another fold's model would not pass


def test_several_students_timed_against_one_teacher_on_the_first_test_rows(tmp_path, monkeypatch):
    import json

    import bench.distill_speed as bench
    from common.commands import cv
    from tests.test_cv_e2e import TINY

    fixtures = ROOT / "tests" / "fixtures" / "xiaobu"
    run = tmp_path / "cv"
    cv.main(["--task", "xiaobu"] + TINY + ["--data-dir", str(fixtures), "--train-file", "train.tsv",
                                           "--test-file", "test.tsv", "--run-dir", str(run),
                                           "--submission-dir", str(tmp_path / "sub")])
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "results")
    args = ["--task", "xiaobu", "--teacher", str(run), "--rounds", "2", "--test-rows", "5"]
    result = bench.main(args + ["--student", str(run / "fold0"), str(run / "fold2"), "--name", "two"])
    assert result["test_pairs"] == 5  # of the fixture's 16
    assert [r["what"] for r in result["rows"]] == ["student: fold0", "student: fold2", "teacher: cv", "teacher, all"]
    assert result["rows"][2]["models"] == 3 and set(result["speedups"]) == {"student: fold0", "student: fold2"}
    assert result["speedup"] == result["speedups"]["student: fold0"]
    assert all(len(t) == 2 for t in result["seconds_per_round"].values())
    saved = json.loads((tmp_path / "results" / "distill_speed_xiaobu_two.json").read_text())
    assert saved["rows"] == result["rows"] and saved["speedups"] == result["speedups"]
    with pytest.raises(ValueError, match="--test-rows -1"):
        bench.main(args[:-1] + ["-1", "--student", str(run / "fold0")])
    with pytest.raises(ValueError, match="share a folder name"):
        bench.main(args + ["--student", str(run / "fold0"), str(run / "fold0")])
    with pytest.raises(ValueError, match="--name '../x': expected a file name part"):  # the same rule as oof_compare's
        bench.main(args + ["--student", str(run / "fold0"), "--name", "../x"])
