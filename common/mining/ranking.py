"""Term-likeness learned without gold: positive-unlabelled learning from a general dictionary.

A good domain term is (a) a word and (b) far more frequent in the domain than in
general text. (b) is the contrast ratio (``contrast``). For (a) no gold is needed:
the candidates that a general dictionary (jieba's ``dict.txt``) already lists are
known words (labelled positives); every other candidate is unlabelled (a new word,
or a fragment such as 应检查 / 变压器的). A classifier that separates labelled
from unlabelled candidates on statistics that say nothing about the dictionary
itself (count, cohesion, neighbour entropies, length, how often the edge characters
start / end dictionary words) ranks candidates like the true P(word | x): under
the "selected completely at random" assumption of Elkan & Noto (KDD 2008, "Learning
classifiers from only positive and unlabeled data") P(labelled | x) = c · P(word | x)
with a constant c. This is the distant supervision of kexue.fm/archives/6540's
pipeline made learnable: the dictionary supervises what a word looks like, the
domain corpus decides which words are terms.

The domain ratio is kept out of the features (dictionary words have dictionary
counts, so the ratio would leak the label). Scores are cross-fitted: each
candidate's logit comes from a model that did not see it in training, so
dictionary words do not get their own label back.
"""

from __future__ import annotations

import numpy as np

from common.mining.new_words import Candidates

FEATURES = ("log_count", "cohesion", "left_entropy", "right_entropy", "min_entropy", "length",
            "start_char", "end_char", "start_char_inner", "end_char_inner", "log_count_per_len")


def edge_char_tables(dictionary: dict[str, int]) -> tuple[dict[str, float], dict[str, float]]:
    """How word-initial and word-final each character is, from a general dictionary.

    Returns:
        ``(start, end)``: char -> ``log((s + 1) / (a - s + 1))`` with ``s`` the number of
        dictionary words (length >= 2) starting (ending) with the char and ``a`` the
        number containing it: a log-odds, high for 变/电 at the start, 的/了 low.
    """
    start: dict[str, int] = {}
    end: dict[str, int] = {}
    anywhere: dict[str, int] = {}
    for w in dictionary:
        if len(w) < 2:
            continue
        start[w[0]] = start.get(w[0], 0) + 1
        end[w[-1]] = end.get(w[-1], 0) + 1
        for c in set(w):
            anywhere[c] = anywhere.get(c, 0) + 1
    s_tab = {c: float(np.log((start.get(c, 0) + 1) / (a - start.get(c, 0) + 1))) for c, a in anywhere.items()}
    e_tab = {c: float(np.log((end.get(c, 0) + 1) / (a - end.get(c, 0) + 1))) for c, a in anywhere.items()}
    return s_tab, e_tab


def candidate_features(c: Candidates, start: dict[str, float], end: dict[str, float]) -> np.ndarray:
    """``(K, F)`` float64 features of the candidates, columns in :data:`FEATURES` order.

    Characters unseen in the dictionary (ASCII, rare CJK) get 0 edge scores.
    """
    words = c.words
    length = np.array([len(w) for w in words], dtype=np.float64)
    s0 = np.array([start.get(w[0], 0.0) for w in words])
    e0 = np.array([end.get(w[-1], 0.0) for w in words])
    s1 = np.array([start.get(w[-1], 0.0) for w in words])  # a word-initial char at the end: glued
    e1 = np.array([end.get(w[0], 0.0) for w in words])  # a word-final char at the start: glued
    logc = np.log(c.count.astype(np.float64))
    h = np.minimum(c.left_entropy, c.right_entropy)
    return np.column_stack([logc, c.cohesion, c.left_entropy, c.right_entropy, h, length,
                            s0, e0, s1, e1, logc / length])


def pu_word_logits(features: np.ndarray, labelled: np.ndarray, folds: int = 5,
                   seed: int = 42) -> np.ndarray:
    """Cross-fitted logits of P(labelled | x): the learned word-likeness.

    Args:
        features: ``(K, F)`` from :func:`candidate_features`.
        labelled: ``(K,)`` bool, True for candidates the dictionary lists.
        folds: cross-fitting folds (each candidate is scored by the model of the
            fold that held it out).
        seed: fold assignment and model seed.
    Returns:
        ``(K,)`` float64 logits (monotone in P(word | x) under Elkan-Noto's assumption).
    Raises:
        ValueError: shape mismatch, or fewer than ``folds`` labelled / unlabelled rows.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(labelled, dtype=bool)
    if features.shape[0] != len(y):
        raise ValueError(f"{features.shape[0]} feature rows for {len(y)} labels")
    if min(y.sum(), (~y).sum()) < folds:
        raise ValueError(f"need >= {folds} labelled and unlabelled candidates, got {y.sum()} and {(~y).sum()}")
    out = np.zeros(len(y))
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, y):
        model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.1, max_leaf_nodes=31,
                                               l2_regularization=1.0, random_state=seed)
        model.fit(features[tr], y[tr])
        p = np.clip(model.predict_proba(features[te])[:, 1], 1e-6, 1 - 1e-6)
        out[te] = np.log(p) - np.log1p(-p)
    return out


def load_pos_dictionary(path: str) -> dict[str, str]:
    """``word -> POS tag`` from a jieba-format ``word freq tag`` dictionary (lines
    without a tag are skipped).

    Raises:
        FileNotFoundError / ValueError: as ``text_files.read_utf8``.
    """
    from common.mining.text_files import read_utf8

    out: dict[str, str] = {}
    for line in read_utf8(path).splitlines():
        parts = line.split()
        if len(parts) >= 3:
            out[parts[0]] = parts[2]
    return out


def is_noun_tag(tag: str) -> bool:
    """jieba/ICTCLAS noun tags: n, nr, ns, nt, nz, ng..., plus vn and an (nominal uses)."""
    return tag.startswith("n") or tag in ("vn", "an")


def head_noun_table(tags: dict[str, str]) -> dict[str, float]:
    """How often a dictionary word ending in each character is a noun, as log-odds.

    Chinese compounds are head-final: 电压互感器 is a 器, 局部放电 a 放电. So the last
    character of a candidate says whether it can head a noun phrase (a term) or
    ends a verb phrase or clause fragment (检查, 应按, 情况下). Distant supervision
    from the general dictionary's POS tags, no gold.

    Returns:
        char -> ``log((nouns + 1) / (others + 1))`` over dictionary words of length
        >= 2 ending in that char.
    """
    noun: dict[str, int] = {}
    other: dict[str, int] = {}
    for w, t in tags.items():
        if len(w) < 2:
            continue
        d = noun if is_noun_tag(t) else other
        d[w[-1]] = d.get(w[-1], 0) + 1
    chars = set(noun) | set(other)
    return {c: float(np.log((noun.get(c, 0) + 1) / (other.get(c, 0) + 1))) for c in chars}


def head_noun_scores(words: list[str], table: dict[str, float]) -> np.ndarray:
    """``(K,)`` log-odds that each word is noun-headed (0 for a last char the table lacks)."""
    return np.array([table.get(w[-1], 0.0) for w in words], dtype=np.float64)
