"""Readers: each NER file format -> ``list[NerExample]`` of ``Span(start, end_inclusive, type)``.

Formats:

- :func:`read_cluener`: CLUENER2020 JSON lines, ``{"id"?, "text", "label"?: {type:
  {mention: [[start, end_inclusive], ...]}}}``.
- :func:`read_tagged`: one character per line, ``char<whitespace>TAG``, a blank line
  between sentences (People's Daily, Resume, Weibo, the power-domain set; CRLF line
  ends are accepted). Weibo's "2nd" files write the character followed by its
  position in the word (``科0``): pass ``strip_segment_digit=True``.
- :func:`read_tsv_tagged`: UER's ``text_a<TAB>label`` files, space-separated chars and tags.
- :func:`read_cmeee`: CMeEE one JSON array of ``{"text", "entities": [{"start_idx",
  "end_idx" (inclusive), "type", "entity"}]}``; entities may nest.

Every reader is strict and raises :class:`NerDataError` naming ``file:line`` and
what was expected: invalid UTF-8, malformed JSON, a span outside the text, a
mention string that differs from the text at its span, a tag sequence invalid in
its scheme. A new dataset needs only a new reader returning ``NerExample``s.
"""

from __future__ import annotations

import json
from pathlib import Path

import logging

from common.data_files import DataFileError, iter_json_objects, iter_lines, iter_record_lines
from common.ner.spans import NerExample, Span, TagSequenceError, tags_to_spans, tags_to_spans_lenient

logger = logging.getLogger("common.ner.readers")


class NerDataError(DataFileError):
    """A malformed NER data file; the message names ``file:line`` and the problem."""


def check_span(text: str, span: Span, where: str, mention: str | None = None) -> None:
    """Raise :class:`NerDataError` unless ``span`` lies in ``text`` (and matches ``mention``)."""
    if not (isinstance(span.start, int) and isinstance(span.end, int)):
        raise NerDataError(f"{where}: span {list(span[:2])} of {span.type!r}: offsets must be integers")
    if not 0 <= span.start <= span.end < len(text):
        raise NerDataError(f"{where}: span [{span.start}, {span.end}] of {span.type!r} is outside the text "
                           f"of {len(text)} characters (expected 0 <= start <= end < {len(text)}, end inclusive)")
    if mention is not None and text[span.start:span.end + 1] != mention:
        raise NerDataError(f"{where}: mention {mention!r} ({span.type}) does not match the text at "
                           f"[{span.start}, {span.end}], which reads {text[span.start:span.end + 1]!r}")


# --------------------------------------------------------------------- CLUENER
def read_cluener(path: str | Path) -> list[NerExample]:
    """Read a CLUENER2020 JSON-lines file (train/dev with ``label``, test without).

    The id is the line's ``id`` when present, else its 0-based record index.

    Raises:
        NerDataError: invalid UTF-8 or JSON, no ``text``, a ``label`` not shaped
            ``{type: {mention: [[start, end], ...]}}``, a span outside the text or a
            mention that differs from the text at its span, an id a record before already has (given, or
            the record index a record without one gets) (naming file and line).
    """
    path = Path(path)
    examples = []
    first_seen: dict[str, str] = {}  # id (as text: 1 and "1" collide in a submission) -> where it came first
    for where, row in iter_json_objects(path, NerDataError):
        if not isinstance(row.get("text"), str):
            raise NerDataError(f"{where}: expected a JSON object with a string 'text'")
        text = row["text"]
        spans = []
        label = row.get("label") or {}
        if not isinstance(label, dict):
            raise NerDataError(f"{where}: 'label' must be {{type: {{mention: [[start, end]]}}}}")
        for etype, mentions in label.items():
            if not isinstance(mentions, dict):
                raise NerDataError(f"{where}: label[{etype!r}] must be {{mention: [[start, end], ...]}}")
            for mention, positions in mentions.items():
                if not isinstance(positions, list):
                    raise NerDataError(f"{where}: label[{etype!r}][{mention!r}] must be a list of [start, end]")
                for pos in positions:
                    if not (isinstance(pos, list) and len(pos) == 2):
                        raise NerDataError(f"{where}: label[{etype!r}][{mention!r}] holds {pos!r}, "
                                           "expected [start, end]")
                    span = Span(pos[0], pos[1], etype)
                    check_span(text, span, where, mention)
                    spans.append(span)
        example_id = row.get("id", len(examples))
        if str(example_id) in first_seen:
            raise NerDataError(f"{where}: id {example_id!r} again (first at {first_seen[str(example_id)]}"
                               f"{'' if 'id' in row else '; this record has none, so its record index'}): "
                               "expected one id per record, as the submission holds each once")
        first_seen[str(example_id)] = where
        examples.append(NerExample(text, sorted(set(spans)), example_id))
    return examples


