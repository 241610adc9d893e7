"""Gold-free ranking signals: noun-head log-odds from POS tags, PU word-likeness logits."""

import math

import numpy as np
import pytest

from common.mining import ranking
from common.mining.new_words import discover


def test_head_noun_table_hand_computed():
    tags = {"变压器": "n", "电容器": "n", "容器": "n", "检查": "v", "审查": "vn", "调查": "v", "器": "n"}
    table = ranking.head_noun_table(tags)
    assert table["器"] == pytest.approx(math.log((3 + 1) / (0 + 1)))  # single chars are skipped
    assert table["查"] == pytest.approx(math.log((1 + 1) / (2 + 1)))  # vn counts as nominal
    assert ranking.head_noun_scores(["互感器", "应检查", "xyz"], table).tolist() == \
        pytest.approx([table["器"], table["查"], 0.0])


@pytest.mark.slow  # sklearn import + 4 boosted models: ~1 min on the shared 2 cores
def test_pu_logits_are_cross_fitted_and_rank_the_labelled_side_up():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = X[:, 0] + 0.3 * rng.normal(size=400) > 0.5
    z = ranking.pu_word_logits(X, y, folds=4)
    assert z.shape == (400,) and np.isfinite(z).all()
    assert z[y].mean() > z[~y].mean()
    with pytest.raises(ValueError):
        ranking.pu_word_logits(X, y[:10])


def test_candidate_features_shape():
    c = discover("变压器检修\n变压器检修\n变压器\n", min_count=2, max_n=3)
    X = ranking.candidate_features(c, {"变": 1.0}, {"器": 2.0})
    assert X.shape == (len(c), len(ranking.FEATURES))
