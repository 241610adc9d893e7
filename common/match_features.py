"""The exact-match bit of a text pair: does a token occur in the other text?

DrQA's exact-match feature (Chen et al., "Reading Wikipedia to Answer Open-Domain
Questions", ACL 2017), used here for matching: it hands a small encoder trained on
a few thousand pairs the lexical overlap it cannot learn from them. Sohu and
Xiaobu add it to the token embeddings through a zero-initialised 2-row embedding.
"""

from __future__ import annotations

from typing import Iterable


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
