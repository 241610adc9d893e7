"""Submission writing and validation: check everything, then write atomically.

A submission holds every test id of the sample submission exactly once, with the
sample's header and labels from the allowed set. Nothing is written when a check
fails, and a write never leaves a half file (``common.io.atomic_path``).
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from common.io import atomic_path

logger = logging.getLogger("common.submission")


class SubmissionError(ValueError):
    """A submission that would be rejected (message names the file or the ids)."""


def read_sample_ids(sample_path: str | Path) -> tuple[list[str], list[str]]:
    """Header and id column (first column) of a sample submission CSV.

    Raises:
        FileNotFoundError: no such file.
        SubmissionError: empty file, or a duplicate id (naming its line).
    """
    sample_path = Path(sample_path)
    if not sample_path.is_file():
        raise FileNotFoundError(f"sample submission not found: {sample_path}")
    with sample_path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            raise SubmissionError(f"{sample_path}: empty file, expected a header like 'id,label'")
        ids, seen = [], {}
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            if row[0] in seen:
                raise SubmissionError(f"{sample_path}:{lineno}: id {row[0]!r} already on line {seen[row[0]]}")
            seen[row[0]] = lineno
            ids.append(row[0])
    return header, ids


def validate_rows(header: Sequence[str], rows: Sequence[Sequence[str]], sample_header: Sequence[str],
                  sample_ids: Sequence[str], allowed_labels: Iterable[str], source: str = "submission") -> None:
    """Check a submission's rows against the sample submission.

    Raises:
        SubmissionError: wrong header, a row of the wrong width, a duplicate id (with
            its row number), a label outside ``allowed_labels``, ids missing from the
            submission or not in the sample (the first few listed).
    """
    allowed = {str(a) for a in allowed_labels}
    if list(header) != list(sample_header):
        raise SubmissionError(f"{source}: header {list(header)} differs from the sample's {list(sample_header)}")
    seen: dict[str, int] = {}
    for lineno, row in enumerate(rows, start=2):
        if len(row) != len(sample_header):
            raise SubmissionError(f"{source}:{lineno}: expected {len(sample_header)} columns, got {len(row)}")
        id_, label = row[0], row[1]
        if id_ in seen:
            raise SubmissionError(f"{source}:{lineno}: duplicate id {id_!r} (first on line {seen[id_]})")
        seen[id_] = lineno
        if label not in allowed:
            raise SubmissionError(f"{source}:{lineno}: label {label!r} for id {id_!r} not in {sorted(allowed)}")
    expected = set(sample_ids)
    missing = [i for i in sample_ids if i not in seen]
    extra = [i for i in seen if i not in expected]
    if missing:
        raise SubmissionError(f"{source}: {len(missing)} sample ids missing, e.g. {missing[:5]}")
    if extra:
        raise SubmissionError(f"{source}: {len(extra)} ids not in the sample submission, e.g. {extra[:5]}")


def write_id_label_submission(path: str | Path, predictions: Mapping[str, int], sample_path: str | Path,
                              allowed_labels: Iterable[int] = (0, 1), fill_value: int | None = None) -> dict:
    """Write ``id,label`` rows in the sample's order, after validating them.

    Args:
        predictions: test id -> label.
        sample_path: the competition's sample submission (header and the full id set).
        fill_value: label for sample ids that have no prediction (e.g. subtasks whose
            data is absent); None makes them an error. Filled ids are logged as a warning.

    Returns:
        ``{"path", "rows", "filled"}``: the written file, row count and the filled ids.

    Raises:
        SubmissionError: see :func:`validate_rows`; also predictions for unknown ids.
    """
    header, sample_ids = read_sample_ids(sample_path)
    known = set(sample_ids)
    unknown = [i for i in predictions if i not in known]
    if unknown:
        raise SubmissionError(f"{len(unknown)} predicted ids are not in {sample_path}, e.g. {unknown[:5]}")
    filled = [i for i in sample_ids if i not in predictions]
    if filled and fill_value is None:
        raise SubmissionError(f"{len(filled)} sample ids have no prediction, e.g. {filled[:5]}")
    if filled:
        logger.warning("%d ids without prediction filled with %s (e.g. %s)", len(filled), fill_value, filled[:3])
    rows = [[i, str(int(predictions.get(i, fill_value)))] for i in sample_ids]
    validate_rows(header, rows, header, sample_ids, [str(a) for a in allowed_labels], str(path))
    with atomic_path(path) as tmp:
        with tmp.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
    return {"path": str(path), "rows": len(rows), "filled": filled}


def validate_submission_file(path: str | Path, sample_path: str | Path,
                             allowed_labels: Iterable[int] = (0, 1)) -> int:
    """Re-read a written submission and validate it; returns its row count.

    Raises:
        FileNotFoundError / SubmissionError.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"submission not found: {path}")
    sample_header, sample_ids = read_sample_ids(sample_path)
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        rows = [row for row in reader if row]
    validate_rows(header, rows, sample_header, sample_ids, [str(a) for a in allowed_labels], str(path))
    return len(rows)


# ------------------------------------------- one probability per line (GAIIC 2021 track 3)
def validate_probabilities(values: Sequence[float], expected_rows: int, source: str = "submission") -> None:
    """Check a one-probability-per-line submission: the row count and every value in [0, 1].

    Raises:
        SubmissionError: ``len(values) != expected_rows``, or a value that is NaN or
            outside [0, 1] (naming its 1-based line).
    """
    if len(values) != expected_rows:
        raise SubmissionError(f"{source}: {len(values)} probabilities, expected {expected_rows} "
                              "(one per line of the test file)")
    for lineno, value in enumerate(values, start=1):
        if not (0.0 <= float(value) <= 1.0):  # also rejects NaN
            raise SubmissionError(f"{source}:{lineno}: {value!r} is not a probability in [0, 1]")


