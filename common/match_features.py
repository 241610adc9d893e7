"""Lexical matching features of a text pair: the exact-match bit and pair statistics.

The exact-match bit is DrQA's feature (Chen et al., "Reading Wikipedia to Answer
Open-Domain Questions", ACL 2017), used here for matching: it hands a small encoder
trained on a few thousand pairs the lexical overlap it cannot learn from them. Sohu and
Xiaobu add it to the token embeddings through a zero-initialised 2-row embedding.

The pair statistics (lengths, n-gram Jaccard and containment) are the hand features of
the Quora question-pairs solutions: the ``gbm`` ensemble member is fitted on them, and
``--pair-statistics`` adds them to a neural model's pooled output. The ``gbm`` member
also reads :func:`alignment_statistics` (word overlap, longest common substring, shared
numbers and names; ``--alignment-statistics`` gives them to a neural model too, being
unfitted) and :func:`word2vec_alignment` (soft word matches, fitted on the texts).
"""

from __future__ import annotations

import difflib
import logging
import re
import zlib
from collections import Counter
from functools import lru_cache
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


@lru_cache(maxsize=1 << 18)
def word_spans(text: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """(jieba's words of ``text``, lowercased; for each character of ``text`` the index of its word).

    Cached per process.

    ``jieba.lcut`` (precise mode, HMM on) keeps every character, so the words tile the text.
    """
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    words = tuple(w.lower() for w in jieba.lcut(text))
    owner = [i for i, w in enumerate(words) for _ in w]
    return words, tuple(owner)


def is_content_word(word: str) -> bool:
    """A word of 2+ characters with a letter, digit or CJK character: what the word features read."""
    return len(word) > 1 and any(c.isalnum() for c in word)


def word_bucket(word: str, buckets: int) -> int:
    """``word``'s row 1..``buckets``-1 of a hashed word embedding (CRC32: the same in every process; 0 is none).

    ``buckets`` >= 2 (1 has no row for a word: ZeroDivisionError).
    """
    return zlib.crc32(word.encode("utf-8")) % (buckets - 1) + 1


def token_word_features(text: str, offsets: Sequence[tuple[int, int]], other: str,
                        buckets: int = 0) -> tuple[list[int], list[int]]:
    """Char+word inputs of one side of a pair: per token, its jieba word's hashed id and word-level exact-match bit.

    A token belongs to the jieba word (:func:`word_spans`) holding its first character. Only a
    content word (:func:`is_content_word`) counts: a token of a one-character word, of punctuation,
    or without characters (an empty offset span) gets 0 and 0. The match bit is DrQA's exact-match
    feature one level up (Chen et al. 2017): 1 when the token's word is among ``other``'s words
    (the whole other text), a sharper signal than a shared character (的, 在); the word id
    gives a character encoder the segmentation, as word-level Chinese encoders do (WoBERT,
    kexue.fm/archives/7758) without changing its vocabulary.

    Args:
        text: this side's text; ``offsets``: T (start, end) character spans of its tokens
            (a fast tokenizer's ``offset_mapping``).
        other: the other side's text.
        buckets: rows of the hashed word embedding (:func:`word_bucket`); 0: word ids all 0.

    Returns:
        (word_ids, word_match): two int lists of length T.
    """
    words, owner = word_spans(text)
    others = {w for w in word_spans(other)[0] if is_content_word(w)}
    ids, match = [], []
    for start, end in offsets:
        word = words[owner[start]] if end > start and start < len(owner) else ""
        content = is_content_word(word)
        ids.append(word_bucket(word, buckets) if content and buckets > 1 else 0)
        match.append(int(content and word in others))
    return ids, match


def ngram_match_flags(ids_a: Sequence[int], ids_b: Sequence[int], n: int,
                      ignore: Iterable[int] = ()) -> tuple[list[int], list[int]]:
    """Per token: 1 if it lies in an ``n``-gram that also occurs in the other sequence, else 0.

    The exact-match bit (:func:`exact_match_flags`) one level up, for id texts without word
    boundaries (desensitized Xiaobu): a shared run of ``n`` ids is a shared phrase, where a
    shared single id may be a function word. An n-gram holding an ``ignore`` id never matches.

    Args:
        ids_a, ids_b: the two id sequences (no special tokens).
        n: the n-gram length, >= 2.

    Returns:
        (flags_a, flags_b): 0/1 lists of the lengths of ``ids_a`` and ``ids_b``.

    Raises:
        ValueError: ``n`` < 2.
    """
    if n < 2:
        raise ValueError(f"n-gram match needs n >= 2, got {n}")
    ignore = set(ignore)

    def grams(ids: Sequence[int]) -> list[tuple]:
        return [tuple(ids[i:i + n]) for i in range(len(ids) - n + 1)]

    def flags(ids: Sequence[int], other: set) -> list[int]:
        out = [0] * len(ids)
        for i, gram in enumerate(grams(ids)):
            if gram in other and not ignore.intersection(gram):
                out[i:i + n] = [1] * n
        return out

    grams_a, grams_b = set(grams(ids_a)), set(grams(ids_b))
    return flags(ids_a, grams_b), flags(ids_b, grams_a)


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
    """Statistics of the pairs with their two texts exchanged, by a column permutation (nothing recomputed).

    ``stats``: (..., 13) of :func:`pair_statistics`, (..., 15) of :func:`alignment_statistics`, or
    (..., 13 | 15 | 28) of :func:`scaled_statistics` with either or both.

    Raises:
        ValueError: another number of columns.
    """
    if stats.shape[-1] not in _SWAPPED_ORDERS:
        raise ValueError(f"statistics have {stats.shape[-1]} columns; expected one of {sorted(_SWAPPED_ORDERS)}")
    return stats[..., _SWAPPED_ORDERS[stats.shape[-1]]]


def num_statistics(pair: bool, alignment: bool) -> int:
    """Columns of :func:`scaled_statistics` with these options (0: no statistics)."""
    return NUM_STATISTICS * bool(pair) + NUM_ALIGNMENT * bool(alignment)


def scaled_statistics(first: Sequence, second: Sequence, pair: bool = True, alignment: bool = False) -> np.ndarray:
    """(N, S) statistics of N pairs as a neural input, float32: S = :func:`num_statistics` (pair, alignment).

    The 13 :func:`pair_statistics` columns with ``pair``, then the 15 :func:`alignment_statistics`
    columns with ``alignment``. Counts and lengths enter as ``log1p`` (the three length columns;
    the shared-token, substring, number and name counts); every other column is a share in
    [0, 1] already. Nothing is fitted, so a saved run needs no state to compute them again.
    """
    parts = [np.zeros((len(first), 0))]
    if pair:
        stats = pair_statistics(first, second)
        stats[:, :3] = np.log1p(stats[:, :3])
        parts.append(stats)
    if alignment:
        aligned = alignment_statistics(first, second)
        aligned[:, ALIGNMENT_COUNTS] = np.log1p(aligned[:, ALIGNMENT_COUNTS])
        parts.append(aligned)
    return np.concatenate(parts, axis=1).astype(np.float32)


# ------------------------------------------- alignment features of the gbm member
NUM_ALIGNMENT = 15  # columns of alignment_statistics
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# jieba.posseg tags of names: person, place, organisation, other proper noun, Latin-script word
PROPER_NOUN_TAGS = ("nr", "ns", "nt", "nz", "eng")


@lru_cache(maxsize=1 << 18)
def proper_nouns(text: str) -> frozenset[str]:
    """The names in a string: words of 2+ characters that ``jieba.posseg`` tags as a person, place,
    organisation, other proper noun or Latin-script word (``PROPER_NOUN_TAGS``). Cached per process."""
    import logging

    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    return frozenset(p.word for p in jieba.posseg.lcut(text) if p.flag in PROPER_NOUN_TAGS and len(p.word) > 1)


def content_tokens(text: Sequence) -> list:
    """The units a pair is aligned on: jieba's words of a string without punctuation or space
    (words with at least one letter, digit or CJK character), or the ids of an id sequence as they are."""
    if not isinstance(text, str):
        return list(text)
    from common.tfidf_reference import segmented

    return [w for w in segmented(text).split(" ") if any(c.isalnum() for c in w)]


def _longest_common_run(x: Sequence, y: Sequence) -> tuple[int, float]:
    """(length of the longest common contiguous run, difflib's similarity ratio 2M/T) of two sequences."""
    matcher = difflib.SequenceMatcher(None, x, y, autojunk=False)
    return matcher.find_longest_match(0, len(x), 0, len(y)).size, matcher.ratio()


# Column order of alignment_statistics(a, b) that gives alignment_statistics(b, a): the two
# containment shares and the a-only/b-only and in-a/in-b name counts trade places. (difflib's ratio and
# longest run are taken as symmetric; on rare ties they can differ by order.)
ALIGNMENT_SWAPPED_ORDER = (0, 2, 1, 3, 4, 5, 6, 7, 8, 9, 10, 12, 11, 14, 13)
ALIGNMENT_COUNTS = [3, 4, 8, 10, 11, 12, 13, 14]  # columns of alignment_statistics that are counts, not shares
# swapped_statistics' permutation per number of columns (13, 15, or both: 28)
_SWAPPED_ORDERS = {NUM_STATISTICS: SWAPPED_ORDER, NUM_ALIGNMENT: ALIGNMENT_SWAPPED_ORDER,
                   NUM_STATISTICS + NUM_ALIGNMENT: SWAPPED_ORDER + tuple(NUM_STATISTICS + i
                                                                         for i in ALIGNMENT_SWAPPED_ORDER)}


def alignment_statistics(first: Sequence, second: Sequence, max_length: int = 512) -> np.ndarray:
    """(N, 15) word- and sequence-level overlap of N pairs, beside :func:`pair_statistics` for a tree model.

    Columns: Jaccard of the two :func:`content_tokens` sets, the share of a's set found in b
    and of b's in a, the number of shared tokens; the longest common substring (contiguous
    run of characters or ids) in tokens, its share of the shorter text, and difflib's
    ``SequenceMatcher.ratio`` (2·matches / total length); Jaccard of the numbers written in the
    two texts and the number of numbers only one of them holds; Jaccard of their
    :func:`proper_nouns`, the number shared, only in a, only in b, in a and in b (news pairs
    about the same event share their figures and names). The number and name columns are 0
    for id texts. Nothing is fitted. The sequence columns read the first ``max_length``
    tokens of each text (difflib is quadratic in the worst case).
    """
    rows = []
    for x, y in zip(first, second):
        wa, wb = set(content_tokens(x)), set(content_tokens(y))
        shared = len(wa & wb)
        run, ratio = _longest_common_run(x[:max_length], y[:max_length])
        strings = isinstance(x, str)
        na, nb = (set(_NUMBER.findall(x)), set(_NUMBER.findall(y))) if strings else (set(), set())
        ea, eb = (proper_nouns(x), proper_nouns(y)) if strings else (frozenset(), frozenset())
        rows.append([shared / max(len(wa | wb), 1), shared / max(len(wa), 1), shared / max(len(wb), 1), shared,
                     run, run / max(min(len(x), len(y), max_length), 1), ratio,
                     len(na & nb) / max(len(na | nb), 1), len(na ^ nb),
                     len(ea & eb) / max(len(ea | eb), 1), len(ea & eb), len(ea - eb), len(eb - ea), len(ea), len(eb)])
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), NUM_ALIGNMENT)


