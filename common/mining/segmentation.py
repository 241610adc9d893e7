"""Segment a corpus with a discovered vocabulary (jieba + custom words).

jieba's maximum-probability segmentation over its DAG, with its general dictionary
plus the mined words (added with ``Tokenizer.add_word``; with ``freq=None`` jieba
picks a frequency high enough to keep each added word whole, its
``suggest_freq`` rule). HMM is off so unknown strings are not glued into new
words behind our back. Only tokens made of token characters are kept (see
``char_codes``): punctuation and spaces split sentences and are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import jieba

from common.mining.char_codes import TOKEN_TABLE

jieba.setLogLevel(logging.WARNING)


def is_token_word(word: str) -> bool:
    """True when every character is a token character (CJK, ASCII letter or digit)."""
    return bool(word) and all(TOKEN_TABLE[ord(c)] if ord(c) < len(TOKEN_TABLE) else False for c in word)


def build_tokenizer(words: Iterable[str]) -> jieba.Tokenizer:
    """A fresh jieba tokenizer (default dictionary) with ``words`` added."""
    tok = jieba.Tokenizer()
    tok.initialize()
    for w in words:
        tok.add_word(w)
    return tok


def segment(lines: Iterable[str], tokenizer: jieba.Tokenizer) -> list[list[str]]:
    """Token lists, one per non-empty line, keeping only token-character tokens.

    Args:
        lines: raw text lines.
        tokenizer: from :func:`build_tokenizer`.
    Returns:
        list of ``[token, ...]``; lines with no tokens are dropped.
    """
    out = []
    for line in lines:
        toks = [t for t in tokenizer.cut(line, HMM=False) if is_token_word(t)]
        if toks:
            out.append(toks)
    return out