# -------------------------------------------------------------- char-per-line
def read_tagged(path: str | Path, scheme: str, strip_segment_digit: bool = False,
                strict: bool = True, labelled: bool = True) -> list[NerExample]:
    """Read a character-per-line tagged file (``char TAG``; blank line between sentences).

    Args:
        labelled: False for a test file: a line may also hold the character alone (tag ``O``), so a
            competition's unlabelled test file reads without made-up tags; a line of one space character
            (``' '``, U+3000) is that character, not a sentence break (an empty line is one), and is counted
            in a warning.
        scheme: ``"bio"`` or ``"bmes"`` (see :func:`common.ner.spans.tags_to_spans`).
        strip_segment_digit: drop the word-position digit after the character (Weibo 2nd).
        strict: raise on an invalid tag sequence; when False, repair it with
            :func:`~common.ner.spans.tags_to_spans_lenient` and log how many sentences
            were repaired and where the first one is (some released sets need this:
            Resume, Weibo and the power-domain set all hold a few).

    Ids are the 0-based sentence index.

    Raises:
        NerDataError: invalid UTF-8, a line that is not ``char TAG``, or an invalid tag
            sequence (naming the file and the line of the offending tag).
    """
    path = Path(path)
    examples: list[NerExample] = []
    chars: list[str] = []
    tags: list[str] = []
    lines: list[int] = []
    repaired: list[str] = []
    spaces: list[int] = []  # lines of an untagged test file read as a space character

    def flush() -> None:
        if not chars:
            return
        try:
            spans = tags_to_spans(tags, scheme)
        except TagSequenceError as err:
            message = f"{path}:{lines[err.position]}: invalid {scheme.upper()} tag sequence: {err}"
            if strict or err.args[0].startswith("tag") and "neither" in err.args[0]:
                raise NerDataError(message) from None
            repaired.append(message)
            spans = tags_to_spans_lenient(tags)
        examples.append(NerExample("".join(chars), spans, len(examples)))
        chars.clear(), tags.clear(), lines.clear()

    for lineno, line in iter_lines(path, NerDataError):
        if not line.strip():
            if not labelled and len(line) == 1 and line != "\t":  # a space in the text (tagged: ' ' + ' O')
                chars.append(line), tags.append("O"), lines.append(lineno), spaces.append(lineno)
                continue
            flush()
            continue
        parts = line.split()
        if len(parts) == 1 and line[:1].isspace():  # the character itself is a space (an ideographic one, U+3000,
            # or a tab, kept as they are, when a separator follows them; ' O' and a bare '\tO' read as a space)
            lead = len(line) - len(line.lstrip())
            parts = [line[0] if lead >= 2 or line[0] not in " \t" else " ", parts[0]]
        elif len(parts) == 1 and not labelled:  # a test file's character without a tag
            parts = [parts[0], "O"]
        if len(parts) != 2:
            raise NerDataError(f"{path}:{lineno}: expected 'CHAR TAG'{' or CHAR' if not labelled else ''}, "
                               f"got {line!r}")
        char, tag = parts
        if strip_segment_digit:  # the character, then its position in the word (one or more digits)
            rest = char.lstrip("\ufffd")
            head = "\ufffd" if len(rest) < len(char) else char[:1]  # a run of U+FFFD: one source char lost
            rest = rest if head == "\ufffd" else char[1:]
            if not rest.isdigit():
                raise NerDataError(f"{path}:{lineno}: expected a character followed by its word-position "
                                   f"number (e.g. '科0'), got {char!r}")
            char = head
        if len(char) != 1:
            raise NerDataError(f"{path}:{lineno}: expected one character, got {char!r}")
        chars.append(char), tags.append(tag), lines.append(lineno)
    flush()
    if repaired:
        logger.warning("%s: repaired %d of %d sentences with invalid tag sequences (first: %s)",
                       path, len(repaired), len(examples), repaired[0])
    if spaces:
        logger.warning("%s: %d lines holding one space character (first: line %d) read as that character of the "
                       "text; sentence breaks are empty lines", path, len(spaces), spaces[0])
    return examples


