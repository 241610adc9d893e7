"""Atomic file output and the one-line JSON result every command prints last.

A crash mid-write must never leave a half-written submission, metrics file or
checkpoint: everything is written to a temporary file in the same folder and then
moved into place with ``os.replace`` (atomic on POSIX and Windows).

Test hook: when the environment variable ``COMMON_IO_WRITE_LOG`` names a file, every
completed :func:`atomic_path` write and :func:`replace_dir_atomic` swap appends one
line ``<pid> <absolute target path>`` to it (append mode, one ``write`` call, so lines
of concurrent processes never interleave). The distributed tests use it to check that
each output is written once under several processes; unset, it costs nothing.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read the process umask (set back at once)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``.

    On an exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it 0600: give the final file the mode open() would
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
        _log_write(path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _log_write(path: Path) -> None:
    """Append ``<pid> <absolute path>`` to ``$COMMON_IO_WRITE_LOG`` when set (test hook, see the module doc)."""
    log = os.environ.get("COMMON_IO_WRITE_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {path.resolve()}\n")


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented UTF-8 JSON, atomically."""
    return write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def check_output_dir(path: str | Path, flag: str) -> None:
    """Refuse, before any work, an output folder that cannot be written: a file in its place (or in its path), or a
    folder (the nearest existing one of its path) where no file can be made. A training run found this only when
    it wrote its submission, after all the training (probe Q). Tried with a temporary file, removed at once, since
    permission bits do not tell (root, a read-only mount, ``chattr +i``); nothing else is created.

    Raises:
        ValueError: a file where the folder (or a folder above it) should be.
        PermissionError: no file can be made there; both name ``flag`` and the path.
    """
    folder = Path(path)
    existing = next(p for p in [folder, *folder.parents] if p.exists())  # "." or "/" at the latest
    if not existing.is_dir():
        raise ValueError(f"{flag} {path}: {existing} is a file, not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".write-check-"):
            pass
    except OSError as err:
        raise PermissionError(f"{flag} {path}: no file can be written in {existing} ({err.strerror})") from None


# how torch's zip writer and safetensors report a write the disk had no room for
DISK_FULL_SIGNS = ("unexpected pos", "file write failed", "No space left", "StorageFull", "code: 28")


@contextmanager
def disk_full_named(path: str | Path) -> Iterator[None]:
    """Re-raise a failed write of torch (``RuntimeError: [enforce fail at inline_container.cc] unexpected pos``)
    or safetensors (``IoError(Os { code: 28 ...``) inside the block as ``OSError(ENOSPC)`` naming ``path``, which
    commands report in one line (:func:`common.commands.args.run_cli`) instead of a C++ traceback."""
    try:
        yield
    except Exception as err:  # noqa: BLE001 (only those whose message says the disk was full are converted)
        text = str(err)
        if isinstance(err, OSError) or not any(sign in text for sign in DISK_FULL_SIGNS):
            raise
        first = text.strip().splitlines()[0][:160] if text.strip() else type(err).__name__
        raise OSError(errno.ENOSPC, f"No space left on device? writing failed ({first})", str(path)) from None


def torch_save_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to ``path`` atomically (a crash keeps the previous file).

    Raises:
        OSError: ENOSPC, the disk was full (:func:`disk_full_named`); the previous file is kept.
    """
    import torch  # here, so that modules writing only text do not load torch

    with disk_full_named(path), atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def temp_dir_beside(dst: Path) -> Path:
    """A new empty folder beside ``dst`` to build it in, for :func:`replace_dir_atomic`.

    Named ``.<dst name>.<pid>-<random>.tmp`` (mode 0755, as a folder ``mkdir`` makes): the folders a killed process
    left there for the same ``dst`` (their pid no longer runs) are deleted first, so a kill -9 mid-build leaves
    nothing behind after the next one.
    """
    from common.run import process_alive

    dst.parent.mkdir(parents=True, exist_ok=True)
    for stale in dst.parent.glob(f".{glob.escape(dst.name)}.*-*.tmp"):
        pid = stale.name[len(dst.name) + 2:].split("-", 1)[0]
        if pid.isdigit() and stale.is_dir() and not process_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.{os.getpid()}-", suffix=".tmp", dir=dst.parent))
    tmp.chmod(0o777 & ~_UMASK)  # mkdtemp's 0700 would stay on the output folder
    return tmp


def replace_dir_atomic(src: Path, dst: Path) -> None:
    """Move the finished folder ``src`` onto ``dst``, keeping ``dst`` whole until the swap.

    The old ``dst`` is first renamed aside, then ``src`` renamed into place, then the
    old one deleted; a crash in between leaves either the old or the new folder whole
    (the aside copy is named ``dst.old``).
    """
    old = dst.with_name(dst.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if dst.exists():
        os.replace(dst, old)
    os.replace(src, dst)
    _log_write(dst)
    if old.exists():
        shutil.rmtree(old)


def print_result(result: dict[str, Any]) -> None:
    """Print the command's final JSON line (metrics and paths written), for scripts to read."""
    print(json.dumps(result, ensure_ascii=False, default=str), flush=True)
