"""Read UTF-8 text corpora with errors that name the file and the line.

A corpus that is not valid UTF-8 raises ``ValueError`` naming the file and the
1-based line of the first bad byte, instead of Python's bare ``UnicodeDecodeError``
with a byte offset into an unnamed buffer.
"""

from __future__ import annotations

from pathlib import Path


def read_utf8(path: str | Path) -> str:
    """Whole file as text; strict UTF-8 (a leading BOM is dropped).

    Raises:
        FileNotFoundError: the file does not exist (message names it).
        ValueError: the bytes are not valid UTF-8; names the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise ValueError(
            f"{path}:{line}: not valid UTF-8 (byte offset {err.start}: {err.reason})"
        ) from err
    return text[1:] if text.startswith("\ufeff") else text


def read_lines(path: str | Path) -> list[str]:
    """Non-empty lines of a UTF-8 file, stripped of surrounding whitespace.

    Raises:
        FileNotFoundError / ValueError: as :func:`read_utf8`.
    """
    return [ln.strip() for ln in read_utf8(path).splitlines() if ln.strip()]