def read_tsv_tagged(path: str | Path, scheme: str = "bio", labelled: bool = True) -> list[NerExample]:
    """Read UER's ``text_a<TAB>label`` file: space-separated characters and tags, a header line.

    ``labelled=False`` (a test file): the header may be ``text_a`` alone and a line its characters alone (tags
    ``O``).

    Raises:
        NerDataError: invalid UTF-8, no header, a blank line before a record of a test file (``labelled=False``:
            a line's position is its id, and the prediction would skip it and shift every later line; probe AE; in a
            labelled file blank lines are skipped), a line without two columns, unequal numbers of characters and
            tags, or an invalid tag sequence.
    """
    path = Path(path)
    examples = []
    for lineno, line in (iter_lines if labelled else iter_record_lines)(path, NerDataError):
        where = f"{path}:{lineno}"
        if labelled and not line.strip():
            continue
        if lineno == 1:
            if line.split("\t")[:2] != ["text_a", "label"] and (labelled or line.split("\t") != ["text_a"]):
                raise NerDataError(f"{where}: expected the header 'text_a<TAB>label'"
                                   f"{'' if labelled else ' (or text_a)'}, got {line[:40]!r}")
            continue
        cols = line.split("\t")
        if len(cols) == 1 and not labelled:
            cols.append(" ".join("O" for _ in cols[0].split(" ")))
        if len(cols) != 2:
            raise NerDataError(f"{where}: expected 2 tab-separated columns, got {len(cols)}")
        chars, tags = cols[0].split(" "), cols[1].split()
        if len(chars) != len(tags) or any(len(c) != 1 for c in chars):
            raise NerDataError(f"{where}: {len(chars)} characters and {len(tags)} tags: expected one "
                               "single-character token per tag")
        try:
            spans = tags_to_spans(tags, scheme)
        except TagSequenceError as err:
            raise NerDataError(f"{where}: invalid {scheme.upper()} tag sequence at tag {err.position}: {err}") from None
        examples.append(NerExample("".join(chars), spans, len(examples)))
    return examples


# ---------------------------------------------------------------------- CMeEE
def read_cmeee(path: str | Path) -> list[NerExample]:
    """Read a CMeEE(-V2) file: one JSON array of ``{"text", "entities": [...]}`` records.

    Ids are the 0-based record index. Entities may nest (kept as they are).

    Raises:
        NerDataError: invalid UTF-8 or JSON, a record without ``text``, an entity
            without integer ``start_idx``/``end_idx`` and ``type``, a span outside the
            text, or an ``entity`` string that differs from the text (naming the line
            where the record starts).
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        content = raw.decode("utf-8").removeprefix("\ufeff")  # a byte-order mark (Windows editors) is no data
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise NerDataError(f"{path}:{line}: invalid UTF-8 at byte {err.start}") from None
    try:
        records = _json_array_with_lines(content)
    except json.JSONDecodeError as err:
        raise NerDataError(f"{path}:{err.lineno}: not valid JSON ({err.msg}); expected one array of records") from None
    examples = []
    for line, row in records:
        where = f"{path}:{line}"
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise NerDataError(f"{where}: expected a record with a string 'text'")
        spans = []
        for ent in row.get("entities") or []:
            try:
                span = Span(ent["start_idx"], ent["end_idx"], ent["type"])
            except (KeyError, TypeError):
                raise NerDataError(f"{where}: entity {ent!r} lacks start_idx/end_idx/type") from None
            check_span(row["text"], span, where, ent.get("entity"))
            spans.append(span)
        examples.append(NerExample(row["text"], sorted(set(spans)), len(examples)))
    return examples


def _json_array_with_lines(content: str) -> list[tuple[int, object]]:
    """Parse a JSON array element by element: ``[(line where the element starts, element)]``."""
    decoder = json.JSONDecoder()
    pos = len(content) - len(content.lstrip())
    if not content.startswith("[", pos):
        raise json.JSONDecodeError("expected '['", content, pos)
    pos += 1
    out = []
    line, counted = 1, 0
    while True:
        while pos < len(content) and content[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(content):
            raise json.JSONDecodeError("unterminated array", content, pos)
        if content[pos] == "]":
            return out
        value, end = decoder.raw_decode(content, pos)
        line += content.count("\n", counted, pos)
        counted = pos
        out.append((line, value))
        pos = end
