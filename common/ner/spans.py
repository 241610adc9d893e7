"""The one span representation every NER reader produces, and tag-scheme conversion.

A span is ``Span(start, end, type)`` over character offsets of the text, ``end``
**inclusive** (as CLUENER's ``[[start, end]]`` and CMeEE's ``end_idx``). An example is
``NerExample(text, spans, id)``; spans may nest or overlap (CMeEE), which span heads
(GlobalPointer) represent directly and a CRF cannot (see :func:`flatten_spans`).

Tag schemes read here: BIO (``B-X``, ``I-X``, ``O``) and BMES/BIOES (``B-X``, ``M-X``
or ``I-X``, ``E-X``, ``S-X``, ``O``; the power-domain set uses B-/M-/E- only). Reading
is strict: a tag sequence that is not valid in its scheme raises
:class:`TagSequenceError` with the offending position, so readers can name file and
line. Writing (for a CRF's targets) uses BIO.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Sequence


class Span(NamedTuple):
    """Characters ``text[start:end + 1]`` are an entity of ``type`` (end inclusive)."""

    start: int
    end: int
    type: str


@dataclass
class NerExample:
    """One text with its gold spans (empty for unlabelled test data) and an optional id."""

    text: str
    spans: list[Span] = field(default_factory=list)
    id: object = None

    def surface(self, span: Span) -> str:
        return self.text[span.start:span.end + 1]


class TagSequenceError(ValueError):
    """A tag sequence invalid in its scheme; ``position`` is the 0-based index of the bad tag."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


def _split_tag(tag: str, position: int) -> tuple[str, str]:
    if tag == "O":
        return "O", ""
    prefix, sep, label = tag.partition("-")
    if not sep or not label or prefix not in ("B", "I", "M", "E", "S"):
        raise TagSequenceError(f"tag {tag!r} is neither 'O' nor PREFIX-TYPE with PREFIX in B/I/M/E/S", position)
    return prefix, label


def tags_to_spans(tags: Sequence[str], scheme: str) -> list[Span]:
    """Decode a tag sequence into spans, strictly.

    Args:
        tags: one tag per character.
        scheme: ``"bio"`` (B/I/O) or ``"bmes"`` (B/M-or-I/E/S/O: every entity of two or
            more characters is ``B (M|I)* E``, a single character is ``S``).

    Returns:
        Spans in order of their start.

    Raises:
        TagSequenceError: a malformed tag, a prefix the scheme lacks, an ``I``/``M``/``E``
            that does not continue an open entity of the same type, or (bmes) an entity
            left open (``B`` or ``M`` not closed by ``E``).
    """
    if scheme not in ("bio", "bmes"):
        raise ValueError(f"scheme must be 'bio' or 'bmes', got {scheme!r}")
    spans: list[Span] = []
    open_start, open_type = -1, ""
    for i, tag in enumerate(tags):
        prefix, label = _split_tag(tag, i)
        if scheme == "bio":
            if prefix in ("M", "E", "S"):
                raise TagSequenceError(f"tag {tag!r}: prefix {prefix} is not BIO", i)
            if prefix == "I" and open_type != label:
                raise TagSequenceError(f"tag {tag!r} does not continue an entity of type {label} "
                                       f"(previous tag {tags[i - 1] if i else 'start'!r})", i)
            if prefix in ("B", "O") and open_type:
                spans.append(Span(open_start, i - 1, open_type))
                open_type = ""
            if prefix == "B":
                open_start, open_type = i, label
            continue
        # BMES / BIOES
        if prefix in ("B", "S", "O") and open_type:
            raise TagSequenceError(f"tag {tag!r}: entity {open_type} opened at {open_start} is not closed by E-", i)
        if prefix in ("I", "M", "E") and open_type != label:
            raise TagSequenceError(f"tag {tag!r} does not continue an entity of type {label} "
                                   f"(previous tag {tags[i - 1] if i else 'start'!r})", i)
        if prefix == "B":
            open_start, open_type = i, label
        elif prefix == "E":
            spans.append(Span(open_start, i, label))
            open_type = ""
        elif prefix == "S":
            spans.append(Span(i, i, label))
    if open_type:
        if scheme == "bio":
            spans.append(Span(open_start, len(tags) - 1, open_type))
        else:
            raise TagSequenceError(f"entity {open_type} opened at {open_start} is not closed by E- "
                                   "before the sentence ends", len(tags) - 1)
    return spans


