"""Domain contrast: keep words far more frequent in the domain than in general text.

Method (kexue.fm/archives/6540, "电力专业领域词汇挖掘"): new words found in the domain
corpus that are about as common in general text (进行, 要求, 工作) are not domain
terms. The score of a word is the smoothed ratio of its relative frequencies,

    ratio(w) = (c_dom(w) / N_dom) / ((c_gen(w) + alpha) / N_gen),

computed against each general source (the jieba dictionary's word counts; substring
counts in general raw text) and combined by taking the minimum, so a word must be
rare in every source. ``alpha`` (pseudo-count) keeps words unseen in general text
from getting an infinite ratio, so among them frequent domain words rank first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.mining.char_codes import encode
from common.mining.ngram_hash import count_strings
from common.mining.text_files import read_utf8


@dataclass
class GeneralCounts:
    """Word counts from one general-domain source.

    Attributes:
        name: label for reports (``jieba_dict``, ``general_text``).
        counts: ``(K,)`` int64 count of each queried word.
        total: N_gen, the source's total in ``unit``.
        unit: ``"tokens"`` for a dictionary, ``"chars"`` (token characters) for text.
    """

    name: str
    counts: np.ndarray
    total: int
    unit: str = "chars"


def load_frequency_dict(path: str | Path) -> dict[str, int]:
    """A ``word freq [tag]`` per line dictionary (jieba's ``dict.txt`` format).

    Raises:
        FileNotFoundError / ValueError: missing file, invalid UTF-8 or a line whose
            second field is not an integer (names file and line).
    """
    path = Path(path)
    table: dict[str, int] = {}
    for i, line in enumerate(read_utf8(path).splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2 or not parts[1].isdigit():
            raise ValueError(f"{path}:{i}: expected 'word freq [tag]', got {line[:60]!r}")
        table[parts[0]] = table.get(parts[0], 0) + int(parts[1])
    return table


def dict_counts(words: list[str], table: dict[str, int], name: str = "jieba_dict") -> GeneralCounts:
    """Counts of ``words`` in a frequency dictionary (0 when absent)."""
    return GeneralCounts(name, np.array([table.get(w, 0) for w in words], dtype=np.int64),
                         int(sum(table.values())), "tokens")


def text_counts(words: list[str], text: str, name: str = "general_text") -> GeneralCounts:
    """Substring counts of ``words`` in a general raw text (vectorised, see ``ngram_hash``)."""
    cps = encode(text)
    return GeneralCounts(name, count_strings(cps, words), int((cps != 0).sum()))


def log_ratio(domain_counts: np.ndarray, domain_total: int | dict[str, int], general: list[GeneralCounts],
              alpha: float = 1.0) -> np.ndarray:
    """``min`` over general sources of ``log ratio(w)`` (see module docstring).

    Args:
        domain_counts: ``(K,)`` counts in the domain corpus.
        domain_total: N_dom, one number for every source, or one per unit (``{"tokens": n, "chars": m}``), so
            that each source is compared in its own unit: a segmentation's token counts against a dictionary's
            per token, against a text's per character.
        general: one :class:`GeneralCounts` per source, aligned with ``domain_counts``.
        alpha: pseudo-count added to the general counts (> 0).
    Returns:
        ``(K,)`` float64 natural-log ratios; 0 means as frequent as in general text.
    Raises:
        ValueError: no general source, ``alpha <= 0`` or misaligned arrays.
        KeyError: ``domain_total`` per unit without a source's unit.
    """
    if not general:
        raise ValueError("need at least one general-domain source")
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    counts = np.asarray(domain_counts, dtype=np.float64)
    out = np.full(len(counts), np.inf)
    for g in general:
        if len(g.counts) != len(counts):
            raise ValueError(f"{g.name}: {len(g.counts)} counts for {len(counts)} words")
        p_dom = counts / (domain_total[g.unit] if isinstance(domain_total, dict) else domain_total)
        p_gen = (g.counts + alpha) / g.total
        out = np.minimum(out, np.log(p_dom) - np.log(p_gen))
    return out
