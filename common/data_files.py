"""Reading raw competition files line by line, with errors that name ``file:line``.

Every task reader builds on these, so bad input fails the same way everywhere: the
file, the 1-based line number and what was expected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator


class DataFileError(ValueError):
    """A malformed data file; the message names ``file:line`` and the problem."""


def iter_lines(path: str | Path, error: type[Exception] = DataFileError) -> Iterator[tuple[int, str]]:
    """``(line number from 1, line without its \\n or \\r\\n)``, decoding each line as UTF-8.

    Raises:
        FileNotFoundError: no file.
        error: a line that is not valid UTF-8 (names file, line and byte offset).
    """
    path = Path(path)
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise error(f"{path}:{lineno}: invalid UTF-8 at byte {err.start} of the line "
                            f"({raw[max(err.start - 4, 0):err.start + 4]!r})") from None
            if lineno == 1:
                line = line.removeprefix("\ufeff")  # a UTF-8 byte-order mark (Windows editors) is no data
            yield lineno, line.rstrip("\r\n")


def iter_json_objects(path: str | Path, error: type[Exception] = DataFileError) -> Iterator[tuple[str, dict[str, Any]]]:
    """``("file:line", object)`` for every non-blank line of a JSON-lines file.

    Raises:
        FileNotFoundError: no file.
        error: invalid UTF-8, a line that is not JSON, or JSON that is not an object.
    """
    for lineno, line in iter_lines(path, error):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise error(f"{where}: not valid JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise error(f"{where}: expected a JSON object, got {type(row).__name__}")
        yield where, row


def count_lines(path: str | Path) -> int:
    """Number of lines of a text file (the last one may lack its newline)."""
    with Path(path).open("rb") as f:
        data = f.read()
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def read_corpus_lines(corpus_dir: str | Path) -> list[str]:
    """Non-empty lines of every ``*.txt`` under ``corpus_dir`` (recursively, sorted)."""
    root = Path(corpus_dir)
    if not root.is_dir():
        return []
    lines = []
    for path in sorted(root.rglob("*.txt")):  # invalid UTF-8 -> DataFileError naming file:line
        lines.extend(line.strip() for _, line in iter_lines(path) if line.strip())
    return lines