def write_probability_submission(path: str | Path, probabilities: Sequence[float], expected_rows: int,
                                 digits: int = 6) -> dict:
    """Write one probability per line, in test-file order, after validating them; atomically.

    Args:
        probabilities: (N,) positive-class probabilities, in the test file's line order.
        expected_rows: the test file's line count.
        digits: decimals written.

    Returns:
        ``{"path", "rows"}``.

    Raises:
        SubmissionError: see :func:`validate_probabilities` (nothing is written).
    """
    values = [float(p) for p in probabilities]
    validate_probabilities(values, expected_rows, str(path))
    with atomic_path(path) as tmp:
        tmp.write_text("".join(f"{v:.{digits}f}\n" for v in values), encoding="utf-8")
    return {"path": str(path), "rows": len(values)}


def validate_probability_file(path: str | Path, expected_rows: int) -> int:
    """Re-read a one-probability-per-line submission and validate it; returns its row count.

    Raises:
        FileNotFoundError: no file.
        SubmissionError: an empty or non-numeric line (naming it), or see
            :func:`validate_probabilities`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"submission not found: {path}")
    values = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            try:
                values.append(float(line.strip()))
            except ValueError:
                raise SubmissionError(f"{path}:{lineno}: {line.strip()!r} is not a number") from None
    validate_probabilities(values, expected_rows, str(path))
    return len(values)


# ------------------------------------------- CLUE: one JSON object a line, {"id": n, "label": "1"}
def validate_clue_rows(rows: Sequence[dict], expected_ids: Sequence[int], allowed_labels: Iterable[str],
                       source: str = "submission") -> None:
    """Check CLUE-format rows: exactly ``expected_ids`` in order, each with a label from ``allowed_labels``.

    Raises:
        SubmissionError: a row without int ``id`` or str ``label``, an id out of order,
            missing or extra rows, or a label outside ``allowed_labels`` (naming the 1-based line).
    """
    allowed = {str(a) for a in allowed_labels}
    if len(rows) != len(expected_ids):
        raise SubmissionError(f"{source}: {len(rows)} rows, expected {len(expected_ids)} (one per test pair)")
    for lineno, (row, expected) in enumerate(zip(rows, expected_ids), start=1):
        if not isinstance(row, dict) or not isinstance(row.get("id"), int) or not isinstance(row.get("label"), str):
            raise SubmissionError(f"{source}:{lineno}: expected {{\"id\": int, \"label\": str}}, got {row!r}")
        if row["id"] != expected:
            raise SubmissionError(f"{source}:{lineno}: id {row['id']}, expected {expected} (the test file's order)")
        if row["label"] not in allowed:
            raise SubmissionError(f"{source}:{lineno}: label {row['label']!r} not in {sorted(allowed)}")


ONE_CLASS_ROWS = 10  # a submission of at least this many rows, all of one label, is warned about


def warn_one_class(path: str | Path, labels: Sequence[str], allowed: Iterable[str]) -> str:
    """Log (and return) a warning when every one of at least :data:`ONE_CLASS_ROWS` labels of a submission is the
    same, of two or more ``allowed``: a model that predicts one class (undertrained, a threshold at an edge), whose
    file is valid and scores at a floor (probe AK: 100 rows all ``0``, no word). Empty otherwise."""
    values = set(map(str, labels))
    if len(labels) < ONE_CLASS_ROWS or len(values) != 1 or len(set(map(str, allowed))) < 2:
        return ""
    message = (f"{path}: every one of its {len(labels)} rows is labelled {next(iter(values))!r}: the model predicts "
               "one class (undertrained? its validation metrics and thresholds say how it decides)")
    logger.warning(message)
    return message


def write_clue_submission(path: str | Path, ids: Sequence[int], labels: Sequence[str],
                          allowed_labels: Iterable[str] = ("0", "1")) -> dict:
    """Write a CLUE submission (``<task>_predict.json``: ``{"id": n, "label": "..."}`` a line), validated, atomically.

    Returns ``{"path", "rows"}``. Raises SubmissionError (see :func:`validate_clue_rows`;
    nothing is written).
    """
    import json

    rows = [{"id": int(i), "label": str(y)} for i, y in zip(ids, labels)]
    if len(labels) != len(ids):
        raise SubmissionError(f"{path}: {len(labels)} labels for {len(ids)} ids")
    validate_clue_rows(rows, list(ids), allowed_labels, str(path))
    warn_one_class(path, labels, allowed_labels)
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return {"path": str(path), "rows": len(rows)}


def validate_clue_submission_file(path: str | Path, expected_ids: Sequence[int],
                                  allowed_labels: Iterable[str] = ("0", "1")) -> int:
    """Re-read a CLUE submission and validate it (see :func:`validate_clue_rows`); returns its row count.

    Raises:
        FileNotFoundError: no file. SubmissionError: a line that is not JSON, or a bad row.
    """
    import json

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"submission not found: {path}")
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            raise SubmissionError(f"{path}:{lineno}: not JSON: {line[:60]!r}") from None
    validate_clue_rows(rows, expected_ids, allowed_labels, str(path))
    return len(rows)
