"""common.blas: one OpenBLAS kernel set on every AVX2 x86-64 machine, set before numpy loads, a user's choice kept."""

import os
import subprocess
import sys

import pytest

from common.blas import KERNELS, VARIABLE, _cpu_flags, _cpuinfo_field, pin_openblas_kernels
from tests.conftest import ROOT


@pytest.mark.parametrize("machine, flags, expected", [
    ("x86_64", {"sse2", "avx", "avx2", "fma", "avx512f"}, KERNELS),  # an AVX-512 Xeon gets the AVX2 set too
    ("AMD64", {"avx2", "fma"}, KERNELS),
    ("x86_64", {"sse2", "avx"}, None),  # no AVX2: forcing Haswell kernels would stop on an illegal instruction
    ("aarch64", {"fp", "asimd"}, None),
])
def test_pinned_only_where_the_cpu_runs_the_kernels(machine, flags, expected):
    environ = {}
    assert pin_openblas_kernels(environ, machine, flags) == expected
    assert environ.get(VARIABLE) == expected


def test_a_value_already_set_is_kept():
    environ = {VARIABLE: "SkylakeX"}
    assert pin_openblas_kernels(environ, "x86_64", {"avx2", "fma"}) == "SkylakeX" and environ == {VARIABLE: "SkylakeX"}


def test_cpu_flags_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: X\nflags\t\t: fpu avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert _cpu_flags(cpuinfo) == {"fpu", "avx2", "fma"}
    assert _cpu_flags(tmp_path / "absent") == set()
    assert _cpuinfo_field("model name", cpuinfo) == "X" and _cpuinfo_field("model name", tmp_path / "absent") is None


def _python(code: str, **env: str) -> str:
    """What ``python -c code`` prints, run in the project folder without OPENBLAS_CORETYPE and with ``env`` set."""
    environ = {**{k: v for k, v in os.environ.items() if k != VARIABLE}, **env}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environ, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.mark.skipif({"avx2", "fma"} - _cpu_flags() or os.uname().machine != "x86_64", reason="needs an AVX2 x86-64 CPU")
def test_a_command_loads_numpy_with_the_pinned_kernels():
    """Importing the project first (as every `python -m common...`, `competitions...` or `bench...` command does)
    makes numpy's and scipy's OpenBLAS load the Haswell kernels; numpy imported first keeps the CPU's own choice,
    and the record says so (None)."""
    probe = ("import numpy, scipy.linalg; from common.blas import openblas_kernels; from common.run import environment;"
             "print(openblas_kernels(), environment()['openblas_coretype'])")
    for package in ("common", "competitions", "bench"):
        assert _python(f"import {package}; {probe}") == f"{KERNELS} {KERNELS}"
    first = _python(f"import numpy, common; {probe}")
    assert first.endswith(" None")


def test_environment_records_the_kernel_set_torch_dispatches_to():
    """torch picks its CPU kernels (AVX512, AVX2, DEFAULT...) by the CPU unless ATEN_CPU_CAPABILITY says otherwise,
    and their floats differ (Xiaobu RESULTS, "make xiaobu-recipe end to end"): the record is the set in use."""
    probe = "from common.run import environment; print(environment()['torch_cpu_capability'])"
    assert _python(probe, ATEN_CPU_CAPABILITY="default") == "DEFAULT"
