"""Word candidates by cutting the text between weakly bound neighbour characters.

Method (kexue.fm/archives/3913, "基于切分的新词发现"; the ``Word_Finder`` of bojone's
nlp-zero): two adjacent token characters ``a b`` stay in one piece when their pair is
bound, ``PMI(a, b) = log(p(ab) / (p(a) p(b))) > min_pmi`` (natural log; ``p(ab)``
over adjacent token pairs, ``p(a)`` over token characters); every other gap is a
cut. The pieces between cuts, counted over the corpus, are word candidates. Unlike
n-gram discovery (``new_words``) this needs no minimum count for the piece itself,
only for its character pairs, so words seen once or twice in a small corpus are
found: the recall side of the pipeline.

Pieces are then made less redundant the way nlp-zero does it, with a unigram
language model over the pieces: a piece ``w`` is kept only when it is likelier as
one word than as its best split into other pieces by a margin of ``len(w) - 1``
nats (``log p(w) - sum log p(parts) >= len(w) - 1``). Unlike nlp-zero the test is
made once per piece against the counts of the first pass (no re-counting of the
parts of rejected pieces), so the result does not depend on visiting order.

Vectorised: pair counts are one ``np.unique`` of packed codepoint pairs; only the
piece strings themselves go through Python (``collections.Counter``).
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from common.mining.char_codes import SEPARATOR, encode


def pair_pmi(cps: np.ndarray) -> np.ndarray:
    """PMI of each adjacent pair of token characters.

    Args:
        cps: ``(T,)`` uint32 codepoints from ``char_codes.encode``.
    Returns:
        ``(T-1,)`` float64: ``log(c(ab) / N_pairs) - log(c(a) / N) - log(c(b) / N)``
        for the pair at ``(i, i+1)``, ``-inf`` where either side is a separator.
    """
    T = len(cps)
    out = np.full(max(T - 1, 0), -np.inf)
    if T < 2:
        return out
    valid = cps != SEPARATOR
    both = valid[:-1] & valid[1:]
    if not both.any():
        return out
    uni = np.bincount(cps[valid])
    n_chars = int(valid.sum())
    a, b = cps[:-1][both].astype(np.int64), cps[1:][both].astype(np.int64)
    keys = (a << 21) | b  # codepoints are < 2**21
    _, inv, cnt = np.unique(keys, return_inverse=True, return_counts=True)
    n_pairs = int(both.sum())
    out[both] = (np.log(cnt[inv] / n_pairs) - np.log(uni[a] / n_chars) - np.log(uni[b] / n_chars))
    return out


def cut_pieces(text: str, min_pmi: float = 1.0) -> Counter:
    """Count the pieces left after cutting every gap with ``PMI <= min_pmi``.

    Args:
        text: the corpus (lines joined by newlines).
        min_pmi: nats; nlp-zero's default is 1.
    Returns:
        ``Counter`` piece -> occurrences (single characters included).
    """
    cps = encode(text)
    if len(cps) == 0:
        return Counter()
    cut = np.concatenate((pair_pmi(cps) <= min_pmi, [True]))  # cut after position i
    valid = cps != SEPARATOR
    # mark cuts with a separator after each cut position, then split the string once
    marked = np.where(valid, cps, np.uint32(10))
    out = np.empty(2 * len(cps), dtype=np.uint32)
    out[0::2] = marked
    out[1::2] = np.where(cut & valid, np.uint32(10), np.uint32(0))
    joined = out[out != 0].tobytes().decode("utf-32-le")
    return Counter(p for p in joined.split("\n") if p)


def best_split_logp(word: str, logp: dict[str, float], total_logp_floor: float) -> float:
    """Log-probability of the likeliest split of ``word`` into >= 2 known pieces.

    Args:
        word: the string to split.
        logp: piece -> ``log p``; single characters missing from it get ``total_logp_floor``.
        total_logp_floor: log-probability of an unseen single character.
    Returns:
        max over splits into at least two parts of ``sum log p(part)`` (the word itself
        is not allowed as its own part); ``-inf`` when ``len(word) < 2``.
    """
    n = len(word)
    if n < 2:
        return -math.inf
    best = [0.0] + [-math.inf] * n  # best[j]: best log p of word[:j]
    for j in range(1, n + 1):
        for i in range(j):
            part = word[i:j]
            if i == 0 and j == n:
                continue
            lp = logp.get(part)
            if lp is None:
                if j - i > 1:
                    continue
                lp = total_logp_floor
            best[j] = max(best[j], best[i] + lp)
    return best[n]


def mine_pieces(text: str, min_pmi: float = 1.0, min_len: int = 2, max_len: int = 10) -> tuple[list[str], np.ndarray]:
    """Candidate words from cutting (:func:`cut_pieces`) and the redundancy test.

    Args:
        text: the corpus; min_pmi: nats (see :func:`cut_pieces`);
        min_len / max_len: length range of the returned pieces.
    Returns:
        ``(words, counts)``: pieces of ``min_len..max_len`` characters that pass
        ``log p(w) - best_split_logp(w) >= len(w) - 1``, most frequent first (ties
        by first occurrence), and their ``(K,)`` int64 piece counts.
    """
    pieces = cut_pieces(text, min_pmi)
    if not pieces:
        return [], np.zeros(0, dtype=np.int64)
    total = sum(pieces.values())
    logp = {w: math.log(c / total) for w, c in pieces.items()}
    floor = math.log(0.5 / total)
    words, counts = [], []
    for w, c in pieces.most_common():
        if not (min_len <= len(w) <= max_len):
            continue
        if logp[w] - best_split_logp(w, logp, floor) >= len(w) - 1:
            words.append(w)
            counts.append(c)
    return words, np.array(counts, dtype=np.int64)
