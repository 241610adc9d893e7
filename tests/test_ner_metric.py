"""The entity-level span metric against a hand-computed case."""

import pytest

from common.ner.metric import format_table, span_scores
from common.ner.spans import Span


def test_micro_and_per_type_by_hand():
    gold = [[Span(0, 1, "PER"), Span(3, 4, "LOC")], [Span(0, 2, "ORG"), Span(1, 2, "LOC")]]
    pred = [[Span(0, 1, "PER"), Span(3, 4, "ORG"), Span(3, 4, "ORG")],  # duplicate counts once; wrong type
            [Span(0, 2, "ORG"), Span(1, 3, "LOC"), Span(5, 5, "PER")]]  # wrong end; spurious
    s = span_scores(gold, pred)
    # tp = PER(0,1) + ORG(0,2) = 2; predicted 5 distinct; gold 4
    assert (s["tp"], s["n_pred"], s["n_gold"]) == (2, 5, 4)
    assert s["precision"] == pytest.approx(2 / 5) and s["recall"] == pytest.approx(2 / 4)
    assert s["f1"] == pytest.approx(2 * 0.4 * 0.5 / 0.9)
    assert s["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "n_pred": 1, "n_gold": 2}
    assert s["per_type"]["PER"]["precision"] == pytest.approx(0.5) and s["per_type"]["PER"]["recall"] == 1.0
    assert s["per_type"]["ORG"]["f1"] == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert "micro" in format_table(s)


def test_empty_and_length_mismatch():
    assert span_scores([[]], [[]])["f1"] == 0.0
    with pytest.raises(ValueError):
        span_scores([[]], [])