def _stable_hash(text: str) -> int:
    """gensim's vector-seeding hash made independent of PYTHONHASHSEED (same vectors in every process)."""
    return zlib.crc32(text.encode("utf-8"))


def word2vec_alignment(first: Sequence, second: Sequence, dim: int = 100, epochs: int = 10,
                       seed: int = 0, fit_rows: int | None = None) -> np.ndarray:
    """(N, 3) soft overlap of N pairs under word2vec vectors fitted on their own texts.

    A CBOW word2vec (gensim's default; Mikolov et al., 2013) is fitted on the
    :func:`content_tokens` of all 2N texts (no labels: the test pairs may be among them), or with
    ``fit_rows`` on the first ``fit_rows`` pairs' texts only (in the same order: the vectors of a call
    on those pairs alone), the other pairs then scored with them (a later test set by the vectors a
    member was fitted with);
    then for each pair, with S the cosine matrix of a's and b's token vectors, the mean over
    a's tokens of their best match in b (S.max(1).mean()), the same from b, and the cosine of
    the two mean vectors: a synonym counts as a partial match, which the n-gram features miss.
    One worker and a fixed hash, so the vectors are the same for a seed at any process count.
    Tokens seen once are not embedded; a text with no embedded token gives 0s.
    """
    from gensim.models import Word2Vec

    gensim_log = logging.getLogger("gensim")
    if gensim_log.level == logging.NOTSET:  # its INFO lines (a dozen a fit, each fold and member) flooded the
        gensim_log.setLevel(logging.WARNING)  # ensemble's output (probe AC); a level set by the user is kept
    tokens = [[str(t) for t in content_tokens(x)] for x in list(first) + list(second)]
    n = len(first)
    fit = n if fit_rows is None else fit_rows
    corpus = tokens[:fit] + tokens[n:n + fit]  # a's texts, then b's: the order of a call on these pairs alone
    if max(Counter(t for text in corpus for t in text).values(), default=0) < 2:
        return np.zeros((len(first), 3))  # no token to embed
    vectors = Word2Vec(corpus, vector_size=dim, window=5, min_count=2, workers=1, epochs=epochs, seed=seed,
                       hashfxn=_stable_hash).wv

    def unit(words: list[str]) -> np.ndarray:
        rows = np.array([vectors[w] for w in words if w in vectors.key_to_index]).reshape(-1, dim)
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-9)

    out = np.zeros((n, 3))
    for i in range(n):
        a, b = unit(tokens[i]), unit(tokens[n + i])
        if len(a) and len(b):
            similarity = a @ b.T
            ma, mb = a.mean(axis=0), b.mean(axis=0)
            out[i] = [similarity.max(axis=1).mean(), similarity.max(axis=0).mean(),
                      ma @ mb / max(np.linalg.norm(ma) * np.linalg.norm(mb), 1e-9)]
    return out
