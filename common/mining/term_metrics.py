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


# --------------------------------------------------------------- held-out halves
SPLIT_SALT = "term-gold-split-v1"  # changing it re-draws the halves; never change it to chase a score
HALVES = ("tuning", "test")


def gold_half(term: str, salt: str = SPLIT_SALT) -> str:
    """``"tuning"`` or ``"test"``: a fixed, process-independent hash of the term.

    The lowest bit of ``md5(salt + term)`` decides, so a term stays in its half
    whatever else is in the list and in every run (Python's ``hash`` is salted per
    process and would re-draw the halves).
    """
    import hashlib

    return HALVES[hashlib.md5((salt + term).encode("utf-8")).digest()[0] & 1]


def split_gold(gold: Iterable[str], salt: str = SPLIT_SALT) -> dict[str, set[str]]:
    """``{"tuning": set, "test": set}``: the gold terms split by :func:`gold_half`."""
    out: dict[str, set[str]] = {h: set() for h in HALVES}
    for t in gold:
        out[gold_half(t, salt)].add(t)
    return out


def half_scores(ranked: Sequence[str], half: set[str], other: set[str],
                ks: Sequence[int] = (100, 500, 1000, 2000)) -> dict[str, float]:
    """Scores of a ranked list against one gold half, the other half held aside.

    Three readings of precision@k, all reported (none is tuned towards a target):

    - ``est_p@k`` (the headline): ``|top-k ∩ half| / (k · f)``, ``f = |half| /
      (|half| + |other|)``. Since membership of a half is a hash independent of the
      method, ``E[|top-k ∩ half|] = f · |top-k ∩ gold|``, so this is an unbiased
      estimate of precision@k against the whole gold list that uses only the hits on
      terms no choice was made on. It is on the same scale as ``list_scores``' p@k.
    - ``filt_p@k``: the list with the other half's terms removed (they are known to
      whoever tuned on them), hits on this half / k. Its gold density is about half
      the full list's, so it reads lower than ``est_p@k`` for the same ranking.
    - ``raw_p@k``: ``|top-k ∩ half| / k``, with nothing removed.

    ``recall = |list ∩ half| / |half|``; ``n`` and ``hits`` are of the whole list.

    Raises:
        ValueError: empty ``half``.
    """
    if not half:
        raise ValueError("empty gold half")
    terms = dedupe(ranked)
    f = len(half) / (len(half) + len(other))
    filtered = [t for t in terms if t not in other]
    out: dict[str, float] = {"n": len(terms), "hits": sum(1 for t in terms if t in half)}
    for k in ks:
        raw = precision_at_k(terms, half, k)
        out[f"est_p@{k}"] = raw / f
        out[f"filt_p@{k}"] = precision_at_k(filtered, half, k)
        out[f"raw_p@{k}"] = raw
    out["recall"] = out["hits"] / len(half)
    return out
