"""Vectorised 64-bit n-gram hashes, and counting of given strings in a text.

An n-gram starting at position i hashes to ``sum_j R[c[i+j]] * B**j  (mod 2**64)``,
where ``R`` is a fixed pseudo-random 64-bit value per codepoint and ``B`` an odd
64-bit constant. Hashes of length n are built from those of length n-1 with one
vector multiply-add (``h_n = h_{n-1} + R[c[i+n-1]] * B**(n-1)``), so counting all
n-grams of one length is one hash pass plus one sort. Different strings of the
same length collide with probability about 2**-64 per pair (about 3e-4 for 1e8
distinct n-grams); a collision would merge two n-grams' counts. Hashes are only
ever compared within one length.
"""

from __future__ import annotations

import numpy as np

from common.mining.char_codes import MAX_CODEPOINT, SEPARATOR, encode

_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd: powers are distinct mod 2**64
_SYMBOLS = np.random.default_rng(20190403).integers(
    1, 2**63, size=MAX_CODEPOINT, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_SYMBOLS[SEPARATOR] = 0


def base_power(k: int) -> np.uint64:
    """``B**k mod 2**64``."""
    return np.uint64(pow(int(_BASE), k, 2**64))


def symbol_values(cps: np.ndarray) -> np.ndarray:
    """``(T,)`` uint64 random value per codepoint (0 for separators)."""
    return _SYMBOLS[cps]


def extend(h_prev: np.ndarray, sym: np.ndarray, n: int) -> np.ndarray:
    """Hashes of length ``n`` at positions ``0..T-n`` from those of length ``n-1``.

    Args:
        h_prev: ``(T-n+2,)`` uint64 hashes of length n-1 (``sym`` itself for n=2).
        sym: ``(T,)`` uint64 symbol values.
    Returns:
        ``(T-n+1,)`` uint64.
    """
    with np.errstate(over="ignore"):
        return h_prev[: len(sym) - n + 1] + sym[n - 1:] * base_power(n - 1)


def hash_at(sym: np.ndarray, pos: np.ndarray, n: int) -> np.ndarray:
    """Hashes of the length-``n`` n-grams starting at positions ``pos``.

    Args:
        sym: ``(T,)`` uint64 symbol values; pos: ``(M,)`` int64 with ``pos + n <= T``.
    Returns:
        ``(M,)`` uint64, equal to what :func:`extend` gives at those positions.
    """
    out = np.zeros(len(pos), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            out += sym[pos + j] * base_power(j)
    return out


def hash_strings(words: list[str]) -> np.ndarray:
    """``(len(words),)`` uint64 hash of each word (same function as on texts).

    Words must consist of token characters only (see ``char_codes``); others hash
    as separators and will never match a text n-gram.
    """
    out = np.zeros(len(words), dtype=np.uint64)
    if not words:
        return out
    cps = encode("\n".join(words))
    sym = symbol_values(cps)
    starts = np.cumsum([0] + [len(w) + 1 for w in words[:-1]])
    lengths = np.array([len(w) for w in words])
    for n in np.unique(lengths):
        sel = np.flatnonzero(lengths == n)
        out[sel] = hash_at(sym, starts[sel], int(n))
    return out


def count_strings(cps: np.ndarray, words: list[str]) -> np.ndarray:
    """How often each word occurs (overlapping occurrences count) in an encoded text.

    Args:
        cps: ``(T,)`` codepoints from ``char_codes.encode``.
        words: strings of token characters.
    Returns:
        ``(len(words),)`` int64 counts. One hash pass and one sort per distinct word
        length; a word containing a non-token character gets 0.
    """
    counts = np.zeros(len(words), dtype=np.int64)
    if not words:
        return counts
    sym = symbol_values(cps)
    valid = cps != SEPARATOR
    lengths = np.array([len(w) for w in words])
    wh = hash_strings(words)
    h = sym.copy()
    ok = valid.copy()
    for n in range(1, int(lengths.max()) + 1):
        if n > 1:
            h = extend(h, sym, n)
            ok = ok[:-1] & valid[n - 1:]
        sel = np.flatnonzero(lengths == n)
        if len(sel) == 0:
            continue
        keys = np.sort(h[ok])
        lo = np.searchsorted(keys, wh[sel], side="left")
        hi = np.searchsorted(keys, wh[sel], side="right")
        counts[sel] = hi - lo
    bad = np.array([not all(c.isascii() and c.isalnum() or "\u4e00" <= c <= "\u9fff"
                            or "\u3400" <= c <= "\u4dbf" for c in w) for w in words])
    counts[bad] = 0
    return counts
