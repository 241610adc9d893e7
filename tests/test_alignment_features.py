"""The gbm member's alignment features: word/sequence overlap by hand, word2vec soft matches, the option."""

import os
import subprocess
import sys

import jieba
import jieba.posseg
import numpy as np
import pytest

from common.ensemble import FeatureOptions, feature_member
from common.match_features import (NUM_ALIGNMENT, PROPER_NOUN_TAGS, alignment_statistics, content_tokens,
                                   word2vec_alignment)
from tests.conftest import ROOT
from tests.test_ensemble import word_pairs


def test_alignment_statistics_of_id_pairs_by_hand():
    a, b = [1, 2, 3, 4], [9, 2, 3, 4, 5]
    row = alignment_statistics([a], [b])[0]
    #          Jaccard  a-in-b b-in-a shared  run  run/shorter  difflib 2M/T   numbers, names
    expected = [3 / 6, 3 / 4, 3 / 5, 3, 3, 3 / 4, 2 * 3 / 9, 0, 0] + [0] * 6
    assert row.shape == (NUM_ALIGNMENT,) and row.tolist() == pytest.approx(expected)
    assert alignment_statistics([a], [b], max_length=2)[0][4:7].tolist() == pytest.approx([1, 1 / 2, 2 / 4])


def test_alignment_statistics_of_strings_use_jiebas_words_and_the_numbers():
    a, b = "2021年3月，北京GDP增长5.5%！", "北京2021年GDP增长6%"
    words = [w for w in jieba.lcut(a) if any(c.isalnum() for c in w)]
    assert content_tokens(a) == words and "，" not in words and "！" not in words
    wa, wb = set(words), set(content_tokens(b))
    row = alignment_statistics([a], [b])[0]
    assert row[:4].tolist() == pytest.approx([len(wa & wb) / len(wa | wb), len(wa & wb) / len(wa),
                                              len(wa & wb) / len(wb), len(wa & wb)])
    assert row[7:9].tolist() == [1 / 4, 3]  # {2021, 3, 5.5} against {2021, 6}
    assert row[4] == len("GDP增长")  # the longest common run of characters
    ea, eb = ({p.word for p in jieba.posseg.lcut(t) if p.flag in PROPER_NOUN_TAGS and len(p.word) > 1} for t in (a, b))
    assert "北京" in ea & eb and "GDP" in ea & eb
    assert row[9:].tolist() == [len(ea & eb) / len(ea | eb), len(ea & eb), len(ea - eb), len(eb - ea), len(ea), len(eb)]


def test_word2vec_alignment_identical_pairs_match_fully_and_vectors_ignore_the_hash_seed(caplog):
    rng = np.random.default_rng(0)
    vocab = [[int(t)] for t in range(30)]
    texts = [sum((vocab[i] for i in rng.integers(0, 30, 8)), []) for _ in range(200)]
    first, second = texts[:100], texts[:50] + texts[100:150]
    with caplog.at_level("INFO"):
        out = word2vec_alignment(first, second, dim=16, epochs=2)
    assert not [r for r in caplog.records if r.name.startswith("gensim")]  # probe AC: a dozen INFO lines a fit
    assert out.shape == (100, 3)
    assert out[:50] == pytest.approx(np.ones((50, 3)), abs=1e-5)  # a text against itself
    assert (out[50:, 2] < 1 - 1e-3).all() and (out <= 1 + 1e-6).all()
    assert np.array_equal(out, word2vec_alignment(first, second, dim=16, epochs=2))
    assert word2vec_alignment([[999]], [[1000]]).tolist() == [[0.0, 0.0, 0.0]]  # nothing embedded
    code = ("import numpy as np; from common.match_features import word2vec_alignment as w; "
            "print(w([['北京', '下雨'], ['公园']] * 5, [['下雨', '北京'], ['散步']] * 5, dim=8, epochs=2).tolist())")
    runs = {subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(runs) == 1  # the same vectors in every process


def test_word2vec_alignment_fit_rows_scores_more_pairs_with_the_vectors_of_the_first():
    """``fit_rows=R``: the first R pairs come out as from a call on them alone, and the others are scored by those
    vectors (a later test set by the vectors a member was fitted with); the others' texts change nothing."""
    rng = np.random.default_rng(1)
    texts = [rng.integers(0, 30, 8).tolist() for _ in range(300)]
    first, second = texts[:150], texts[150:]
    alone = word2vec_alignment(first[:100], second[:100], dim=16, epochs=2)
    both = word2vec_alignment(first, second, dim=16, epochs=2, fit_rows=100)
    assert np.array_equal(both[:100], alone)
    assert not np.array_equal(word2vec_alignment(first, second, dim=16, epochs=2)[:100], alone)  # all texts
    swapped = word2vec_alignment(first[:100] + second[100:], second[:100] + first[100:], dim=16, epochs=2, fit_rows=100)
    assert np.array_equal(swapped[:100], alone)
    assert swapped[100:, :2] == pytest.approx(both[100:, ::-1][:, 1:], abs=1e-6)  # b->a of a pair is a->b swapped


def test_gbm_features_option():
    pairs, y, fold, groups = word_pairs(60, 3, seed=3)
    outputs = {}
    for features in ("statistics", "alignment"):
        options = FeatureOptions(gbm_iterations=20, gbm_features=features)
        outputs[features] = feature_member("gbm", pairs, y, fold, pairs[:5], groups, groups[:5], options)[0]
    assert not np.array_equal(outputs["statistics"], outputs["alignment"])  # the columns reach the model
    with pytest.raises(ValueError, match="gbm_features must be one of"):
        FeatureOptions(gbm_features="words")
