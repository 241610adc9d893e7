"""CLUE AFQMC files -> pairs with ids.

CSTS's TSV copy of CLUE AFQMC (``data/xiaobu/pairs/csts_afqmc/``): ``train.txt`` and
``dev.txt`` hold ``s1<TAB>s2<TAB>label`` (label 0/1), ``test.txt`` holds ``s1<TAB>s2``;
no header. Ids are ``<split>:<line>`` (1-based line of the file); CLUE's submission id
of a test pair is ``line - 1`` (CSTS kept CLUE's order: its dev.txt matches CLUE's
dev.json ``idx`` row for row).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.data_files import DataFileError, binary_label, iter_record_lines


@dataclass
class Pair:
    """One AFQMC sentence pair: two texts, its 0/1 label (1 = same meaning) and its id."""

    a: str
    b: str
    label: int | None  # 0/1, None for test
    id: str  # "<split>:<line>"


def read_pairs(path: str | Path, labelled: bool, split: str, limit: int = 0) -> list[Pair]:
    """Every line of ``path`` as a :class:`Pair` (the first ``limit`` when > 0).

    An unlabelled file may carry a third (label) column, which is ignored, so a labelled
    file can be scored with ``predict --test-file``.

    Raises:
        FileNotFoundError: no file.
        DataFileError: a line without the expected columns, an empty text or a label
            other than 0/1, a blank line before the end, or an empty file — naming ``path:line`` and what was
            expected.
    """
    expected = "s1<TAB>s2<TAB>label" if labelled else "s1<TAB>s2"
    pairs = []
    for lineno, line in iter_record_lines(path):  # blank lines: only at the end
        where = f"{path}:{lineno}"
        cols = line.split("\t")
        if len(cols) != 3 and (labelled or len(cols) != 2):
            hint = (" (a JSON record: this task reads tab-separated lines; --task pair reads JSON lines, CSV and "
                    "TSV: competitions/pair/README.md)") if line.lstrip().startswith("{") else ""
            raise DataFileError(f"{where}: {len(cols)} tab-separated columns, expected {expected}{hint}")
        if not cols[0].strip() or not cols[1].strip():
            raise DataFileError(f"{where}: empty text, expected {expected}")
        label = None
        if labelled:
            label = binary_label(cols[2])
            if label is None:
                raise DataFileError(f"{where}: label {cols[2]!r}, expected 0 or 1")
        pairs.append(Pair(cols[0].strip(), cols[1].strip(), label, f"{split}:{lineno}"))
        if limit and len(pairs) == limit:
            break
    if not pairs:
        raise DataFileError(f"{path}: no pairs, expected lines {expected}")
    return pairs


def clue_id(pair: Pair) -> int:
    """CLUE's submission id of a test pair: its 0-based line."""
    return int(pair.id.rsplit(":", 1)[1]) - 1
