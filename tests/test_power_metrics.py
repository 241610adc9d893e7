"""Term-list metrics by hand, the evaluate table, and input errors naming file and line."""

from pathlib import Path

import pytest

from common.mining.term_metrics import list_scores, precision_at_k
from common.mining.text_files import read_utf8
from competitions.power_terms.data import parse_baike_line
from competitions.power_terms.evaluate import evaluate, read_ranked

FIX = Path(__file__).parent / "fixtures" / "power"


def test_list_scores_hand_computed():
    ranked = ["a", "b", "c", "a", "d"]  # duplicates count once -> a b c d
    gold = {"a", "c", "e", "f"}
    s = list_scores(ranked, gold, ks=(1, 2, 4, 10))
    assert s["n"] == 4 and s["hits"] == 2
    assert (s["p@1"], s["p@2"], s["p@4"], s["p@10"]) == (1.0, 0.5, 0.5, 0.2)
    assert s["precision"] == 0.5 and s["recall"] == 0.5 and s["f1"] == 0.5
    with pytest.raises(ValueError):
        precision_at_k(ranked, gold, 0)
    with pytest.raises(ValueError):
        list_scores(ranked, set())


def test_evaluate_per_stage_from_tsv():
    ranked = read_ranked(FIX / "ranked.tsv")
    assert ranked[0] == ("变压器", ["contrast", "expansion"])
    res = evaluate(ranked, {"变压器", "断路器", "套管", "母线"}, ks=[2])
    assert res["all"]["p@2"] == 0.5 and res["all"]["recall"] == 0.75
    assert res["contrast"]["n"] == 3 and res["contrast"]["hits"] == 2
    assert res["expansion"]["n"] == 2 and res["expansion"]["precision"] == 1.0
    assert res["contrast_only"]["n"] == 2 and res["expansion_only"]["hits"] == 1


def test_invalid_utf8_names_file_and_line(tmp_path):
    p = tmp_path / "corpus.csv"
    p.write_bytes("第一行\n第二行\n".encode() + b"bad \xff byte\n")
    with pytest.raises(ValueError, match=r"corpus.csv:3: not valid UTF-8"):
        read_utf8(p)
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        read_utf8(tmp_path / "missing.csv")


def test_bad_tsv_names_file_and_line(tmp_path):
    p = tmp_path / "x.tsv"
    p.write_text("rank\tterm\tstage\n1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"x.tsv:2"):
        read_ranked(p)
    txt = tmp_path / "x.txt"  # a scored list saved as .txt: 断路器\t0.9 was counted as that whole string (probe R)
    txt.write_text("变压器\n断路器\t0.9\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"x.txt:2: a tab in '断路器\\t0.9'; expected one term a line"):
        read_ranked(txt)
    txt.write_text("变压器\n \n断路器\t\n", encoding="utf-8")  # trailing whitespace: still one term a line
    assert read_ranked(txt) == [("变压器", ["all"]), ("断路器", ["all"])]


def test_baike_row_parsing():
    line = (FIX / "baike.csv").read_text(encoding="utf-8").split("\n")[0]
    term, page = parse_baike_line(line, FIX / "baike.csv", 1)
    assert term == "变电站" and page["title"] == "变电站"
    assert page["text"].split("\n") == ["变电站是指电力系统中对电压进行变换的场所。", "一类变电站。"]
    with pytest.raises(ValueError, match=r"baike.csv:7"):
        parse_baike_line("变电站,{not quoted}", FIX / "baike.csv", 7)


def test_gold_halves_are_fixed_and_disjoint():
    from common.mining.term_metrics import gold_half, split_gold

    terms = [f"词{i}" for i in range(2000)]
    halves = split_gold(terms)
    assert halves["tuning"].isdisjoint(halves["test"])
    assert len(halves["tuning"]) + len(halves["test"]) == 2000
    assert 900 < len(halves["test"]) < 1100
    assert gold_half("变压器") == gold_half("变压器") and split_gold(terms) == halves  # no process salt
    assert gold_half("变压器", salt="x") in ("tuning", "test")


def test_half_scores_hand_computed():
    from common.mining.term_metrics import half_scores

    ranked = ["a", "t1", "b", "t2", "c"]
    test, tuning = {"a", "b", "z"}, {"t1", "t2", "y"}  # f = 3 / 6
    s = half_scores(ranked, test, tuning, ks=(2, 4))
    assert s["raw_p@2"] == 0.5 and s["est_p@2"] == 1.0
    assert s["filt_p@2"] == 1.0  # a, b after removing t1
    assert s["raw_p@4"] == 0.5 and s["filt_p@4"] == 0.5  # a, b, c (+ nothing) / 4
    assert s["recall"] == pytest.approx(2 / 3) and s["hits"] == 2
    with pytest.raises(ValueError):
        half_scores(ranked, set(), tuning)
