"""Seed expansion: the depth schedule and breadth-first admission."""

from functools import partial

import numpy as np
import pytest

from common.mining.expansion import expand, threshold_schedule


def test_threshold_schedule_rises_and_caps():
    f = partial(threshold_schedule, start=0.6, step=0.05, maximum=0.7)
    assert [round(f(d), 6) for d in (1, 2, 3, 4)] == [0.6, 0.65, 0.7, 0.7]
    with pytest.raises(ValueError):
        threshold_schedule(0, 0.6, 0.05, 0.9)
    with pytest.raises(ValueError):
        threshold_schedule(1, 0.6, -0.1, 0.9)


def unit(deg):
    r = np.deg2rad(deg)
    return [np.cos(r), np.sin(r)]


# cos(a, b) = cos 36.87 deg = 0.8 ; cos(b, c) = cos 45.57 deg = 0.7 ; cos(a, c) = cos 82.4 deg = 0.13
VOCAB = ["a", "b", "c", "junk"]
VECS = np.array([unit(0), unit(36.87), unit(82.44), unit(10)])


def test_rising_threshold_stops_the_second_hop():
    rising = partial(threshold_schedule, start=0.6, step=0.15, maximum=0.9)  # 0.6, 0.75
    got = expand(["a"], VOCAB, VECS, rising, max_depth=3, topn=3, accept=lambda w: w != "junk")
    assert [(g.word, g.depth, g.parent) for g in got] == [("b", 1, "a")]
    assert got[0].similarity == pytest.approx(0.8, abs=1e-3)
    flat = partial(threshold_schedule, start=0.6, step=0.0, maximum=0.9)  # 0.6, 0.6
    got = expand(["a"], VOCAB, VECS, flat, max_depth=3, topn=3, accept=lambda w: w != "junk")
    assert [(g.word, g.depth, g.parent) for g in got] == [("b", 1, "a"), ("c", 2, "b")]


def test_unknown_seeds_are_skipped():
    assert expand(["zzz"], VOCAB, VECS, lambda d: 0.0) == []
