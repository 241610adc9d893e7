"""pmi_cut (nlp-zero-style candidates by cutting weak pairs) against direct computations."""

import math
from collections import Counter

import numpy as np
import pytest

from common.mining.char_codes import encode
from common.mining.pmi_cut import best_split_logp, cut_pieces, mine_pieces, pair_pmi


def test_pair_pmi_hand_computed():
    # token chars a b a c (N = 4); pairs ab, ba, ac (3 pairs); separator between c and d
    pmi = pair_pmi(encode("abac d"))
    assert pmi[0] == pytest.approx(math.log((1 / 3) / ((2 / 5) * (1 / 5))))  # N = 5 token chars
    assert pmi[2] == pytest.approx(math.log((1 / 3) / ((2 / 5) * (1 / 5))))
    assert np.isneginf(pmi[3]) and np.isneginf(pmi[4])  # c|space, space|d


def reference_pieces(text, min_pmi):
    """Direct loop version of the cut (nlp-zero's find step, without its frequency floor)."""
    segs = [s for s in "".join(ch if ch.isalnum() else "\n" for ch in text).split("\n") if s]
    chars = Counter(c for s in segs for c in s)
    pairs = Counter(s[i:i + 2] for s in segs for i in range(len(s) - 1))
    n, npairs = sum(chars.values()), sum(pairs.values())
    out = Counter()
    for s in segs:
        w = s[0]
        for i in range(1, len(s)):
            p = s[i - 1:i + 1]
            if math.log(pairs[p] / npairs) - math.log(chars[p[0]] / n) - math.log(chars[p[1]] / n) > min_pmi:
                w += s[i]
            else:
                out[w] += 1
                w = s[i]
        out[w] += 1
    return out


@pytest.mark.parametrize("min_pmi", [0.5, 1.0, 2.0])
def test_cut_pieces_matches_loop_on_random_text(min_pmi):
    rng = np.random.default_rng(0)
    words = ["变压器", "断路器", "检查", "的", "油位", "正常", "，", "。\n", "110kV"]
    text = "".join(rng.choice(words, size=3000, p=[.15, .15, .1, .15, .1, .1, .1, .1, .05]))
    assert cut_pieces(text, min_pmi) == reference_pieces(text, min_pmi)


def test_best_split_excludes_the_word_itself():
    logp = {"ab": -1.0, "abc": -0.5, "c": -2.0, "a": -3.0, "b": -3.0}
    assert best_split_logp("abc", logp, -10.0) == pytest.approx(-3.0)  # ab + c, not abc itself
    assert best_split_logp("x", logp, -10.0) == -math.inf


def test_mine_pieces_drops_a_redundant_concatenation():
    # min_pmi -100: nothing is cut inside a line, so the pieces are the lines. 变压器断路器 (2 of
    # 92 pieces) is far less likely as one word than as 变压器 + 断路器 (30 each): dropped
    text = "\n".join(["变压器断路器"] * 2 + ["变压器"] * 30 + ["断路器"] * 30 + ["检查"] * 30)
    assert cut_pieces(text, -100.0)["变压器断路器"] == 2
    words, counts = mine_pieces(text, min_pmi=-100.0)
    assert "变压器" in words and "断路器" in words and "变压器断路器" not in words
    assert counts[words.index("变压器")] == 30
    assert list(counts) == sorted(counts, reverse=True)
