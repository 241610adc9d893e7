"""Read a corpus file of any size in blocks of lines, with clear errors and progress.

Every stage that sees the whole corpus reads it through :func:`iter_blocks`, so no
stage holds more than one block of text (``block_chars`` characters) at a time.
Errors name the file: a missing file, an empty one (no non-blank line), a line that
is not valid UTF-8 (1-based line number). :class:`Progress` prints chars/s to
stderr at most every ``every_s`` seconds; :func:`file_digest` fingerprints a corpus.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from common.data_files import gbk_hint


class Progress:
    """``label: 12.3 M chars, 1.05 M chars/s`` on stderr, throttled to one line per ``every_s``.

    Args:
        label: what is being done (``counting 3-grams``).
        total: expected characters (for a percentage), 0 if unknown.
        every_s: minimum seconds between two lines; 0 prints on every update.
        enabled: False silences it (tests, workers).
    """

    def __init__(self, label: str, total: int = 0, every_s: float = 5.0, enabled: bool = True):
        self.label, self.total, self.every_s, self.enabled = label, total, every_s, enabled
        self.done = 0
        self.t0 = self.last = time.perf_counter()

    def update(self, chars: int) -> None:
        """Add ``chars`` processed characters; maybe print a line."""
        self.done += chars
        now = time.perf_counter()
        if self.enabled and now - self.last >= self.every_s:
            self.last = now
            print(self.line(), file=sys.stderr, flush=True)

    def rate(self) -> float:
        """Characters per second since the start."""
        return self.done / max(time.perf_counter() - self.t0, 1e-9)

    def line(self) -> str:
        pct = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        return f"{self.label}: {self.done / 1e6:.1f} M chars{pct}, {self.rate() / 1e6:.2f} M chars/s"

    def close(self) -> None:
        """Print the final line (when enabled)."""
        if self.enabled:
            print(self.line(), file=sys.stderr, flush=True)


def check_corpus(path: str | Path, what: str = "corpus file") -> int:
    """Size of a corpus file in bytes, after checking it can be mined.

    Args:
        what: how the messages name the file (e.g. ``--general-files file``).

    Raises:
        FileNotFoundError: no such file, or a folder (message names it).
        ValueError: the file is empty or holds only whitespace (names it).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}" + (" is a folder" if path.is_dir() else ""))
    size = path.stat().st_size
    with path.open("rb") as f:
        if not any(line.strip() for line in f):
            raise ValueError(f"{path}: empty {what} (no non-blank line)")
    return size


def han_share(path: str | Path, sample_bytes: int = 1 << 20) -> float:
    """Share of Han characters (U+4E00-U+9FFF, U+3400-U+4DBF) among the letters (``str.isalpha``: Han and Latin
    alike; digits, punctuation and spaces left out, so equipment codes in a Chinese text do not count: probe AI) of
    the first ``sample_bytes`` of a UTF-8 file (0.0 when it holds none): the miner finds Chinese words."""
    with Path(path).open("rb") as f:
        text = f.read(sample_bytes).decode("utf-8", errors="ignore")
    chars = [c for c in text if c.isalpha()]
    han = sum(1 for c in chars if "\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf")
    return han / len(chars) if chars else 0.0


def file_digest(path: str | Path) -> str:
    """SHA-256 of a text file's lines, first 16 hex digits: each line without its ending (LF or CRLF), a UTF-8
    byte-order mark dropped, so a copy with other line endings is the same text (read line by line).

    Identifies a corpus in a run's ``metrics.json``, so that mining the run again notices another text
    under the same path, and takes the same text under another path or line ending as the same.

    Raises:
        FileNotFoundError: no such file.
    """
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for n, line in enumerate(f):
            if n == 0 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            digest.update(line.rstrip(b"\r\n") + b"\n")
    return digest.hexdigest()[:16]


def iter_blocks(path: str | Path, block_chars: int = 10_000_000) -> Iterator[list[str]]:
    """Non-empty stripped lines of a UTF-8 file, in blocks of about ``block_chars`` chars.

    The file is read line by line (never whole); a leading BOM is dropped. A block
    ends at a line end, so no line is split (a single line longer than
    ``block_chars`` is one block).

    Yields:
        lists of lines whose total length is >= ``block_chars`` (the last may be shorter).
    Raises:
        FileNotFoundError: missing file.
        ValueError: ``path:line: not valid UTF-8`` at the first bad line.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"corpus file not found: {path}")
    block: list[str] = []
    n = 0
    with path.open("rb") as f:
        for i, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise ValueError(f"{path}:{i}: not valid UTF-8 (byte {err.start} of the line: "
                                 f"{err.reason}){gbk_hint(raw)}") from err
            if i == 1 and line.startswith("\ufeff"):
                line = line[1:]
            line = line.strip()
            if not line:
                continue
            block.append(line)
            n += len(line)
            if n >= block_chars:
                yield block
                block, n = [], 0
    if block:
        yield block
