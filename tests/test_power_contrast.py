"""Domain contrast ratio, general-text counting and junk rules."""

import math

import numpy as np
import pytest

from common.mining import contrast
from common.mining.char_codes import encode
from common.mining.ngram_hash import count_strings
from common.mining.term_filters import junk_reason


def test_log_ratio_hand_made_table():
    # domain: N = 1000; general A (dictionary): N = 10000; general B (text): N = 2000
    dom = np.array([100, 10, 50])
    a = contrast.GeneralCounts("dict", np.array([1000, 0, 5]), 10000)
    b = contrast.GeneralCounts("text", np.array([100, 0, 0]), 2000)
    lr = contrast.log_ratio(dom, 1000, [a, b], alpha=1.0)
    expect_a = [math.log(0.1 / (1001 / 10000)), math.log(0.01 / (1 / 10000)), math.log(0.05 / (6 / 10000))]
    expect_b = [math.log(0.1 / (101 / 2000)), math.log(0.01 / (1 / 2000)), math.log(0.05 / (1 / 2000))]
    assert lr == pytest.approx(np.minimum(expect_a, expect_b))
    assert lr[0] < 0 < lr[1] < lr[2]  # the common word is not domain-leaning
    keep = lr >= math.log(10)
    assert keep.tolist() == [False, True, True]


def test_log_ratio_compares_each_source_in_its_own_unit():
    """Segmentation tokens (4 in 1000 tokens, 2500 characters) against a dictionary per token and a text per
    character: dividing by tokens against a text's characters raised every ratio by log(2.5) (probe R)."""
    dom = np.array([40, 4])
    a = contrast.GeneralCounts("dict", np.array([99, 9]), 10000, "tokens")
    b = contrast.GeneralCounts("text", np.array([99, 9]), 25000)
    lr = contrast.log_ratio(dom, {"tokens": 1000, "chars": 2500}, [a, b], alpha=1.0)
    expect_a = np.log(np.array([40, 4]) / 1000 / (np.array([100, 10]) / 10000))
    expect_b = np.log(np.array([40, 4]) / 2500 / (np.array([100, 10]) / 25000))
    assert lr == pytest.approx(np.minimum(expect_a, expect_b)) and lr == pytest.approx(np.log([4, 4]))
    assert contrast.log_ratio(dom, 1000, [b], alpha=1.0) == pytest.approx(np.log([10, 10]))  # one total: as before
    assert contrast.dict_counts(["x"], {"x": 3, "y": 1}).unit == "tokens"
    assert contrast.text_counts(["x"], "xx").unit == "chars"


def test_log_ratio_errors():
    with pytest.raises(ValueError):
        contrast.log_ratio(np.array([1]), 10, [], 1.0)
    with pytest.raises(ValueError):
        contrast.log_ratio(np.array([1]), 10, [contrast.GeneralCounts("x", np.array([1, 2]), 5)], 1.0)


def test_count_strings_matches_overlapping_count():
    text = "变压器变压器，变压\n器aaa变压器"
    words = ["变压器", "变压", "aa", "器变", "压器变压", "不存在", "a"]
    got = count_strings(encode(text), words)

    def overlapping(w):
        segs = text.replace("，", "\n").split("\n")
        return sum(sum(1 for i in range(len(s) - len(w) + 1) if s[i:i + len(w)] == w) for s in segs)

    assert got.tolist() == [overlapping(w) for w in words]
    assert got.tolist()[:3] == [3, 4, 2]


def test_dictionary_loader_names_bad_line(tmp_path):
    p = tmp_path / "dict.txt"
    p.write_text("变压器 12 n\n断路器 x n\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"dict.txt:2"):
        contrast.load_frequency_dict(p)


@pytest.mark.parametrize("word,reason", [
    ("变压器", ""), ("SF6气体", ""), ("110kV", ""), ("无功补偿", ""), ("均压环", ""),
    ("应检查", "leading"), ("绝缘的", "trailing"), ("无锈蚀", "negation"), ("5分", "digit_start"),
    ("主变1", "digit_after_cjk"), ("HYPERLINK", "markup"), ("Toc44875", "markup"),
    ("PAGEREF", "markup"), ("验收人签字", "form"), ("变", "length"), ("abcdefgh", "ascii"),
])
def test_junk_rules(word, reason):
    assert junk_reason(word) == reason
