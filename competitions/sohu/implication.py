"""One text pair asked in both groups: a B (same event) match implies an A (same topic) match.

Sohu 2021 asks group A whether two texts share a topic (loose) and group B whether they report the
same event (strict). Many pairs are asked in both groups: in the short-short files 3,083 unordered
pairs appear in A and in B, 1,557 of them labelled in both. An event match is a topic match, and the
labels agree: (A, B) = (0, 0) 1,082 times, (1, 0) 257, (1, 1) 215, (0, 1) twice, and one pair is
labelled both ways in B. So a row whose twin in the other group is labelled is decided by that label
in one direction:

- an A row whose B twin is labelled 1 is a topic match: its probability becomes 1;
- a B row whose A twin is labelled 0 is no event match: its probability becomes 0.

The other two cases (B twin 0, A twin 1) only shift the odds and are left to the model. Nothing here
is fitted: the rule is the task's definition. The submission applies it with the labelled train and
valid files as evidence (``--label-implication``). The same rule read forwards gives new training
rows (``--implied-labels``, :func:`implied_rows`): a pair labelled 1 in B is an A positive, one
labelled 0 in A a B negative, for pairs the data never asks in that group. ``--implied-labels A``
keeps the A positives only: measured, they lift the A F1 of every model, while the B negatives cut
B's positive share from 12.5% to 7.9% and lowered the feature members (RESULTS.md).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from competitions.sohu.data import SUBTASKS, Example

# (group of the row, the twin's label that decides it) -> the probability it is given
RULES = {("A", 1): 1.0, ("B", 0): 0.0}
IMPLIES = {("B", 1): "A", ("A", 0): "B"}  # (group, label) of a labelled row -> the group where it holds too
# --implied-labels: the groups that receive implied rows
IMPLIED_GROUPS = {"none": (), "A": ("A",), "B": ("B",), "both": ("A", "B")}


def implied_groups(value: str | bool) -> tuple[str, ...]:
    """The groups ``--implied-labels`` gives implied rows to: ``none``, ``A`` (A positives from B positives),
    ``B`` (B negatives from A negatives) or ``both``. The flag's earlier boolean, in a run saved before the
    choice (``True``) or spelt on a command line (``"true"``), means ``both``; its false means ``none``.

    Raises:
        ValueError: any other value.
    """
    value = {True: "both", False: "none", "true": "both", "false": "none"}.get(value, value)
    if value not in IMPLIED_GROUPS:
        raise ValueError(f"--implied-labels must be one of none|A|B|both, got {value!r}")
    return IMPLIED_GROUPS[value]


def _pair(e: Example) -> frozenset:
    return frozenset((e.source, e.target))  # unordered: 7 of the 3,083 twins swap source and target


def twin_labels(examples: Sequence[Example], evidence: Sequence[Example]) -> np.ndarray:
    """The label of each example's twin: the same unordered text pair, in the other group, among ``evidence``.

    Args:
        examples: N rows of any split (labels not read).
        evidence: labelled rows (e.g. the train and valid files); their ``label`` is read.

    Returns:
        (N,) int8: the twin's label 0/1, or -1 where ``evidence`` holds no twin or twins that
        disagree (the pair labelled both ways in that group).

    Raises:
        ValueError: an evidence row without a label.
    """
    seen: dict[tuple[frozenset, str], int] = {}
    for e in evidence:
        if e.label is None:
            raise ValueError(f"evidence row {e.id!r} has no label")
        key = (_pair(e), SUBTASKS[e.subtask].group)
        seen[key] = e.label if seen.get(key, e.label) == e.label else -1
    other = {"A": "B", "B": "A"}
    return np.array([seen.get((_pair(e), other[SUBTASKS[e.subtask].group]), -1) for e in examples], dtype=np.int8)


def apply_label_implication(examples: Sequence[Example], probs: np.ndarray,
                            evidence: Sequence[Example]) -> tuple[np.ndarray, dict[str, int]]:
    """Probabilities with the rows their labelled twin decides set to 1 (A) or 0 (B); see the module docstring.

    Args:
        examples: N rows; probs: (N,) their positive-class probabilities (not modified).
        evidence: labelled rows whose labels may decide a twin (never the rows being scored).

    Returns:
        (probs, counts): a new (N,) float array, and ``{"A": rows set to 1, "B": rows set to 0}``.

    Raises:
        ValueError: ``probs`` and ``examples`` differ in length; an evidence row without a label.
    """
    probs = np.asarray(probs)
    if len(probs) != len(examples):
        raise ValueError(f"{len(probs)} probabilities for {len(examples)} examples")
    twin = twin_labels(examples, evidence)
    groups = np.array([SUBTASKS[e.subtask].group for e in examples])
    out = probs.astype(np.float64, copy=True)
    counts = {}
    for (group, label), value in RULES.items():
        hit = (groups == group) & (twin == label)
        out[hit] = value
        counts[group] = int(hit.sum())
    return out.astype(probs.dtype, copy=False), counts


def _other_subtask(index: int) -> int:
    """The subtask of the same length class in the other group (短短A <-> 短短B)."""
    mine = SUBTASKS[index]
    return next(t.index for t in SUBTASKS if t.prefix == mine.prefix and t.group != mine.group)


def implied_rows(train: Sequence[Example], asked: Sequence[Example],
                 groups: Sequence[str] = ("A", "B")) -> list[Example]:
    """New labelled rows the rule implies: each B positive as an A positive, each A negative as a B negative.

    Only for pairs that no row of ``asked`` poses in that group, so an implied row never copies a
    pair that is scored (valid, a held-out fold, test): those are the submission rule's to decide.

    Args:
        train: labelled training rows.
        asked: every row of the data, any split (labels not read).
        groups: the groups that receive rows (``("A",)``: the A positives only).

    Returns:
        Copies of the implying rows with the other group's subtask, the same label and the id
        ``implied:<id>``, in ``train``'s order.
    """
    posed = {(_pair(e), SUBTASKS[e.subtask].group) for e in asked}
    out = []
    for e in train:
        group = IMPLIES.get((SUBTASKS[e.subtask].group, e.label))
        if group in groups and (_pair(e), group) not in posed:
            out.append(Example(e.source, e.target, _other_subtask(e.subtask), e.label, f"implied:{e.id}"))
    return out
