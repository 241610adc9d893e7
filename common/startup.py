"""Ctrl-C while a command starts: one line, not an import traceback.

``python -m common.commands.train ...`` spends its first seconds importing torch, transformers and accelerate; a
Ctrl-C then (a mistyped command stopped at once) printed a traceback of whichever import it hit, and under
``accelerate launch`` one per process. While a command started with ``-m`` imports, SIGINT ends it with
:data:`STARTING` (exit 130, the shell's code for it); :func:`common.commands.args.run_cli` gives Python's own
handler back before the command's ``main`` runs, where Ctrl-C is a ``KeyboardInterrupt`` it reports in one line.
That handler remembers the Ctrl-C (:func:`interrupt_seen`): one landing in a C extension's import (matplotlib's
``ft2font`` on the first learning curve) reaches ``run_cli`` as ``ImportError: initialization failed``, not as a
``KeyboardInterrupt``, and is reported as the Ctrl-C it was.
"""

from __future__ import annotations

import os
import signal
import sys

STARTING = "interrupted while starting: nothing was written; run the command again"

_sigint_seen = False


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


def _keyboard_interrupt(signum: int, frame: object) -> None:
    """Python's own handler (it raises ``KeyboardInterrupt``), remembering that a Ctrl-C came."""
    global _sigint_seen
    _sigint_seen = True
    signal.default_int_handler(signum, frame)


def interrupt_seen() -> bool:
    """Whether SIGINT reached this process since :func:`end_of_start` gave it a ``KeyboardInterrupt`` again: a
    library that turns the ``KeyboardInterrupt`` into another error (pybind11's ``ImportError: initialization
    failed`` while a C extension imports) still ended the command by Ctrl-C."""
    return _sigint_seen


def end_with_the_launcher() -> None:
    """Under torch elastic (``accelerate launch``, ``torchrun``: ``TORCHELASTIC_RUN_ID`` is set), have Linux send
    this process SIGTERM when its launcher dies (``prctl(PR_SET_PDEATHSIG)``). The launcher starts each process in a
    session of its own and stops them when it is stopped, but a launcher killed outright (``kill -9``, the OOM
    killer, a scheduler ending the launcher only) left both processes of a 2-process run training on, as orphans
    holding their GPUs, until the epochs ran out (probe AE; a killed process's outputs are whole and the run resumes).
    Elsewhere (one process, another OS, no ``prctl``) it does nothing."""
    if not os.environ.get("TORCHELASTIC_RUN_ID") or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def end_of_start() -> None:
    """Give SIGINT back to Python's handler (``KeyboardInterrupt``, recorded for :func:`interrupt_seen`) where
    :func:`quiet_interrupt_while_starting` took it: called by ``run_cli`` once the command's modules are imported."""
    if signal.getsignal(signal.SIGINT) is _interrupted:
        signal.signal(signal.SIGINT, _keyboard_interrupt)
