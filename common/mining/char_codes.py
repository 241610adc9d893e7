"""Text -> array of Unicode codepoints with separators: the unit every counter works on.

Only "token characters" can be part of an n-gram: CJK unified ideographs (basic
block and extension A), ASCII letters and ASCII digits (nlp-zero keeps the same
set, ``[\\u4e00-\\u9fa50-9a-zA-Z]``). Every other character (punctuation,
spaces, newlines, symbols) becomes the separator ``0``, so no n-gram spans it.
Codepoints are used directly as symbol ids, so arrays built from different
corpora share one alphabet and their n-gram hashes are comparable.
"""

from __future__ import annotations

import numpy as np

SEPARATOR = 0
MAX_CODEPOINT = 0x110000  # symbols are < 2**21


def _token_table() -> np.ndarray:
    table = np.zeros(MAX_CODEPOINT, dtype=bool)
    table[0x4E00:0xA000] = True  # CJK unified ideographs
    table[0x3400:0x4DC0] = True  # extension A
    table[ord("0"): ord("9") + 1] = True
    table[ord("A"): ord("Z") + 1] = True
    table[ord("a"): ord("z") + 1] = True
    return table


TOKEN_TABLE = _token_table()


def encode(text: str) -> np.ndarray:
    """Codepoints of ``text`` with non-token characters replaced by ``SEPARATOR``.

    Args:
        text: any string (lines joined with newlines are fine: newline is a separator).
    Returns:
        ``(T,)`` uint32 array, ``T = len(text)``; position i holds ``ord(text[i])``
        or 0. Costs one pass (no Python loop): ``text.encode('utf-32-le')``.
    """
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).copy()
    cps[~TOKEN_TABLE[cps]] = SEPARATOR
    return cps


def decode(cps: np.ndarray, start: int, length: int) -> str:
    """The string at ``cps[start:start+length]`` (no separators expected inside)."""
    return cps[start:start + length].astype(np.uint32).tobytes().decode("utf-32-le")
