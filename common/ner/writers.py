"""Prediction files: CLUENER's submission format and a span JSON-lines file, written atomically.

Both write exactly one line per input example, in the input order.
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


def write_cluener(path: str | Path, examples: Sequence[NerExample], predictions: Sequence[Sequence[Span]]) -> Path:
    """CLUENER2020 submission: one ``{"id", "label"}`` JSON line per test example, in order.

    Raises:
        ValueError: numbers of examples and predictions differ, or a span lies outside its text.
    """
    if len(examples) != len(predictions):
        raise ValueError(f"{len(examples)} examples but {len(predictions)} predictions")
    lines = []
    for ex, spans in zip(examples, predictions):
        for s in spans:
            if not 0 <= s.start <= s.end < len(ex.text):
                raise ValueError(f"example {ex.id}: predicted span {s} outside a text of {len(ex.text)} chars")
        lines.append(json.dumps({"id": ex.id, "label": cluener_label(ex.text, spans)}, ensure_ascii=False))
    return write_text_atomic(path, "\n".join(lines) + "\n")


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
