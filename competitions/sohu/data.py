"""Sohu 2021 raw files -> examples with ids and subtask ids.

Official layout (``data/sohu2021/``)::

    sohu2021_open_data_clean/{短短,短长,长长}匹配{A,B}类/{train,valid,test_with_id}.txt
    sohu2021_open_data_clean/sample_submission.csv

Each line is a JSON object with ``source``, ``target`` and ``labelA`` / ``labelB``
("0"/"1") in train/valid, ``id`` (e.g. ``ss0_a``) in test. Subtask ids 0-5 index
:data:`SUBTASKS`; A (loose: same topic) and B (strict: same event) are the two
groups the competition averages.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from common.data_files import DataFileError, iter_json_objects

logger = logging.getLogger("sohu.data")


@dataclass(frozen=True)
class Subtask:
    """One of Sohu 2021's six subtasks: length pair (short-short / short-long / long-long) x group A or B.

    Group A is the loose criterion (same topic), group B the strict one (same event); ``index`` is the condition
    id of the ConditionalLayerNorm.
    """

    index: int
    folder: str  # e.g. 短短匹配A类
    prefix: str  # id prefix in the test files: ss / sl / ll
    group: str  # "A" or "B"


SUBTASKS: tuple[Subtask, ...] = tuple(
    Subtask(i, f"{length}匹配{group}类", prefix, group)
    for i, (length, prefix, group) in enumerate(
        [("短短", "ss", "A"), ("短短", "ss", "B"), ("短长", "sl", "A"),
         ("短长", "sl", "B"), ("长长", "ll", "A"), ("长长", "ll", "B")]))
SPLITS = ("train", "valid", "test_with_id")
ROOT = "sohu2021_open_data_clean"


@dataclass
class Example:
    """One Sohu pair: source and target texts, the subtask index, its 0/1 label (None for test) and its id."""

    source: str
    target: str
    subtask: int  # index into SUBTASKS
    label: int | None = None  # 0/1 for train/valid, None for test
    id: str | None = None  # test: the file's id; train/valid: "<split>:<subtask>:<line index in that file>"


class DataError(DataFileError):
    """A malformed data line; the message names file, line number and the problem."""


def read_file(path: Path, subtask: Subtask, labelled: bool) -> list[Example]:
    """Read one split file of one subtask.

    Raises:
        FileNotFoundError: the file is missing.
        DataError: a line that is not a JSON object, lacks ``source``/``target``,
            has an empty text, lacks its label (``labelA``/``labelB``) or has a label
            other than 0/1, or (test) lacks ``id``, has an id of another subtask or a
            duplicate id — naming ``path:line``.
    """
    label_key = f"label{subtask.group}"
    examples, seen = [], {}
    for where, row in iter_json_objects(path, DataError):
        for key in ("source", "target"):
            if key not in row:
                raise DataError(f"{where}: missing {key!r}")
            if not isinstance(row[key], str) or not row[key].strip():
                raise DataError(f"{where}: {key!r} is empty or not a string")
        ex = Example(row["source"].strip(), row["target"].strip(), subtask.index)
        if labelled:
            raw = row.get(label_key, row.get("label"))
            if raw is None:
                raise DataError(f"{where}: missing label {label_key!r}")
            if str(raw) not in ("0", "1"):
                raise DataError(f"{where}: label {label_key}={raw!r}, expected 0 or 1")
            ex.label = int(raw)
        else:
            if not isinstance(row.get("id"), str) or not row["id"]:
                raise DataError(f"{where}: missing test 'id'")
            ex.id = row["id"]
            if subtask_of_id(ex.id) != subtask.index:
                raise DataError(f"{where}: id {ex.id!r} is not of {subtask.folder} "
                                f"(expected {subtask.prefix}<n>_{subtask.group.lower()})")
            if ex.id in seen:
                raise DataError(f"{where}: duplicate id {ex.id!r} (first on line {seen[ex.id]})")
            seen[ex.id] = where.rsplit(":", 1)[-1]
        examples.append(ex)
    if not examples:
        raise DataError(f"{path}: no examples (the file is empty); remove the file to leave {subtask.folder} out")
    if labelled:
        split = path.stem
        for i, ex in enumerate(examples):
            ex.id = f"{split}:{subtask.index}:{i}"
    return examples


ID_PATTERN = re.compile(r"^(ss|sl|ll)\d+_([ab])$")


def subtask_of_id(test_id: str) -> int | None:
    """The subtask index a test id names (``ss12_a`` -> 短短A = 0), or None for another form."""
    match = ID_PATTERN.match(test_id)
    if not match:
        return None
    prefix, group = match.group(1), match.group(2).upper()
    return next(t.index for t in SUBTASKS if t.prefix == prefix and t.group == group)


def read_pairs_file(path: str | Path) -> list[Example]:
    """Any JSON-lines file of test pairs (``source``, ``target``, ``id``); the id names the subtask.

    Raises:
        FileNotFoundError: no such file.
        DataError: a bad line (see :func:`read_file`), an id that does not name a
            subtask (``ss|sl|ll<n>_a|b``) or a duplicate id, naming ``path:line``.
    """
    path = Path(path)
    examples, seen = [], {}
    for where, row in iter_json_objects(path, DataError):
        test_id = row.get("id")
        if "id" not in row:
            raise DataError(f"{where}: no 'id' (expected one naming its subtask: ss|sl|ll<n>_a|b, e.g. ss0_a)")
        if not isinstance(test_id, str) or subtask_of_id(test_id) is None:
            raise DataError(f"{where}: id {test_id!r} does not name its subtask "
                            "(expected ss|sl|ll<n>_a|b, e.g. ss0_a)")
        for key in ("source", "target"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise DataError(f"{where}: {key!r} is missing, empty or not a string")
        if test_id in seen:
            raise DataError(f"{where}: duplicate id {test_id!r} (first on line {seen[test_id]})")
        seen[test_id] = where.rsplit(":", 1)[-1]
        examples.append(Example(row["source"].strip(), row["target"].strip(), subtask_of_id(test_id), id=test_id))
    if not examples:
        raise DataError(f"{path}: no pairs, expected JSON lines of source, target and id (e.g. {{\"source\": ..., "
                        "\"target\": ..., \"id\": \"ss0_a\"})")
    return examples


def load_split(data_dir: str | Path, split: str, subtasks: list[int] | None = None) -> tuple[list[Example], list[str]]:
    """All examples of ``split`` over the subtasks present under ``data_dir``.

    Returns:
        (examples, missing): examples of the present subtasks, and the folders absent.

    Raises:
        FileNotFoundError: no subtask of this split exists at all.
        DataError: from :func:`read_file`.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    root = Path(data_dir) / ROOT
    examples, missing = [], []
    for task in SUBTASKS:
        if subtasks is not None and task.index not in subtasks:
            continue
        path = root / task.folder / f"{split}.txt"
        if not path.is_file():
            missing.append(task.folder)
            continue
        examples.extend(read_file(path, task, labelled=split != "test_with_id"))
    if not examples:
        raise FileNotFoundError(f"no {split}.txt of any subtask under {root}")
    if missing:
        logger.warning("%s: subtasks absent, not used: %s", split, ", ".join(missing))
    return examples, missing


def limit_per_subtask(examples: list[Example], n: int) -> list[Example]:
    """The first ``n`` examples of each subtask, order kept (smoke tests and quick runs)."""
    kept, count = [], {}
    for e in examples:
        if count.get(e.subtask, 0) < n:
            kept.append(e)
            count[e.subtask] = count.get(e.subtask, 0) + 1
    return kept
