"""Metrics of a ranked term list against a gold term set.

precision@k = |top-k ∩ gold| / k (k larger than the list: divided by k all the
same, so a short list is not rewarded); recall = |list ∩ gold| / |gold|;
precision = |list ∩ gold| / |list|; F1 their harmonic mean. Duplicates in the
list count once (first position).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def dedupe(terms: Iterable[str]) -> list[str]:
    """Terms in first-seen order, each once."""
    seen: set[str] = set()
    out = []
    for t in terms:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def precision_at_k(ranked: Sequence[str], gold: set[str], k: int) -> float:
    """Share of the first ``k`` terms that are gold (denominator ``k``).

    Raises:
        ValueError: ``k < 1``.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return sum(1 for t in dedupe(ranked)[:k] if t in gold) / k


def list_scores(ranked: Sequence[str], gold: set[str],
                ks: Sequence[int] = (100, 500, 1000, 2000)) -> dict[str, float]:
    """``{"n", "hits", "p@k"..., "precision", "recall", "f1"}`` of one ranked list.

    Raises:
        ValueError: empty gold set.
    """
    if not gold:
        raise ValueError("empty gold set")
    terms = dedupe(ranked)
    hits = sum(1 for t in terms if t in gold)
    p = hits / len(terms) if terms else 0.0
    r = hits / len(gold)
    out: dict[str, float] = {"n": len(terms), "hits": hits}
    for k in ks:
        out[f"p@{k}"] = precision_at_k(terms, gold, k)
    out.update(precision=p, recall=r, f1=2 * p * r / (p + r) if p + r else 0.0)
    return out
