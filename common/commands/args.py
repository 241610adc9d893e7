"""The ``--task`` flag every shared command takes first, and the config class per command."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import os
import sys
from typing import Any, Callable, Sequence

from common.config import ArgumentParser
from common.startup import end_of_start, interrupt_seen
from common.task import Task, get_task


def split_task(argv: list[str] | None, description: str) -> tuple[Task, list[str]]:
    """``(task, remaining flags)`` from ``--task NAME`` (a registry key or a module path).

    Raises:
        SystemExit: no ``--task`` (argparse's usage error); ``--help`` without one prints how to list a task's
            options and exits 0.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    if not given_task(args) and ("-h" in args or "--help" in args):  # the options depend on the task
        from common.task import TASKS

        print(f"{description.strip()}\n\nThe options depend on the task: give it with --help to list them, e.g. "
              f"--task sohu --help (tasks: {', '.join(sorted(TASKS))}, or a module path defining TASK).")
        raise SystemExit(0)
    parser = ArgumentParser(description=description, add_help=False)
    parser.add_argument("--task", required=True, help="sohu | xiaobu | afqmc | a module path defining TASK")
    known, rest = parser.parse_known_args(argv)
    try:
        return get_task(known.task), rest
    except ValueError as err:
        parser.error(str(err))
        raise  # unreachable


def given_task(argv: Sequence[str]) -> str:
    """The ``--task`` value in ``argv`` as given (a registry key or a module path; ``--task=x`` too), or ''."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--task", default="")
    try:
        return parser.parse_known_args(list(argv))[0].task
    except SystemExit:  # --task without a value
        return ""


def compound_config(name: str, *bases: type) -> type:
    """A dataclass inheriting ``bases`` (e.g. CVConfig and the task's config), for one command's flags."""
    return dataclasses.make_dataclass(name, [], bases=bases)


# Errors of the user's input (data files, flags, run folders): one line, no traceback.
USER_ERRORS = (FileNotFoundError, FileExistsError, PermissionError, ValueError, KeyError)


def run_cli(main: Callable[[], Any]) -> None:
    """Run a command's ``main``; a user-input error prints ``error: <message>`` on stderr and exits 2.

    After a run that succeeded, the processes of a distributed launch end together
    (:func:`end_processes`).

    The message already names the file, line and what was expected; set
    ``COMMON_TRACEBACK=1`` to see the full traceback instead. Ctrl-C prints one line and exits
    130 (the shell's code for SIGINT): every output is written atomically, so none is
    half-written, and the same command continues (:data:`INTERRUPTED`); so does any error but an ``OSError`` raised
    after a Ctrl-C (:func:`common.startup.interrupt_seen`: one during a C extension's import surfaces as an
    ``ImportError`` whose chain holds no ``KeyboardInterrupt``). A
    full disk (``ENOSPC``, also torch's failed write: :func:`common.io.disk_full_named`) prints one line and exits
    1. Under a distributed
    launch the line comes once, not once per process (:func:`exit_with`).
    """
    end_of_start()  # Ctrl-C is a KeyboardInterrupt again (one line below), no longer the import-time exit
    if os.environ.get("COMMON_TRACEBACK"):
        main()
    else:
        try:
            try:
                main()
            except Exception as err:
                # a Ctrl-C another error stands for (pybind11's ImportError holds no trace of it): reported as the
                # Ctrl-C; an OSError keeps its own report (a disk filling while the interrupted run saves: probe AM)
                if interrupt_seen() and not isinstance(err, OSError):
                    raise KeyboardInterrupt from None
                raise
        except USER_ERRORS as err:
            message = err.args[0] if isinstance(err, KeyError) and err.args else err
            exit_with(f"error: {message}", 2)
        except OSError as err:
            if err.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            where = f"{err.filename}: " if err.filename else ""
            exit_with(f"error: {where}{err.strerror}: free some space, then run the same command again (a training "
                      "run: with --resume true; every output is written whole or not at all)", 1)
        except KeyboardInterrupt:
            exit_with(INTERRUPTED, 130)
    end_processes()


# how long a process other than the main one waits before reporting its own failure (seconds)
OTHER_PROCESS_GRACE = 5.0


def exit_with(line: str, code: int) -> None:
    """Print ``line`` on stderr and exit with ``code``; under ``accelerate launch`` (torchrun's ``RANK``), once.

    Every process of a launch meets the same bad input (or Ctrl-C) and failed alike, so each printed the
    same line: 8 of them on 8 GPUs. The main process (rank 0) prints at once; another waits
    :data:`OTHER_PROCESS_GRACE` seconds first: if rank 0 failed too, the launcher stops the others when it
    exits, before they print. A failure of that process alone is still reported (after the wait), naming it.
    Ctrl-C (``code`` 130) reaches every process of the launch (the launcher forwards it and waits for its
    children): another rank exits at once, silently.
    """
    rank = int(os.environ.get("RANK", "0") or 0)
    if rank and code == 130:  # Ctrl-C reaches every process of the launch at once: rank 0 says it
        _exit_interrupted()
    if rank:
        import time

        try:
            time.sleep(OTHER_PROCESS_GRACE)
        except KeyboardInterrupt:  # a second Ctrl-C while waiting: the same line, no traceback
            pass
        line = f"[process {rank}] {line}"
    print(line, file=sys.stderr, flush=True)
    if code == 130:
        _exit_interrupted()
    sys.exit(code)


def _exit_interrupted() -> None:
    """Exit 130 at once after a Ctrl-C: the command's ``finally`` blocks have run (locks released, outputs whole),
    so only the interpreter's shutdown is skipped, after logs and streams are flushed. Through ``sys.exit`` the
    process was twice seen to die of SIGINT itself (exit -2 where 130 was expected; the shell reports both as 130)
    after the interrupted line was printed, a death during that shutdown this project could not trace."""
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(130)


INTERRUPTED = ("interrupted: no output is half-written; rerun the same command to continue (train and pretrain "
               "with --resume true, from their last checkpoint; cv and tune skip what they finished)")


def end_processes() -> None:
    """Under ``accelerate launch``: wait for every process, then tear the process group down.

    A rank that reached the end while another still wrote its files used to exit with
    the group's threads alive, and the C++ runtime aborted it ("terminate called without
    an active exception", exit -6) although its work was done.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
