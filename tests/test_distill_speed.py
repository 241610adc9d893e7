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
