"""Ctrl-C while a command starts: one line, not an import traceback.

``python -m common.commands.train ...`` spends its first seconds importing torch, transformers and accelerate; a
Ctrl-C then (a mistyped command stopped at once) printed a traceback of whichever import it hit, and under
``accelerate launch`` one per process. While a command started with ``-m`` imports, SIGINT ends it with
:data:`STARTING` (exit 130, the shell's code for it); :func:`common.commands.args.run_cli` gives Python's own
handler back before the command's ``main`` runs, where Ctrl-C is a ``KeyboardInterrupt`` it reports in one line.
"""

from __future__ import annotations

import os
import signal
import sys

STARTING = "interrupted while starting: nothing was written; run the command again"


def _interrupted(signum: int, frame: object) -> None:
    if not int(os.environ.get("RANK", "0") or 0):  # under a launch, once (every process gets the signal)
        sys.stderr.write(STARTING + "\n")
        sys.stderr.flush()
    raise SystemExit(130)  # no traceback; finally blocks and atexit still run


def started_command() -> bool:
    """Whether this process is ``python -m common...`` or ``-m competitions...`` still locating its module
    (``sys.argv[0]`` is ``"-m"`` until the module is found): a command whose ``main`` runs under ``run_cli``. Not a
    library import, a notebook, a test run or ``-m bench...`` (its modules do not hand the handler back)."""
    if sys.argv[:1] != ["-m"]:
        return False
    argv = list(getattr(sys, "orig_argv", []))
    module = argv[argv.index("-m") + 1] if "-m" in argv[:-1] else ""
    return module.split(".")[0] in ("common", "competitions")


def quiet_interrupt_while_starting() -> None:
    """Install the one-line SIGINT handler where :func:`started_command` and SIGINT has Python's own handler (a
    background job's ignored SIGINT stays ignored)."""
    if not started_command() or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return
    try:
        signal.signal(signal.SIGINT, _interrupted)
    except ValueError:  # not the main thread
        pass


def end_of_start() -> None:
    """Give SIGINT back to Python's handler (``KeyboardInterrupt``) where :func:`quiet_interrupt_while_starting`
    took it: called by ``run_cli`` once the command's modules are imported."""
    if signal.getsignal(signal.SIGINT) is _interrupted:
        signal.signal(signal.SIGINT, signal.default_int_handler)
