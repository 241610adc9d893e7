"""Reading raw competition files line by line, with errors that name ``file:line``.

Every task reader builds on these, so bad input fails the same way everywhere: the
file, the 1-based line number and what was expected.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Iterator

logger = logging.getLogger("common.data_files")


def gbk_hint(raw: bytes) -> str:
    """A hint for a line that is not UTF-8 but reads as GBK (a Windows export of Chinese text), else ""."""
    try:
        raw.decode("gbk")
    except UnicodeDecodeError:
        return ""
    return "; it reads as GBK: convert the file to UTF-8 (iconv -f gbk -t utf-8)"


class DataFileError(ValueError):
    """A malformed data file; the message names ``file:line`` and the problem."""


def iter_lines(path: str | Path, error: type[Exception] = DataFileError) -> Iterator[tuple[int, str]]:
    """``(line number from 1, line without its \\n or \\r\\n)``, decoding each line as UTF-8.

    Raises:
        FileNotFoundError: no file.
        error: a line that is not valid UTF-8 (names file, line and byte offset); a file whose lines end in a lone
            carriage return (classic Mac OS: the whole file was one line 1, its lines glued by ``\r``).
    """
    path = Path(path)
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise error(f"{path}:{lineno}: invalid UTF-8 at byte {err.start} of the line "
                            f"({raw[max(err.start - 4, 0):err.start + 4]!r}){gbk_hint(raw)}") from None
            if lineno == 1:
                line = line.removeprefix("\ufeff")  # a UTF-8 byte-order mark (Windows editors) is no data
                if len(re.findall("\r(?!\n)", line)) >= 2:  # lone CRs: 2+ lines glued (a quoted text may hold one)
                    raise error(f"{path}:1: lines end in a lone carriage return (\\r); expected \\n or \\r\\n line "
                                "ends: convert the file (e.g. tr '\\r' '\\n')")
            yield lineno, line.rstrip("\r\n")


def binary_label(cell: str) -> int | None:
    """0 or 1 from a label cell written ``0`` / ``1`` or as a number equal to them (``1.0``: a file written by
    pandas from a float column; the pair task reads such labels too); None for anything else."""
    try:
        value = float(cell.strip())
    except ValueError:
        return None
    return int(value) if value in (0.0, 1.0) else None


def iter_record_lines(path: str | Path, error: type[Exception] = DataFileError) -> Iterator[tuple[int, str]]:
    """:func:`iter_lines` of a file of one record a line, whose blank lines may only end it (an editor's trailing
    newline); the blank lines themselves are not yielded.

    Raises:
        FileNotFoundError: no file.
        error: invalid UTF-8 (as :func:`iter_lines`), or a blank line followed by a record (naming the blank
            line: a record a line is expected, and a line's position may be its id).
    """
    blank = 0  # the first blank line since the last record
    for lineno, line in iter_lines(path, error):
        if not line.strip():
            blank = blank or lineno
            continue
        if blank:
            raise error(f"{path}:{blank}: blank line before the record on line {lineno}; expected one record a "
                        "line (blank lines only at the end of the file)")
        yield lineno, line


def iter_json_objects(path: str | Path, error: type[Exception] = DataFileError) -> Iterator[tuple[str, dict[str, Any]]]:
    """``("file:line", object)`` for every record of a JSON-lines file (:func:`iter_record_lines`: blank lines only
    at its end; a record without an id is named by its position, which a blank line in between would shift).

    A file that holds one JSON array of objects instead (:func:`starts_json_array`) is read as such
    (:func:`iter_json_array`), as this function's error message has always offered.

    Raises:
        FileNotFoundError: no file.
        error: invalid UTF-8, a blank line before a record, a line that is not JSON, or JSON that is not an object.
    """
    if Path(path).is_file() and starts_json_array(path):
        yield from iter_json_array(path, error)
        return
    for lineno, line in iter_record_lines(path, error):
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise error(f"{where}: not valid JSON ({err.msg}; expected one object a line, or one JSON array of "
                        "objects)") from None
        if not isinstance(row, dict):
            raise error(f"{where}: expected a JSON object, got {type(row).__name__}")
        yield where, row


def starts_json_array(path: str | Path) -> bool:
    """Whether the file's first character other than whitespace (and a UTF-8 byte-order mark) is ``[``: one JSON
    array of objects (CBLUE's files) rather than JSON lines. Reads at most the first 64 KiB."""
    with Path(path).open("rb") as f:
        head = f.read(65536).removeprefix(b"\xef\xbb\xbf").lstrip()
    return head.startswith(b"[")


def iter_json_array(path: str | Path, error: type[Exception] = DataFileError) -> Iterator[tuple[str, dict[str, Any]]]:
    """``("file:line", object)`` for every element of a file holding one JSON array of objects (``[{...}, {...}]``,
    over any number of lines); ``line`` is where the element starts.

    Raises:
        FileNotFoundError: no file.
        error: invalid UTF-8, text that is not one JSON array (naming the line where it breaks), an element that is
            not an object, or text after the array.
    """
    path = Path(path)
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise error(f"{path}:{line}: invalid UTF-8 at byte {err.start} of the file") from None
    decoder, pos, end = json.JSONDecoder(), 0, len(text)

    def skip(i: int) -> int:
        while i < end and text[i] in " \t\r\n":
            i += 1
        return i

    def where(i: int) -> str:
        return f"{path}:{text.count(chr(10), 0, i) + 1}"

    pos = skip(pos)
    if not text.startswith("[", pos):
        raise error(f"{where(pos)}: expected a JSON array of objects ('[')")
    pos = skip(pos + 1)
    if text.startswith("]", pos):
        pos = skip(pos + 1)
    else:
        while True:
            try:
                obj, after = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as err:
                raise error(f"{where(err.pos)}: not valid JSON ({err.msg})") from None
            if not isinstance(obj, dict):
                raise error(f"{where(pos)}: expected a JSON object, got {type(obj).__name__}")
            yield where(pos), obj
            pos = skip(after)
            if text.startswith(",", pos):
                pos = skip(pos + 1)
                continue
            if text.startswith("]", pos):
                pos = skip(pos + 1)
                break
            raise error(f"{where(pos)}: expected ',' or ']' after an element of the JSON array")
    if pos < end:
        raise error(f"{where(pos)}: text after the JSON array")


def count_lines(path: str | Path, trailing_blank: bool = True) -> int:
    """Number of lines of a text file (the last one may lack its newline); without ``trailing_blank``, the
    blank lines ending the file are not counted (the records :func:`iter_record_lines` reads)."""
    with Path(path).open("rb") as f:
        data = f.read()
    if not trailing_blank:
        data = data.rstrip(b" \t\r\n")
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def read_corpus_lines(corpus_dir: str | Path) -> list[str]:
    """Non-empty lines of every ``*.txt`` under ``corpus_dir`` (recursively, sorted); a missing folder gives none
    and other files are left, each with a warning (a mistyped --corpus-dir went on without the corpus, unsaid)."""
    root = Path(corpus_dir)
    if not root.is_dir():  # a file: "no such folder" misled (probe AF)
        what = "a file, not a folder of *.txt files" if root.exists() else "no such folder"
        logger.warning("%s: %s: pretraining goes on without a general corpus", root, what)
        return []
    others = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix not in (".txt", ".md")  # notes: not text
                    and not p.name.startswith("."))
    if others:
        logger.warning("%s: %d files not named *.txt are not read (first: %s)", root, len(others), others[0])
    lines = []
    for path in sorted(root.rglob("*.txt")):  # invalid UTF-8 -> DataFileError naming file:line
        lines.extend(line.strip() for _, line in iter_lines(path) if line.strip())
    if not lines:
        logger.warning("%s: no non-blank line in a *.txt file under it: pretraining goes on without a general "
                       "corpus", root)
    return lines
