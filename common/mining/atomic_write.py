"""Write a file atomically: a temporary file in the same folder, then ``os.replace``.

A reader (or a crashed run) never sees a half-written submission: the target path
holds either the old content or the complete new one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temp file + ``os.replace``.

    Creates missing parent folders. Returns the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """``data`` as indented UTF-8 JSON (non-ASCII kept readable), written atomically."""
    return write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")
