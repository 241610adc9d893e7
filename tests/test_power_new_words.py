"""new_words.discover against hand-computed values and a brute-force reference."""

import math
import random
from collections import Counter, defaultdict

import pytest

from common.mining.new_words import discover, select_words


def by_word(c):
    return {w: i for i, w in enumerate(c.words)}


def test_tiny_corpus_hand_computed():
    # token chars: x a b / x a b / y a b -> N = 9; c(a) = c(b) = 3, c(x) = 2, c(y) = 1
    c = discover("xab\nxab\nyab", min_count=2, max_n=3)
    idx = by_word(c)
    assert set(c.words) == {"ab", "xa", "xab"}
    ab, xa, xab = idx["ab"], idx["xa"], idx["xab"]
    assert c.total_chars == 9
    assert c.count[ab] == 3 and c.count[xa] == 2 and c.count[xab] == 2
    assert c.cohesion[ab] == pytest.approx(math.log(9 * 3 / (3 * 3)))
    assert c.cohesion[xa] == pytest.approx(math.log(9 * 2 / (2 * 3)))
    assert c.cohesion[xab] == pytest.approx(math.log(9 * 2 / (2 * 3)))  # both splits equal
    # left of "ab": x, x, y ; right: three text boundaries (each a distinct neighbour)
    assert c.left_entropy[ab] == pytest.approx(-(2 / 3) * math.log(2 / 3) - (1 / 3) * math.log(1 / 3))
    assert c.right_entropy[ab] == pytest.approx(math.log(3))
    assert c.left_entropy[xa] == pytest.approx(math.log(2))  # two line starts
    assert c.right_entropy[xa] == pytest.approx(0.0)  # always "b"


def brute_force(text, min_count, max_n):
    segs = [s for s in "".join(ch if ch.isalnum() else "\n" for ch in text).split("\n")]
    N = sum(len(s) for s in segs)
    cnt = Counter(s[i:i + n] for s in segs for n in range(1, max_n + 1) for i in range(len(s) - n + 1))
    left, right = defaultdict(Counter), defaultdict(Counter)
    uid = iter(range(10**9))
    for s in segs:
        for n in range(2, max_n + 1):
            for i in range(len(s) - n + 1):
                w = s[i:i + n]
                left[w][s[i - 1] if i > 0 else ("B", next(uid))] += 1
                right[w][s[i + n] if i + n < len(s) else ("B", next(uid))] += 1

    def ent(c):
        t = sum(c.values())
        return -sum(v / t * math.log(v / t) for v in c.values())

    out = {}
    for w, k in cnt.items():
        if len(w) >= 2 and k >= min_count:
            coh = min(math.log(N * k / (cnt[w[:j]] * cnt[w[j:]])) for j in range(1, len(w)))
            out[w] = (k, coh, ent(left[w]), ent(right[w]))
    return out


def test_matches_brute_force_on_random_text():
    rng = random.Random(0)
    text = "".join(rng.choice("ab甲乙丙 ,\n") for _ in range(3000))
    ref = brute_force(text, 3, 5)
    c = discover(text, min_count=3, max_n=5)
    assert sorted(c.words) == sorted(ref)
    for i, w in enumerate(c.words):
        k, coh, hl, hr = ref[w]
        assert c.count[i] == k, w
        assert c.cohesion[i] == pytest.approx(coh), w
        assert c.left_entropy[i] == pytest.approx(hl), w
        assert c.right_entropy[i] == pytest.approx(hr), w


def test_select_words_thresholds():
    c = discover("xab\nxab\nyab", min_count=2, max_n=3)
    kept = select_words(c, min_count=3, min_cohesion=0.0, min_entropy=0.0)
    assert kept.words == ["ab"]
    kept = select_words(c, min_count=2, min_cohesion=0.0, min_entropy=0.5)
    assert sorted(kept.words) == ["ab", "xab"]  # "xa" always followed by b: H_right = 0
    assert len(select_words(c, 2, min_cohesion=5.0, min_entropy=0.0)) == 0


def test_bad_arguments():
    with pytest.raises(ValueError):
        discover("abc", min_count=1)
    with pytest.raises(ValueError):
        discover("abc", max_n=1)


def test_radix_argsort_is_a_stable_sort():
    import numpy as np

    from common.mining.new_words import radix_argsort

    rng = np.random.default_rng(1)
    for high in (7, 2**16, 2**23, 2**40):  # 1, 2, 2 and 3 radix passes
        keys = rng.integers(0, high, size=5000)
        keys[::7] = keys[0]  # many ties: their input order must survive
        assert np.array_equal(radix_argsort(keys), np.argsort(keys, kind="stable"))
    assert radix_argsort(np.zeros(0, dtype=np.int64)).shape == (0,)
