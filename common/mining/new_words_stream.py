"""New-word discovery on a corpus too large for memory: the same exact counts, in chunks.

Same method and output as :func:`common.mining.new_words.discover` (Matrix67's
cohesion and neighbour entropy, kexue.fm/archives/6540), but the corpus is never
held whole: it is encoded once to a ``uint16`` code file on disk (token characters
are all below U+A000, see ``char_codes``), and each n-gram length is one streamed
pass over fixed-size chunks of that file (Apriori: an (n+1)-gram can only be
frequent if its n-gram prefix is).

Pass n reads, per chunk, the rank of the frequent n-gram starting at each position
(``rank_n``, an ``int32`` file written by pass n-1; -1 = not frequent) and forms
the keys ``rank * (V+1) + id(next char)`` and ``rank * (V+1) + id(previous char)``.
Their counts are summed over chunks into one table of distinct keys (a sorted
merge, ``np.unique``). The right-key table *is* the (n+1)-gram count table: it
gives the right-neighbour entropy of the n-grams and the frequent (n+1)-grams
(``F_{n+1}``); the left-key table gives the left entropy. Then ``rank_{n+1}`` is
written chunk by chunk by looking each position's key up in ``F_{n+1}``
(``np.searchsorted``). Cohesion reads the sub-n-gram ranks at one occurrence of
each word from the rank files. Counts are exact (no hashing, no pruning), so the
result equals ``discover`` on the same text (tested).

Memory: one chunk's arrays (a few ``(C,)`` int64, C = ``chunk_chars``) plus the
key tables, whose size is the number of distinct (frequent n-gram, neighbour)
pairs: it grows with the vocabulary of the corpus, not with its length (a corpus
repeated k times has the same tables). Each chunk's table is merged into the running
one at once (a stable radix sort of the two, ``new_words.radix_argsort``), so at most
two tables are held. The code and rank files are read with ``np.fromfile`` one chunk
(or one sorted batch of positions) at a time, never memory-mapped: pages of a mapped
file count towards the process's resident memory, which then grew with the corpus.
Disk: ``2 T`` bytes of codes and ``4 T`` bytes per n-gram length of ranks, in a
temporary folder removed at the end.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from common.mining.char_codes import MAX_CODEPOINT, SEPARATOR, encode
from common.mining.corpus_stream import Progress
from common.mining.new_words import (
    Candidates,
    _append_stats,
    _entropy_from_runs,
    radix_argsort,
)

CODE_DTYPE = np.uint16  # every token character is < U+A000


def encode_blocks(blocks: Iterable[list[str]], path: Path,
                  progress: Progress | None = None) -> tuple[int, np.ndarray]:
    """Write the codes of all blocks to ``path`` (``uint16``, lines separated by 0).

    Returns:
        ``(T, unigram counts)``: T codes written; ``(MAX_CODEPOINT,)`` int64 counts
        of each token character.
    """
    uni = np.zeros(MAX_CODEPOINT, dtype=np.int64)
    T = 0
    with open(path, "wb") as f:
        for lines in blocks:
            cps = encode("\n".join(lines) + "\n")
            uni += np.bincount(cps, minlength=MAX_CODEPOINT)
            cps.astype(CODE_DTYPE).tofile(f)
            T += len(cps)
            if progress is not None:
                progress.update(len(cps))
    uni[SEPARATOR] = 0
    return T, uni


def _chunks(T: int, chunk: int) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` covering ``0..T``; n-grams never cross a separator,
    so a chunk only needs ``max_n`` codes of look-ahead, added by the caller."""
    return [(s, min(s + chunk, T)) for s in range(0, T, chunk)]


def _reduce_sorted(k: np.ndarray, c: np.ndarray, p: np.ndarray):
    """Sum the counts of runs of equal keys in sorted ``k``; keep each run's first ``p``."""
    if len(k) == 0:
        return k, c, p
    starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
    return k[starts], np.add.reduceat(c, starts), p[starts]


