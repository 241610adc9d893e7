"""Seed expansion through word2vec similarity, with a threshold that rises with depth.

Method (kexue.fm/archives/6540): train word2vec on the corpus segmented with the
mined vocabulary, then grow the term set breadth-first from a few seed terms: at
depth d a neighbour is admitted when its cosine similarity to an admitted word of
depth d-1 is at least ``threshold(d)``. The threshold rises with depth so the set
does not drift away from the seeds (each hop away from a seed must be surer).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


def threshold_schedule(depth: int, start: float, step: float, maximum: float) -> float:
    """Similarity threshold at ``depth`` (1 = direct neighbours of the seeds).

    ``min(start + step * (depth - 1), maximum)``.

    Raises:
        ValueError: ``depth < 1`` or ``step < 0`` (the threshold must not fall).
    """
    if depth < 1:
        raise ValueError(f"depth starts at 1, got {depth}")
    if step < 0:
        raise ValueError(f"step must be >= 0 so the threshold rises with depth, got {step}")
    return min(start + step * (depth - 1), maximum)


def stable_hash(text: str) -> int:
    """Process-independent string hash for gensim's ``hashfxn`` (Python's ``hash``
    is salted per process, which makes vector initialisation unreproducible)."""
    return zlib.crc32(text.encode("utf-8"))


def train_word2vec(sentences: list[list[str]], dim: int = 100, window: int = 5, min_count: int = 3,
                   epochs: int = 10, sg: bool = True, seed: int = 42, workers: int = 1):
    """A gensim ``Word2Vec`` model; deterministic when ``workers == 1``.

    Args:
        sentences: token lists (from ``segmentation.segment``).
    Returns:
        ``gensim.models.Word2Vec`` with ``wv`` of shape ``(V, dim)``.
    Raises:
        ValueError: no token occurs ``min_count`` times (a corpus too small to embed; gensim's own error is a
            traceback about an unbuilt vocabulary).
    """
    from collections import Counter

    from gensim.models import Word2Vec

    counts = Counter(token for sentence in sentences for token in sentence)
    if not counts:
        raise ValueError("word2vec: the corpus holds no word to embed (only punctuation or spaces?)")
    if max(counts.values()) < min_count:
        raise ValueError(f"word2vec: no word occurs {min_count} times in the corpus's {len(sentences)} lines "
                         f"({len(counts)} distinct words): too small a corpus to embed (lower --w2v-min-count, "
                         "or give a larger corpus)")

    return Word2Vec(sentences=sentences, vector_size=dim, window=window, min_count=min_count,
                    sg=int(sg), epochs=epochs, seed=seed, workers=workers, hashfxn=stable_hash)


@dataclass(frozen=True)
class Admitted:
    """One word admitted by expansion: its depth, similarity and the word that led to it."""

    word: str
    depth: int
    similarity: float
    parent: str


def expand(seeds: Sequence[str], vocab: Sequence[str], vectors: np.ndarray,
           threshold: Callable[[int], float], max_depth: int = 4, topn: int = 20,
           accept: Callable[[str], bool] = lambda w: True) -> list[Admitted]:
    """Breadth-first expansion from ``seeds`` over cosine similarity.

    Args:
        seeds: start words; those absent from ``vocab`` are skipped.
        vocab: ``(V,)`` words, aligned with ``vectors``.
        vectors: ``(V, D)`` float embeddings (normalised here).
        threshold: depth -> minimum similarity (e.g. a partial of
            :func:`threshold_schedule`).
        max_depth: hops from the seeds.
        topn: neighbours examined per frontier word.
        accept: extra test a word must pass to be admitted (junk filter, domain ratio).
    Returns:
        Admitted words (seeds excluded), in admission order: by depth, then by
        similarity, highest first. Each word is admitted once, at its smallest depth.
    """
    index = {w: i for i, w in enumerate(vocab)}
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)  # (V, D)
    seen = {w for w in seeds if w in index}
    frontier = [w for w in seeds if w in index]
    out: list[Admitted] = []
    for depth in range(1, max_depth + 1):
        if not frontier:
            break
        t = threshold(depth)
        sims = unit[[index[w] for w in frontier]] @ unit.T  # (F, V)
        best: dict[str, Admitted] = {}
        k = min(topn + 1, sims.shape[1])
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]  # (F, k) unordered
        for f, row in enumerate(top):
            for j in row:
                w, s = vocab[j], float(sims[f, j])
                if s < t or w in seen or not accept(w):
                    continue
                if w not in best or s > best[w].similarity:
                    best[w] = Admitted(w, depth, s, frontier[f])
        level = sorted(best.values(), key=lambda a: (-a.similarity, a.word))
        out.extend(level)
        seen.update(best)
        frontier = [a.word for a in level]
    return out
