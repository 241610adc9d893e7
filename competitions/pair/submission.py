"""A pair contest's submission in the format its flags name: CSV/TSV with a header, JSON lines, one JSON array of
objects (CBLUE's ``KUAKE-QQR_test.json``: ``[{"id": ..., "label": ...}, ...]``, checked by its format checker with
``json.load``), or values only.

Every test pair's id exactly once, in the test file's order, each value a label the files use or a
probability in [0, 1]; written atomically and read back before the command reports it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path
from typing import Sequence

from common.io import atomic_path
from common.submission import SubmissionError, warn_one_class

EXTENSIONS = {"csv": ".csv", "tsv": ".tsv", "jsonl": ".jsonl", "json": ".json", "lines": ".txt"}


def _json_id(key: str) -> int | str:
    """A JSON submission's id: a number where the file's id is one (CLUE's ``{"id": 0, ...}``), else the text."""
    return int(key) if re.fullmatch(r"-?[0-9]+", key) and str(int(key)) == key else key


def render(fmt: str, keys: Sequence[str], values: Sequence[str | float], id_column: str, value_column: str,
           text_ids: Sequence[bool] = ()) -> str:
    """The submission's text: ``fmt`` csv/tsv (header ``id_column``, ``value_column``), jsonl, json (one array, an
    object a line: row i on line i + 2) or lines.

    ``values``: labels (str) or probabilities (float, written with 6 decimals), one per key. ``text_ids``: (N,)
    whether each key was a JSON string in the test file (kept a string); the other keys are written as numbers
    when every one of them is an integer without leading zeros, else all as strings (one type a column).
    """
    def text(v: str | float) -> str:
        return v if isinstance(v, str) else f"{v:.6f}"

    if fmt == "lines":
        return "".join(text(v) + "\n" for v in values)
    if fmt in ("jsonl", "json"):
        strings = list(text_ids) or [False] * len(keys)
        # keys not typed by the test file (a CSV's, a TSV's) are numbers only when every one of them reads as one:
        # ids "007", "7" and "8" would otherwise mix types in one column, which a scorer joining on ids may not match
        numbers = all(isinstance(_json_id(k), int) for k, s in zip(keys, strings) if not s)
        objects = [json.dumps({id_column: k if s or not numbers else _json_id(k), value_column: v if isinstance(v, str)
                               else round(v, 6)}, ensure_ascii=False) for k, v, s in zip(keys, values, strings)]
        return "".join(o + "\n" for o in objects) if fmt == "jsonl" else \
            "[\n" + ",\n".join("  " + o for o in objects) + ("\n" if objects else "") + "]\n"
    out = io.StringIO()
    writer = csv.writer(out, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
    writer.writerow([id_column, value_column])
    writer.writerows([k, text(v)] for k, v in zip(keys, values))
    return out.getvalue()


def parse(fmt: str, text: str, id_column: str, value_column: str, source: str) -> list[tuple[int, str | None, str]]:
    """``(line, id, value)`` of each row of a rendered submission, as text (id None for ``lines``).

    Raises:
        SubmissionError: a wrong header, a row of the wrong width, or a JSON line without the two keys (naming the line).
    """
    lines = text.splitlines()
    if fmt == "lines":
        return [(lineno, None, line) for lineno, line in enumerate(lines, start=1)]
    rows: list[tuple[int, str | None, str]] = []
    if fmt == "json":  # as render writes it: row i on line i + 2
        try:
            array = json.loads(text)
        except json.JSONDecodeError as err:
            raise SubmissionError(f"{source}:{err.lineno}: not JSON: {err.msg}") from None
        if not isinstance(array, list):
            raise SubmissionError(f"{source}:1: expected one JSON array of objects, got {type(array).__name__}")
        for i, row in enumerate(array):
            if not isinstance(row, dict) or set(row) != {id_column, value_column}:
                raise SubmissionError(f"{source}:{i + 2}: expected {{{id_column!r}, {value_column!r}}}, "
                                      f"got {json.dumps(row, ensure_ascii=False)[:60]!r}")
            rows.append((i + 2, str(row[id_column]), str(row[value_column])))
        return rows
    if fmt == "jsonl":
        for lineno, line in enumerate(lines, start=1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise SubmissionError(f"{source}:{lineno}: not JSON: {line[:60]!r}") from None
            if not isinstance(row, dict) or set(row) != {id_column, value_column}:
                raise SubmissionError(f"{source}:{lineno}: expected {{{id_column!r}, {value_column!r}}}, got {line[:60]!r}")
            rows.append((lineno, str(row[id_column]), str(row[value_column])))
        return rows
    cells = list(csv.reader(lines, delimiter="," if fmt == "csv" else "\t"))
    if not cells or cells[0] != [id_column, value_column]:
        raise SubmissionError(f"{source}:1: header {cells[0] if cells else None}, expected {[id_column, value_column]}")
    for lineno, row in enumerate(cells[1:], start=2):
        if len(row) != 2:
            raise SubmissionError(f"{source}:{lineno}: {len(row)} columns, expected 2")
        rows.append((lineno, row[0], row[1]))
    return rows


def validate(rows: Sequence[tuple[int, str | None, str]], keys: Sequence[str], labels: Sequence[str] | None,
             source: str, bounds: tuple[float, float] = (0.0, 1.0)) -> None:
    """Check :func:`parse`'s rows: one per test key, in order, each value a label of ``labels``
    (None: a number in ``bounds``, by default a probability in [0, 1]; a graded label's score).

    Raises:
        SubmissionError: a missing or extra row, an id out of place (naming the line), a bad value.
    """
    if len(rows) != len(keys):
        raise SubmissionError(f"{source}: {len(rows)} rows, expected {len(keys)} (one per test pair)")
    for (lineno, got, value), key in zip(rows, keys):
        where = f"{source}:{lineno}"
        if got is not None and got != key:
            raise SubmissionError(f"{where}: id {got!r}, expected {key!r} (the test file's order)")
        if labels is not None:
            if value not in labels:
                raise SubmissionError(f"{where}: label {value!r} not in {list(labels)}")
            continue
        kind = "probability" if tuple(bounds) == (0.0, 1.0) else "score"
        try:
            p = float(value)
        except ValueError:
            raise SubmissionError(f"{where}: {value!r} is not a {kind}") from None
        if math.isnan(p) or not bounds[0] <= p <= bounds[1]:
            raise SubmissionError(f"{where}: {value!r} is not a {kind} in [{bounds[0]:g}, {bounds[1]:g}]")


def write_pair_submission(path: str | Path, fmt: str, keys: Sequence[str], values: Sequence[str | float],
                          id_column: str, value_column: str, labels: Sequence[str] | None,
                          bounds: tuple[float, float] = (0.0, 1.0), text_ids: Sequence[bool] = ()) -> int:
    """Validate, write atomically, read back and validate again; returns the row count.

    Args:
        fmt: ``csv``, ``tsv``, ``jsonl``, ``json`` or ``lines``.
        keys: (N,) the test pairs' ids, in the file's order.
        values: (N,) labels (str, each in ``labels``) or numbers (float; ``labels`` None): probabilities, or
            with ``bounds`` (lo, hi) a graded label's scores in [lo, hi].
        text_ids: (N,) whether each key was a JSON string in the test file (:func:`render`; JSON formats only).

    Raises:
        SubmissionError: see :func:`validate` (nothing is written when the values fail).
    """
    path = Path(path)
    text = render(fmt, keys, values, id_column, value_column, text_ids)
    validate(parse(fmt, text, id_column, value_column, str(path)), keys, labels, str(path), bounds)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    rows = parse(fmt, path.read_text(encoding="utf-8"), id_column, value_column, str(path))
    validate(rows, keys, labels, str(path), bounds)
    if labels is not None:
        warn_one_class(path, [str(v) for v in values], labels)
    return len(rows)