class _KeyTable:
    """Distinct int64 keys with summed counts and first positions, merged after every chunk.

    Chunks must be added in text order with ascending positions: the stable sorts then
    keep the earliest position of each key first, which is the one kept.
    """

    def __init__(self) -> None:
        z = np.zeros(0, np.int64)
        self.keys, self.counts, self.first = z, z, z

    def add(self, keys: np.ndarray, pos: np.ndarray) -> None:
        """Count ``(M,)`` int64 keys seen at ``(M,)`` ascending positions into the table."""
        perm = radix_argsort(keys)
        k, c, p = _reduce_sorted(keys[perm], np.ones(len(keys), np.int64), pos[perm])
        k = np.concatenate((self.keys, k))
        c = np.concatenate((self.counts, c))
        p = np.concatenate((self.first, p))
        perm = radix_argsort(k)  # stable: the table's (earlier) entry of a key comes first
        self.keys, self.counts, self.first = _reduce_sorted(k[perm], c[perm], p[perm])

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(keys, counts, first positions)``, keys sorted ascending, all ``(U,)`` int64."""
        return self.keys, self.counts, self.first


def _read(path: Path, dtype, start: int, end: int) -> np.ndarray:
    """Elements ``start:end`` (clipped to the file) of a flat binary array file."""
    itemsize = np.dtype(dtype).itemsize
    start = max(start, 0)
    return np.fromfile(path, dtype=dtype, count=max(end - start, 0), offset=start * itemsize)


def _gather(path: Path, dtype, positions: np.ndarray, chunks: list[tuple[int, int]]) -> np.ndarray:
    """``array[positions]`` of a flat binary array file, read one chunk at a time.

    Args:
        positions: ``(K,)`` int64 indices (any order, all inside the file).
        chunks: ``[(start, end), ...]`` covering the file (sets the memory per read).
    Returns:
        ``(K,)`` array of ``dtype``.
    """
    out = np.empty(len(positions), dtype=dtype)
    order = np.argsort(positions, kind="stable")
    sp = positions[order]
    for s, e in chunks:
        lo, hi = np.searchsorted(sp, [s, e])
        if hi > lo:
            out[order[lo:hi]] = _read(path, dtype, s, e)[sp[lo:hi] - s]
    return out


def discover_file(blocks: Iterable[list[str]], min_count: int = 3, max_n: int = 8,
                  chunk_chars: int = 10_000_000, workdir: str | Path | None = None,
                  progress: bool = True, total_chars: int = 0) -> Candidates:
    """Exact :func:`~common.mining.new_words.discover` over a stream of line blocks.

    Args:
        blocks: lists of lines (``corpus_stream.iter_blocks``); read once.
        min_count: frequency threshold (>= 2); max_n: longest n-gram (>= 2).
        chunk_chars: positions handled at once per pass (sets the peak memory).
        workdir: where the temporary code/rank files go (default: system temp).
        progress: print chars/s per pass to stderr.
        total_chars: expected size, for the percentage in the progress lines.
    Returns:
        :class:`Candidates`, equal to ``discover`` on the lines joined by newlines
        (same words, order and statistics).
    Raises:
        ValueError: bad arguments, or a stream with no token character.
    """
    if min_count < 2 or max_n < 2:
        raise ValueError(f"need min_count >= 2 and max_n >= 2, got {min_count}, {max_n}")
    if chunk_chars < 1:
        raise ValueError(f"chunk_chars must be >= 1, got {chunk_chars}")
    with tempfile.TemporaryDirectory(prefix="discover-", dir=workdir) as tmp:
        tmp = Path(tmp)
        pr = Progress("encoding", total_chars, enabled=progress)
        T, uni = encode_blocks(blocks, tmp / "codes.u16", pr)
        pr.close()
        if T == 0 or uni.sum() == 0:
            raise ValueError("no token character (CJK, ASCII letter or digit) in the corpus")
        codes = tmp / "codes.u16"
        N = int(uni.sum())
        present = uni > 0
        id_tab = (np.cumsum(present) * present).astype(np.int64)  # codepoint -> 1..V, 0 = separator
        V = int(present.sum())
        B = V + 1
        f1 = present & (uni >= min_count)
        rank_tab = np.where(f1, np.cumsum(f1) - 1, -1).astype(np.int32)
        gcount = uni[f1]  # counts of the frequent n-grams of the current length, by rank
        counts_by_len = {1: gcount}
        chunks = _chunks(T, chunk_chars)

        def rank_path(n: int) -> Path:
            return tmp / f"rank{n}.i32"

        def code_block(s: int, e: int, before: int, after: int) -> tuple[np.ndarray, int]:
            """Codes ``s - before : e + after`` (clipped) and the index of the first one."""
            lo = max(s - before, 0)
            return _read(codes, CODE_DTYPE, lo, min(e + after, T)).astype(np.int64), lo

        with open(rank_path(1), "wb") as f:
            for s, e in chunks:
                rank_tab[_read(codes, CODE_DTYPE, s, e)].tofile(f)
        out_words: list[str] = []
        cols: dict[str, list[np.ndarray]] = {k: [] for k in ("count", "coh", "hl", "hr")}
        first_pos = np.zeros(0, dtype=np.int64)  # one occurrence of each frequent n-gram (n >= 2)
        for n in range(1, max_n + 1):
            if len(gcount) == 0:
                break
            right, left = _KeyTable(), _KeyTable()
            pr = Progress(f"counting {n + 1}-grams" if n < max_n else f"scoring {n}-grams", T,
                          enabled=progress)
            for s, e in chunks:
                r = _read(rank_path(n), np.int32, s, e).astype(np.int64)
                occ = np.flatnonzero(r >= 0)
                g = r[occ]
                pos = occ + s
                cb, lo = code_block(s, e, 1, n)
                nxt = pos + n
                rid = np.zeros(len(pos), dtype=np.int64)
                inside = nxt < T
                rid[inside] = id_tab[cb[nxt[inside] - lo]]
                right.add(g * B + rid, pos)
                if n >= 2:
                    lid = np.zeros(len(pos), dtype=np.int64)
                    has = pos > 0
                    lid[has] = id_tab[cb[pos[has] - 1 - lo]]
                    left.add(g * B + lid, pos)
                pr.update(e - s)
            pr.close()
            rkeys, rcnt, rfirst = right.result()
            run_g, run_nb = rkeys // B, rkeys % B
            if n >= 2:
                real = run_nb != 0
                hr = _entropy_from_runs(run_g[real], rcnt[real], gcount)
                lkeys, lcnt, _ = left.result()
                lreal = lkeys % B != 0
                hl = _entropy_from_runs(lkeys[lreal] // B, lcnt[lreal], gcount)
                # cohesion as in new_words.discover: the split with the largest c(a) c(b). Ranks of
                # length j are read once per length, at the prefix (j) and suffix (n - j) offsets
                K = len(first_pos)
                sub = {}
                for j in range(1, n):
                    rj = _gather(rank_path(j), np.int32, np.concatenate((first_pos, first_pos + n - j)), chunks)
                    sub[j] = counts_by_len[j][rj[:K]], counts_by_len[j][rj[K:]]  # (prefix, suffix) counts
                prod = np.zeros(K, dtype=np.int64)
                for k in range(1, n):
                    prod = np.maximum(prod, sub[k][0] * sub[n - k][1])
                coh = np.log(N * gcount / prod.astype(np.float64))
                grams = _gather(codes, CODE_DTYPE, (first_pos[:, None] + np.arange(n)).ravel(), chunks)
                flat = grams.astype(np.uint32).tobytes().decode("utf-32-le")  # K words of n chars
                out_words.extend(flat[i:i + n] for i in range(0, len(flat), n))
                _append_stats(cols, count=gcount, coh=coh, hl=hl, hr=hr)
            keep = (run_nb != 0) & (rcnt >= min_count)
            if n == max_n or not keep.any():
                break
            fkeys = rkeys[keep]  # sorted: the frequent (n+1)-grams, rank = index
            gcount = rcnt[keep]
            first_pos = rfirst[keep]
            counts_by_len[n + 1] = gcount
            with open(rank_path(n + 1), "wb") as f:
                for s, e in chunks:
                    r = _read(rank_path(n), np.int32, s, e).astype(np.int64)
                    cb, lo = code_block(s, e, 0, n)
                    new = np.full(e - s, -1, dtype=np.int32)
                    occ = np.flatnonzero(r >= 0)
                    nxt = occ + s + n
                    inside = nxt < T
                    occ, nxt = occ[inside], nxt[inside]
                    key = r[occ] * B + id_tab[cb[nxt - lo]]
                    j = np.minimum(np.searchsorted(fkeys, key), len(fkeys) - 1)
                    hit = fkeys[j] == key
                    new[occ[hit]] = j[hit]
                    new.tofile(f)

    def cat(k: str, dtype) -> np.ndarray:
        return np.concatenate(cols[k]).astype(dtype) if cols[k] else np.zeros(0, dtype)

    return Candidates(out_words, cat("count", np.int64), cat("coh", np.float64),
                      cat("hl", np.float64), cat("hr", np.float64), N)
