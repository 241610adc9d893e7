"""Xiaobu raw files -> id pairs (model inputs: common.pair_inputs.IdPairDataset).

Competition format (GAIIC 2021 track 3, and ``data/xiaobu/desensitized_oppo/``)::

    train:  1320 1722 290 1945<TAB>1320 1722 1993 290<TAB>1
    test:   12 23 4160 276<TAB>29 23 169 1495

Each side is a space-separated list of positive integer ids (desensitized
characters). Every line is one pair; a test file's line order is the submission's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.data_files import binary_label, iter_record_lines


@dataclass
class Pair:
    """One Xiaobu pair of desensitized texts: (L_a,) and (L_b,) raw integer ids, its 0/1 label and its id."""

    a: list[int]
    b: list[int]
    label: int | None = None  # 0/1, None when unlabelled
    id: str = ""  # "train:<line index>" / "test:<line index>" (set by the task)


class DataError(ValueError):
    """A malformed data line; the message names file, line number and what was expected."""


def _parse_ids(text: str, where: str, side: str) -> list[int]:
    tokens = text.split(" ")
    if not text or any(t == "" for t in tokens):
        raise DataError(f"{where}: {side} sentence is empty or has a doubled/trailing space, "
                        "expected space-separated integer ids")
    try:
        ids = [int(t) for t in tokens]
    except ValueError:
        bad = next(t for t in tokens if not t.lstrip("-").isdigit())
        raise DataError(f"{where}: {side} sentence holds {bad!r}, expected integer ids") from None
    if min(ids) < 0:
        raise DataError(f"{where}: {side} sentence holds a negative id {min(ids)}, expected ids >= 0")
    return ids


def read_pairs(path: str | Path, labelled: bool | None, limit: int = 0) -> list[Pair]:
    """Read a pair file.

    Args:
        path: a TSV file, one pair a line.
        labelled: True: exactly 3 columns (``ids, ids, label``); False: exactly 2;
            None: either (a label, when present, is checked and kept).
        limit: > 0 reads only the first ``limit`` lines.

    Raises:
        FileNotFoundError: no such file.
        DataError: invalid UTF-8, a wrong column count, an empty side, a non-integer id,
            a label other than 0/1, a blank line before the end, or an empty file, naming ``path:line``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pair file not found: {path}")
    want = {True: "3 columns (ids, ids, label)", False: "2 columns (ids, ids)",
            None: "2 or 3 columns (ids, ids[, label])"}[labelled]
    allowed = {True: (3,), False: (2,), None: (2, 3)}[labelled]
    pairs = []
    for lineno, line in iter_record_lines(path, DataError):  # blank lines: only at the end
        if limit and lineno > limit:
            break
        where = f"{path}:{lineno}"
        cols = line.split("\t")
        if len(cols) not in allowed:
            raise DataError(f"{where}: {len(cols)} tab-separated columns, expected {want}")
        a, b = _parse_ids(cols[0], where, "first"), _parse_ids(cols[1], where, "second")
        label = None
        if len(cols) == 3:
            label = binary_label(cols[2])
            if label is None:
                raise DataError(f"{where}: label {cols[2]!r}, expected 0 or 1")
        pairs.append(Pair(a, b, label))
    if not pairs:
        raise DataError(f"{path}: no pairs in the file")
    return pairs
