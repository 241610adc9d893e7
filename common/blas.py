"""One OpenBLAS kernel set on every x86-64 machine, so the feature members come out the same on any of them.

numpy, scipy and gensim (through scipy's BLAS) call OpenBLAS, which picks its kernels by the CPU at load
time: SkylakeX (AVX-512) on one machine, Haswell (AVX2) on another. The kernels sum in different orders,
so word2vec vectors and SVD columns differ in their last bits, and ``HistGradientBoostingClassifier``'s
quantile bins turn that into different trees: the Sohu gbm member's 5-fold OOF score was 0.6762 with
SkylakeX kernels and 0.6749 with Haswell kernels on the same Xeon, the same code and data, the latter
equal to the last digit to what an earlier machine gave (``competitions/sohu/RESULTS.md``, "make
sohu-recipe end to end from a clean checkout; the gbm member and OpenBLAS's kernels"). torch's CPU build
does not use OpenBLAS; its own kernels also follow the CPU (``torch_cpu_capability`` in ``environment.json``)
and are not pinned here (``docs/runs-and-export.md``).

:func:`pin_openblas_kernels` sets ``OPENBLAS_CORETYPE=Haswell`` before numpy is imported, on x86-64 CPUs
that have AVX2 and FMA (every x86-64 server CPU since 2013). It runs when ``common``, ``competitions`` or
``bench`` is imported (their ``__init__``), i.e. at the start of every command of this project. A value
already in the environment is kept (set ``OPENBLAS_CORETYPE`` to choose another, or to an empty string
for OpenBLAS's own choice); on other CPUs, or once OpenBLAS is loaded, nothing changes.
``environment.json`` records the kernel set each run used (:func:`common.run.environment`).
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

KERNELS = "Haswell"  # OpenBLAS's AVX2 + FMA kernels: the newest set every x86-64 machine in use can run
VARIABLE = "OPENBLAS_CORETYPE"


def _cpuinfo_field(name: str, cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The first processor's ``name`` line of ``/proc/cpuinfo`` (Linux); None elsewhere or when unreadable."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return None


def _cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The first processor's flags from ``/proc/cpuinfo`` (Linux); empty elsewhere or when unreadable."""
    return set((_cpuinfo_field("flags", cpuinfo) or "").split())


def cpu_model() -> str | None:
    """The CPU's name (``/proc/cpuinfo``'s ``model name``, else ``platform.processor()``), None when unknown."""
    return _cpuinfo_field("model name") or platform.processor() or None


def pin_openblas_kernels(environ: dict | None = None, machine: str | None = None,
                         flags: set[str] | None = None) -> str | None:
    """Set ``OPENBLAS_CORETYPE`` to :data:`KERNELS` where it can take effect; return the value in force.

    Args:
        environ: the environment to change (default ``os.environ``); machine, flags: the CPU's
            (default: ``platform.machine()`` and ``/proc/cpuinfo``), given by tests.

    Returns:
        The variable's value afterwards, None when unset (not an AVX2 x86-64 CPU, or numpy already loaded
        its OpenBLAS in this process, where setting it would change nothing and mislead the record).
    """
    environ = os.environ if environ is None else environ
    if VARIABLE in environ:
        return environ[VARIABLE]
    if environ is os.environ and "numpy" in sys.modules:
        return None
    machine = platform.machine() if machine is None else machine
    flags = _cpu_flags() if flags is None else flags
    if machine.lower() in ("x86_64", "amd64") and {"avx2", "fma"} <= flags:
        environ[VARIABLE] = KERNELS
    return environ.get(VARIABLE)


def openblas_kernels() -> str | None:
    """The kernel set of the OpenBLAS libraries loaded in this process (e.g. ``"Haswell"``, ``"SkylakeX"``; several
    joined by ``+`` when they differ), None when none is loaded. From threadpoolctl's ``architecture``."""
    from threadpoolctl import threadpool_info

    kinds = sorted({lib["architecture"] for lib in threadpool_info()
                    if lib.get("internal_api") == "openblas" and lib.get("architecture")})
    return "+".join(kinds) or None
