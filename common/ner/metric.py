"""Entity-level span metric: micro precision / recall / F1 on exact ``(start, end, type)`` matches.

The CoNLL / CLUENER convention: a predicted entity counts only when its start, end
and type all equal a gold entity's; duplicates within an example count once. Micro
scores pool the counts over all examples and types; the per-type table gives each
type's counts and scores.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from common.ner.spans import Span


def _prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f}


def span_scores(gold: Sequence[Iterable[Span]], pred: Sequence[Iterable[Span]]) -> dict:
    """Micro P/R/F1 and a per-type table.

    Args:
        gold, pred: one iterable of spans per example, same length and order.

    Returns:
        ``{"precision", "recall", "f1", "tp", "n_pred", "n_gold", "per_type": {type:
        {"precision", "recall", "f1", "tp", "n_pred", "n_gold"}}}`` (scores in [0, 1]).

    Raises:
        ValueError: different numbers of examples.
    """
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold examples but {len(pred)} predicted")
    tp, n_pred, n_gold = Counter(), Counter(), Counter()
    for g, p in zip(gold, pred):
        g, p = {Span(*s) for s in g}, {Span(*s) for s in p}
        for s in g:
            n_gold[s.type] += 1
        for s in p:
            n_pred[s.type] += 1
        for s in g & p:
            tp[s.type] += 1
    per_type = {}
    for t in sorted(set(n_gold) | set(n_pred)):
        per_type[t] = {**_prf(tp[t], n_pred[t], n_gold[t]), "tp": tp[t], "n_pred": n_pred[t], "n_gold": n_gold[t]}
    total = (sum(tp.values()), sum(n_pred.values()), sum(n_gold.values()))
    return {**_prf(*total), "tp": total[0], "n_pred": total[1], "n_gold": total[2], "per_type": per_type}


def format_table(scores: dict) -> str:
    """The per-type table and the micro row as aligned text."""
    rows = [f"{'type':<16}{'P':>8}{'R':>8}{'F1':>8}{'gold':>7}{'pred':>7}"]
    for t, s in scores["per_type"].items():
        rows.append(f"{t:<16}{s['precision']:8.4f}{s['recall']:8.4f}{s['f1']:8.4f}{s['n_gold']:7d}{s['n_pred']:7d}")
    rows.append(f"{'micro':<16}{scores['precision']:8.4f}{scores['recall']:8.4f}{scores['f1']:8.4f}"
                f"{scores['n_gold']:7d}{scores['n_pred']:7d}")
    return "\n".join(rows)
