"""Prediction files: CLUENER's and CMeEE's submission formats and a span JSON-lines file, written atomically.

Each writes exactly one record per input example, in the input order: a line (CLUENER, span JSON lines), or an
element of one JSON array (CMeEE, as its ``example_pred.json``). :func:`write_prediction` picks the format of the data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from common.io import write_text_atomic
from common.ner.spans import NerExample, Span


def cluener_label(text: str, spans: Sequence[Span]) -> dict[str, dict[str, list[list[int]]]]:
    """``{type: {mention: [[start, end_inclusive], ...]}}`` of ``spans`` over ``text``."""
    label: dict[str, dict[str, list[list[int]]]] = {}
    for s in sorted(set(spans)):
        label.setdefault(s.type, {}).setdefault(text[s.start:s.end + 1], []).append([s.start, s.end])
    return label


def check_predictions(examples: Sequence[NerExample], predictions: Sequence[Sequence[Span]]) -> None:
    """Raises ValueError: numbers of examples and predictions differ, or a predicted span lies outside its text."""
    if len(examples) != len(predictions):
        raise ValueError(f"{len(examples)} examples but {len(predictions)} predictions")
    for ex, spans in zip(examples, predictions):
        for s in spans:
            if not 0 <= s.start <= s.end < len(ex.text):
                raise ValueError(f"example {ex.id}: predicted span {s} outside a text of {len(ex.text)} chars")


def write_cluener(path: str | Path, examples: Sequence[NerExample], predictions: Sequence[Sequence[Span]]) -> Path:
    """CLUENER2020 submission: one ``{"id", "label"}`` JSON line per test example, in order.

    Raises:
        ValueError: numbers of examples and predictions differ, or a span lies outside its text.
    """
    check_predictions(examples, predictions)
    lines = []
    for ex, spans in zip(examples, predictions):
        lines.append(json.dumps({"id": ex.id, "label": cluener_label(ex.text, spans)}, ensure_ascii=False))
    return write_text_atomic(path, "\n".join(lines) + "\n")


def write_cmeee(path: str | Path, examples: Sequence[NerExample], predictions: Sequence[Sequence[Span]]) -> Path:
    """CMeEE(-V2)'s submission (CBLUE): one JSON array of ``{"text", "entities": [{"start_idx", "end_idx"
    (inclusive), "type", "entity"}]}``, one record per test example, in order (``read_cmeee`` reads it back).

    Raises:
        ValueError: numbers of examples and predictions differ, or a span lies outside its text.
    """
    check_predictions(examples, predictions)
    records = []
    for ex, spans in zip(examples, predictions):
        records.append({"text": ex.text, "entities": [
            {"start_idx": s.start, "end_idx": s.end, "type": s.type, "entity": ex.text[s.start:s.end + 1]}
            for s in sorted(set(spans))]})
    return write_text_atomic(path, json.dumps(records, ensure_ascii=False, indent=1) + "\n")


# the dataset format -> (suffix, writer) of its prediction file; any other format: span JSON lines
PREDICTION_FORMATS = {"cluener": (".json", write_cluener), "cmeee": (".json", write_cmeee)}


def prediction_path(stem: Path, fmt: str) -> Path:
    """``stem`` + the suffix of ``fmt``'s prediction file (``.json`` for CLUENER and CMeEE, else ``.jsonl``)."""
    return stem.with_name(stem.name + PREDICTION_FORMATS.get(fmt, (".jsonl", None))[0])


def write_prediction(stem: Path, fmt: str, examples: Sequence[NerExample], predictions: Sequence[Sequence[Span]]
                     ) -> Path:
    """The prediction file :func:`prediction_path` names, in ``fmt``'s submission format (:data:`PREDICTION_FORMATS`:
    CLUENER's and CMeEE's; span JSON lines for any other), written and read back.

    Raises:
        ValueError: as the writer; RuntimeError: the file read back does not hold one record per example.
    """
    writer = PREDICTION_FORMATS.get(fmt, (".jsonl", write_span_jsonl))[1]
    path = writer(prediction_path(stem, fmt), examples, predictions)
    with path.open(encoding="utf-8") as f:
        written = len(json.load(f)) if fmt == "cmeee" else sum(1 for _ in f)
    if written != len(examples):
        raise RuntimeError(f"{path}: {written} records written for {len(examples)} test texts")
    return path


def write_span_jsonl(path: str | Path, examples: Sequence[NerExample], predictions: Sequence[Sequence[Span]]) -> Path:
    """One ``{"id", "text", "entities": [{"start", "end" (inclusive), "type", "entity"}]}`` line per example.

    Raises:
        ValueError: numbers of examples and predictions differ.
    """
    if len(examples) != len(predictions):
        raise ValueError(f"{len(examples)} examples but {len(predictions)} predictions")
    lines = []
    for ex, spans in zip(examples, predictions):
        ents = [{"start": s.start, "end": s.end, "type": s.type, "entity": ex.text[s.start:s.end + 1]}
                for s in sorted(set(spans))]
        lines.append(json.dumps({"id": ex.id, "text": ex.text, "entities": ents}, ensure_ascii=False))
    return write_text_atomic(path, "\n".join(lines) + "\n")