def flatten_spans(spans: Sequence[Span]) -> list[Span]:
    """A non-overlapping subset for tagging: longest first, then leftmost; overlaps dropped."""
    kept: list[Span] = []
    taken: set[int] = set()
    for span in sorted(spans, key=lambda s: (-(s.end - s.start), s.start, s.type)):
        cells = set(range(span.start, span.end + 1))
        if cells & taken:
            continue
        kept.append(span)
        taken |= cells
    return sorted(kept)


def best_flat(spans: Sequence[tuple[int, int, int]], scores: Sequence[float]) -> list[tuple[int, int, int]]:
    """Flat decoding of a span head's predictions: highest score first, a span kept unless it overlaps one kept
    (the same characters under another type included), so every character is in at most one entity, as a flat
    NER set (BIO, BMES, CLUENER) defines them. GlobalPointer (kexue.fm/archives/8373) keeps every span > 0, the
    nested reading; on flat data a model then gives one span two types.

    Args:
        spans: (P,) ``(start, end, type_id)``, end inclusive; scores: (P,) their scores.

    Returns:
        The kept spans, sorted.
    """
    kept: list[tuple[int, int, int]] = []
    for _, (start, end, t) in sorted(zip(scores, spans), key=lambda p: (-p[0], p[1])):
        if all(end < s or e < start for s, e, _ in kept):
            kept.append((start, end, t))
    return sorted(kept)


def nested_share(examples: Sequence["NerExample"]) -> float:
    """The share of the texts holding entities in which two gold spans share a character (nested or overlapping
    entities): CMeEE's training records 0.35, CLUENER's 1 text of 10,748 (a slip), the BIO/BMES sets 0."""
    texts = [ex for ex in examples if ex.spans]
    nested = 0
    for ex in texts:
        ordered = sorted(ex.spans)
        nested += any(b.start <= a.end for a, b in zip(ordered, ordered[1:]))
    return nested / len(texts) if texts else 0.0


def spans_to_bio(spans: Sequence[Span], length: int) -> list[str]:
    """BIO tags of ``length`` characters for non-overlapping spans.

    Raises:
        ValueError: spans overlap (flatten them first) or fall outside ``[0, length)``.
    """
    tags = ["O"] * length
    for span in sorted(spans):
        if not 0 <= span.start <= span.end < length:
            raise ValueError(f"span {span} outside a text of {length} characters")
        if any(t != "O" for t in tags[span.start:span.end + 1]):
            raise ValueError(f"span {span} overlaps another span: flatten_spans first")
        tags[span.start] = f"B-{span.type}"
        for i in range(span.start + 1, span.end + 1):
            tags[i] = f"I-{span.type}"
    return tags


def tags_to_spans_lenient(tags: Sequence[str]) -> list[Span]:
    """Spans of any B/I/M/E/S/O sequence, repairing what is invalid (conlleval's convention).

    An ``I``/``M`` that continues nothing starts an entity, an ``E`` that closes nothing
    is a one-character entity, and an entity left open (``B`` then ``O``, or the end of
    the sentence) ends at the last character it covers. Used to decode a CRF's output
    and, when a dataset is read with ``strict=False``, dirty gold tags.

    Raises:
        TagSequenceError: a tag that is neither ``O`` nor PREFIX-TYPE.
    """
    spans: list[Span] = []
    open_start, open_type = -1, ""
    for i, tag in enumerate(tags):
        prefix, label = _split_tag(tag, i)
        continues = open_type == label and prefix in ("I", "M", "E")
        if open_type and not continues:
            spans.append(Span(open_start, i - 1, open_type))
            open_type = ""
        if prefix == "S" or (prefix == "E" and not continues):
            spans.append(Span(i, i, label))
        elif prefix == "E":
            spans.append(Span(open_start, i, label))
            open_type = ""
        elif prefix == "B" or (prefix in ("I", "M") and not continues):
            open_start, open_type = i, label
    if open_type:
        spans.append(Span(open_start, len(tags) - 1, open_type))
    return spans
