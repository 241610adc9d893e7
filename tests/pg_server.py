"""A throwaway PostgreSQL server for tests: initdb + pg_ctl on a free 127.0.0.1 port.

    with pg_server() as url:        # postgresql+psycopg://postgres@127.0.0.1:<port>/postgres
        ...

Uses Debian's ``postgresql`` package (``/usr/lib/postgresql/<v>/bin``, not on PATH) or
binaries on PATH. PostgreSQL refuses to run as root, so under root the cluster is
created and run as the ``postgres`` system user (through ``runuser``) in a folder it
owns. :func:`find_binaries` returns None when no server can be started, so a test
can skip. Run by hand: ``python -m tests.pg_server`` prints a URL and waits.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def find_binaries() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl`` (newest Debian version first), or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name),
                        reverse=True)
    for folder in candidates:
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def pg_server(timeout: float = 60) -> Iterator[str]:
    """Start a fresh cluster (trust auth, loopback only), yield its psycopg URL, stop and delete it.

    Raises:
        RuntimeError: no PostgreSQL binaries, or root without a ``postgres`` user.
        subprocess.CalledProcessError: initdb or pg_ctl failed (their output is in the error).
    """
    binaries = find_binaries()
    if binaries is None:
        raise RuntimeError("PostgreSQL binaries not found (Debian: apt-get install postgresql)")
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="pgtest-"))
    if os.geteuid() == 0:  # the server refuses root: run it as the postgres user, in a folder it owns
        try:
            user = pwd.getpwnam("postgres")
        except KeyError as err:
            raise RuntimeError("running as root and no postgres user to run the server as") from err
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, log = folder / "data", folder / "server.log"
    port = _free_port()

    def run(*args: str) -> None:
        subprocess.run(prefix + list(args), check=True, capture_output=True, text=True, cwd=folder)

    run(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='{folder}' -c fsync=off"
    try:
        run(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", str(int(timeout)),
            "start")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(prefix + [str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, cwd=folder)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    import signal

    with pg_server() as url:
        print(url, flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
