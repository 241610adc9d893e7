"""Lexical matching features of a text pair: the exact-match bit and pair statistics.

The exact-match bit is DrQA's feature (Chen et al., "Reading Wikipedia to Answer
Open-Domain Questions", ACL 2017), used here for matching: it hands a small encoder
trained on a few thousand pairs the lexical overlap it cannot learn from them. Sohu and
Xiaobu add it to the token embeddings through a zero-initialised 2-row embedding.

The pair statistics (lengths, n-gram Jaccard and containment) are the hand features of
the Quora question-pairs solutions: the ``gbm`` ensemble member is fitted on them, and
``--pair-statistics`` adds them to a neural model's pooled output.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np


def exact_match_flags(ids_a: list[int], ids_b: list[int], ignore: Iterable[int] = ()) -> tuple[list[int], list[int]]:
    """Per token: 1 if the same token id occurs in the other text, else 0.

    Args:
        ids_a, ids_b: the two token id sequences (no special tokens).
        ignore: ids that never match (unknown, padding, separators).

    Returns:
        (flags_a, flags_b): 0/1 lists of the lengths of ``ids_a`` and ``ids_b``.
    """
    ignore = set(ignore)
    set_a, set_b = set(ids_a) - ignore, set(ids_b) - ignore
    return [int(t in set_b) for t in ids_a], [int(t in set_a) for t in ids_b]


NUM_STATISTICS = 13  # columns of pair_statistics


def _ngrams(text: Sequence, n: int) -> set:
    return {tuple(text[i:i + n]) for i in range(len(text) - n + 1)}


def pair_statistics(first: Sequence, second: Sequence) -> np.ndarray:
    """(N, 13) dense overlap statistics of N pairs, for a tree model (nothing fitted).

    Lengths of a and b, their absolute and relative difference; Jaccard of the 1-, 2-
    and 3-gram sets; for 1- and 2-grams, the share of a's n-grams found in b and of b's
    in a; the share of a's and b's tokens that occur in the other text (DrQA's
    exact-match bit, :func:`exact_match_flags`). Texts are strings (characters) or
    sequences of ids.
    """
    rows = []
    for x, y in zip(first, second):
        la, lb = len(x), len(y)
        row = [la, lb, abs(la - lb), abs(la - lb) / max(la, lb, 1)]
        grams = [(_ngrams(x, n), _ngrams(y, n)) for n in (1, 2, 3)]
        row += [len(ga & gb) / max(len(ga | gb), 1) for ga, gb in grams]
        for ga, gb in grams[:2]:
            row += [len(ga & gb) / max(len(ga), 1), len(ga & gb) / max(len(gb), 1)]
        fa, fb = exact_match_flags(list(x), list(y))
        row += [sum(fa) / max(la, 1), sum(fb) / max(lb, 1)]
        rows.append(row)
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), NUM_STATISTICS)


# Column order of pair_statistics(a, b) that gives pair_statistics(b, a): the lengths, the
# containment shares and the match shares trade places; the differences and Jaccards are symmetric.
SWAPPED_ORDER = (1, 0, 2, 3, 4, 5, 6, 8, 7, 10, 9, 12, 11)


def swapped_statistics(stats: np.ndarray) -> np.ndarray:
    """(..., 13) statistics of the pairs with their two texts exchanged, from (..., 13) ``stats`` of
    :func:`pair_statistics` or :func:`scaled_statistics` (a column permutation, nothing recomputed)."""
    return stats[..., SWAPPED_ORDER]


def scaled_statistics(first: Sequence, second: Sequence) -> np.ndarray:
    """(N, 13) :func:`pair_statistics` as a neural input: the three length columns as ``log1p``, float32.

    Every other column is a share in [0, 1] already; nothing is fitted, so a saved run
    needs no state to compute them again.
    """
    stats = pair_statistics(first, second)
    stats[:, :3] = np.log1p(stats[:, :3])
    return stats.astype(np.float32)
