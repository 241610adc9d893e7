"""New-word discovery: every frequent n-gram scored by cohesion and boundary freedom.

Method (Matrix67, "互联网时代的社会语言学：基于SNS的文本数据挖掘", 2012; kexue.fm/archives/3491
and /archives/6540 for the power-domain use): a string is a word candidate when

- it is frequent: ``count >= min_count``;
- its characters stick together (cohesion): for every binary split ``w = a + b``,
  ``PMI(a, b) = log(N * c(w) / (c(a) * c(b)))`` is large; the score is the minimum
  over the ``n-1`` splits (natural log; N = number of token characters);
- it is free at both ends (boundary freedom): the entropies of the characters seen
  just left and just right of its occurrences are high. A text boundary (separator
  or start/end of text) counts as a distinct neighbour each time it occurs.

Implementation: no Python loop over characters or n-grams, and no hashing (counts
are exact). Characters become dense int ids; each frequent n-gram gets a dense
rank; the (n+1)-grams are the sorted int64 keys ``rank(n-gram at i) * (V+1) +
id(char at i+n)`` (packed with the position into one int64 so ``np.sort`` carries
it). Counts are run lengths of the sorted keys; the same runs give the
right-neighbour entropy of the n-grams, and a second sort on the left character
gives the left one. Only occurrences of frequent n-grams are sorted (an n-gram can
only be frequent if its prefix is), so long lengths touch few positions. Memory:
a handful of ``(T,)`` int64 arrays plus one ``(T,)`` int32 count array per length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from common.mining.char_codes import MAX_CODEPOINT, SEPARATOR, encode


@dataclass
class Candidates:
    """Frequent n-grams (``2 <= len <= max_n``) of one corpus, with their scores.

    All arrays have shape ``(K,)`` and are aligned with ``words``.

    Attributes:
        words: the strings.
        count: occurrences in the corpus (overlapping).
        cohesion: min over binary splits of PMI (nats).
        left_entropy / right_entropy: neighbour entropies (nats).
        total_chars: N, the number of token characters in the corpus.
    """

    words: list[str]
    count: np.ndarray
    cohesion: np.ndarray
    left_entropy: np.ndarray
    right_entropy: np.ndarray
    total_chars: int

    def select(self, mask: np.ndarray) -> "Candidates":
        """The candidates where ``mask`` (``(K,)`` bool) is true."""
        idx = np.flatnonzero(mask)
        return Candidates([self.words[i] for i in idx], self.count[idx], self.cohesion[idx],
                          self.left_entropy[idx], self.right_entropy[idx], self.total_chars)

    def __len__(self) -> int:
        return len(self.words)


def _run_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Indices where a new run of equal values starts in a sorted array."""
    if len(sorted_keys) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))


