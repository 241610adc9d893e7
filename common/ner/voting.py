"""Majority voting over the entity spans of several NER models: the k-fold ensemble of any head.

Each model gives one set of :class:`~common.ner.spans.Span` per text; the ensemble keeps a span (start, end, type)
that more than half of the models predict. Span-level voting is the usual way NER k-fold models are combined in
competitions (CLUENER / CMeEE solutions vote or average GlobalPointer scores); it needs no scores, so a CRF's tags
vote as a GlobalPointer's spans do, and models trained on folds with different entity types still agree on names.
Flat models vote to flat output: two overlapping spans can each have more than half of the votes only if some model
predicted both.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

from common.ner.spans import Span


def vote_spans(predictions: Sequence[Sequence[Sequence[Span]]], min_votes: int | None = None) -> list[list[Span]]:
    """The spans of each text that at least ``min_votes`` of the models predict.

    Args:
        predictions: (M models) x (N texts) x spans (a model's spans of a text; repeats count once).
        min_votes: votes a span needs; None: a strict majority, ``M // 2 + 1``.

    Returns:
        N sorted span lists.

    Raises:
        ValueError: no model, models with different numbers of texts, or ``min_votes`` outside ``[1, M]``.
    """
    if not predictions:
        raise ValueError("no model's predictions to vote on")
    m, n = len(predictions), len(predictions[0])
    if any(len(p) != n for p in predictions):
        raise ValueError(f"the models predicted {sorted({len(p) for p in predictions})} texts, not one count")
    need = m // 2 + 1 if min_votes is None else min_votes
    if not 1 <= need <= m:
        raise ValueError(f"min_votes {need}: expected 1..{m} for {m} models")
    voted = []
    for i in range(n):
        votes = Counter(Span(*s) for p in predictions for s in set(map(tuple, p[i])))
        voted.append(sorted(s for s, c in votes.items() if c >= need))
    return voted
