"""Launch a module under ``accelerate launch`` with N CPU processes (gloo), for the distributed tests.

    from tests.distributed import launch, result_lines, read_write_log
    proc = launch(["common.commands.train", "--task", "sohu", ...], nprocs=2, env={"COMMON_IO_WRITE_LOG": log})
    assert proc.returncode == 0 and len(result_lines(proc.stdout)) == 1

``nprocs=1`` runs the module as a plain ``python -m`` (what a user does without
accelerate), so a 1-process run is the reference a 2-process run is compared with.
``nprocs>1`` uses ``--multi_gpu`` with ``ACCELERATE_USE_CPU=true``: ``--cpu`` would
silently start one process. Each process gets ``OMP_NUM_THREADS=1`` (the test machine
has few cores) and each launch its own free ``--main_process_port``, so concurrent
tests do not collide. :func:`start` returns the ``Popen`` in a new process group, for
tests that kill a run mid-way (:func:`kill_group`, which also kills the workers).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Sequence

ROOT = Path(__file__).resolve().parents[1]
ACCELERATE = Path(sys.executable).with_name("accelerate")


def free_port() -> int:
    """A TCP port free right now on localhost (for ``--main_process_port``)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(module_args: Sequence[str], nprocs: int) -> list[str]:
    """The command line running ``python -m <module_args>`` with ``nprocs`` CPU processes."""
    if nprocs == 1:
        return [sys.executable, "-m", *module_args]
    return [str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", str(nprocs), "--num_machines", "1",
            "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
            "-m", *module_args]


def environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment: CPU accelerate, one thread per process, the repo importable, plus ``env``."""
    out = dict(os.environ)
    out.update({"ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "TOKENIZERS_PARALLELISM": "false", "PYTHONHASHSEED": "0",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))})
    out.update(env or {})
    return out


def launch(module_args: Sequence[str], nprocs: int = 2, env: Mapping[str, str] | None = None,
           timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``module_args`` (``[module, *flags]``) with ``nprocs`` processes to completion; stdout/stderr captured."""
    return subprocess.run(command(module_args, nprocs), cwd=ROOT, env=environment(env), capture_output=True,
                          text=True, timeout=timeout)


def start(module_args: Sequence[str], nprocs: int = 2, env: Mapping[str, str] | None = None,
          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) -> subprocess.Popen:
    """Like :func:`launch` but returns at once; the launcher and its workers form a new process group."""
    return subprocess.Popen(command(module_args, nprocs), cwd=ROOT, env=environment(env), stdout=stdout,
                            stderr=stderr, start_new_session=True)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the launcher and every process under it; return once they are all gone.

    Killing the launcher's process group is not enough: torch's elastic agent starts
    each worker in a session of its own, so the workers would live on (and keep
    writing the run folder). They are listed first, then killed one by one.
    """
    import psutil

    try:
        procs = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        procs = []
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for p in procs:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    proc.wait()
    _, alive = psutil.wait_procs(procs, timeout=30)
    assert not alive, f"still running after SIGKILL: {alive}"


def result_lines(stdout: str) -> list[dict]:
    """The JSON object lines of ``stdout`` (each command prints exactly one, its result)."""
    out = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def read_write_log(path: str | Path) -> list[tuple[int, str]]:
    """``(pid, absolute path)`` per atomic write logged through ``COMMON_IO_WRITE_LOG`` (see common.io)."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        pid, target = line.split(" ", 1)
        rows.append((int(pid), target))
    return rows


def describe(proc: subprocess.CompletedProcess) -> str:
    """The tail of a finished launch's output, for assertion messages."""
    return f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
