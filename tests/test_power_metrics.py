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


def test_baike_row_parsing():
    line = (FIX / "baike.csv").read_text(encoding="utf-8").split("\n")[0]
    term, page = parse_baike_line(line, FIX / "baike.csv", 1)
    assert term == "变电站" and page["title"] == "变电站"
    assert page["text"].split("\n") == ["变电站是指电力系统中对电压进行变换的场所。", "一类变电站。"]
    with pytest.raises(ValueError, match=r"baike.csv:7"):
        parse_baike_line("变电站,{not quoted}", FIX / "baike.csv", 7)