def _sort_with_positions(keys: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort non-negative int64 ``keys`` and carry ``pos`` along.

    Packs ``key << b | pos`` into one int64 and sorts that (about 2x faster than
    ``argsort``) when the bits fit, else falls back to ``argsort``.
    Returns ``(sorted_keys, pos_in_that_order)``, both ``(M,)`` int64.
    """
    if len(keys) == 0:
        return keys, pos
    b = max(int(pos.max()).bit_length(), 1)
    if int(keys.max()).bit_length() + b <= 63:
        packed = np.sort((keys << b) | pos)
        return packed >> b, packed & ((1 << b) - 1)
    order = np.argsort(keys)
    return keys[order], pos[order]


def _append_stats(cols: dict[str, list[np.ndarray]], **stats: np.ndarray) -> None:
    """Add one n-gram length's (K,) statistics (count, cohesion, left/right entropy) to the columns."""
    for name, values in stats.items():
        cols[name].append(values)


def _entropy_from_runs(group: np.ndarray, runs: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Neighbour entropy per group from the run lengths of its real neighbours.

    Args:
        group: ``(R,)`` group id of each (group, neighbour) run, boundaries excluded.
        runs: ``(R,)`` occurrences in each run.
        totals: ``(G,)`` occurrences per group, boundaries included; each boundary is
            its own neighbour with count 1, contributing ``1 log 1 = 0`` below.
    Returns:
        ``(G,)`` float64 ``H = log N_g - sum_c n_gc log n_gc / N_g`` (nats).
    """
    clogc = np.bincount(group, weights=runs * np.log(runs), minlength=len(totals))
    tot = totals.astype(np.float64)
    return np.log(tot) - clogc / tot


def discover(text: str | np.ndarray, min_count: int = 3, max_n: int = 8) -> Candidates:
    """Count and score all n-grams with ``2 <= n <= max_n`` and ``count >= min_count``.

    Exact counts (no hashing): each frequent n-gram gets a dense rank; the
    (n+1)-grams are then the sorted pairs ``(rank of the n-gram at i, char at i+n)``.
    One sort per length gives both the (n+1)-gram counts and the right-neighbour
    entropy of the n-grams; a second sort gives the left-neighbour entropy.

    Args:
        text: the corpus (lines joined by newlines) or its ``char_codes.encode`` array.
        min_count: frequency threshold (>= 2).
        max_n: longest n-gram considered.
    Returns:
        :class:`Candidates`, unfiltered by cohesion or entropy (apply thresholds with
        :func:`select_words`). Order: by length, then lexicographic by char id.
    Raises:
        ValueError: ``min_count < 2`` or ``max_n < 2``.
    """
    if min_count < 2 or max_n < 2:
        raise ValueError(f"need min_count >= 2 and max_n >= 2, got {min_count}, {max_n}")
    cps = encode(text) if isinstance(text, str) else np.asarray(text, dtype=np.uint32)
    chars = cps.tobytes().decode("utf-32-le")  # str view for slicing out words
    T = len(cps)
    valid = cps != SEPARATOR
    N = int(valid.sum())
    uni = np.bincount(cps[valid], minlength=MAX_CODEPOINT).astype(np.int64)
    present = uni > 0
    present[SEPARATOR] = False
    ids = (np.cumsum(present) * present)[cps].astype(np.int64)  # (T,) 1..V, 0 = separator
    V = int(present.sum())
    # length 1: frequent chars get dense ranks
    f1 = present & (uni >= min_count)
    rank_tab = np.where(f1, np.cumsum(f1) - 1, -1)
    rank = rank_tab[cps].astype(np.int64)  # (T,) rank of the frequent n-gram starting at i, or -1
    gcount = uni[f1]  # (G,) counts of the frequent n-grams
    rep = np.zeros(len(gcount), dtype=np.int64)  # one occurrence per n-gram
    rep[rank[rank >= 0]] = np.flatnonzero(rank >= 0)
    counts_at = {1: np.where(valid, uni[cps], 0).astype(np.int32)}  # n -> (T,) count of the n-gram at i
    out_words: list[str] = []
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("count", "coh", "hl", "hr")}
    for n in range(1, max_n + 1):
        occ = np.flatnonzero(rank >= 0)  # positions of frequent n-grams
        if len(occ) == 0:
            break
        g = rank[occ]
        r_at = occ + n
        rnb = np.where(r_at < T, ids[np.minimum(r_at, T - 1)], 0)
        keys, spos = _sort_with_positions(g * (V + 1) + rnb, occ)  # sorted (n-gram, right char)
        starts = _run_starts(keys)
        runs = np.diff(np.append(starts, len(keys)))
        run_g, run_nb = keys[starts] // (V + 1), keys[starts] % (V + 1)
        if n >= 2:
            real = run_nb != 0
            hr = _entropy_from_runs(run_g[real], runs[real], gcount)
            lnb = np.where(occ > 0, ids[occ - 1], 0)
            lk = np.sort(g * (V + 1) + lnb)
            ls = _run_starts(lk)
            lruns = np.diff(np.append(ls, len(lk)))
            lreal = lk[ls] % (V + 1) != 0
            hl = _entropy_from_runs(lk[ls][lreal] // (V + 1), lruns[lreal], gcount)
            coh = np.full(len(gcount), np.inf)
            for k in range(1, n):  # cohesion: min over splits of log(N c(w) / (c(a) c(b)))
                ca = counts_at[k][rep].astype(np.float64)
                cb = counts_at[n - k][rep + k].astype(np.float64)
                coh = np.minimum(coh, np.log(N * gcount / (ca * cb)))
            out_words.extend([chars[p:p + n] for p in rep.tolist()])
            _append_stats(cols, count=gcount, coh=coh, hl=hl, hr=hr)
        # (n+1)-grams = runs with a real right char; keep the frequent ones
        keep = (run_nb != 0) & (runs >= min_count)
        if n == max_n or not keep.any():
            break
        new_rank_of_run = np.where(keep, np.cumsum(keep) - 1, -1)
        occ_rank = np.repeat(new_rank_of_run, runs)  # per sorted occurrence
        rank = np.full(T, -1, dtype=np.int64)
        sel = occ_rank >= 0
        rank[spos[sel]] = occ_rank[sel]
        gcount = runs[keep]
        rep = spos[starts[keep]]
        cnt = np.zeros(T, dtype=np.int32)
        cnt[spos[sel]] = np.repeat(runs, runs)[sel]
        counts_at[n + 1] = cnt

    def cat(k: str, dtype) -> np.ndarray:
        return np.concatenate(cols[k]).astype(dtype) if cols[k] else np.zeros(0, dtype)

    return Candidates(out_words, cat("count", np.int64), cat("coh", np.float64),
                      cat("hl", np.float64), cat("hr", np.float64), N)


def select_words(c: Candidates, min_count: int = 3, min_cohesion: float = 1.0,
                 min_entropy: float = 1.0) -> Candidates:
    """Keep candidates passing all three thresholds.

    Args:
        min_count: occurrences; min_cohesion: nats, compared with the min-split PMI;
        min_entropy: nats, compared with ``min(left_entropy, right_entropy)``.
    """
    mask = ((c.count >= min_count) & (c.cohesion >= min_cohesion)
            & (np.minimum(c.left_entropy, c.right_entropy) >= min_entropy))
    return c.select(mask)
