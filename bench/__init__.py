"""Pins OpenBLAS's kernel set before numpy loads, so results do not depend on the x86-64 CPU (common.blas).

Also the rule for ``--name``, the part of a bench's result file name a run chooses.
"""

from common.blas import pin_openblas_kernels

pin_openblas_kernels()


def check_result_name(name: str) -> str:
    """``name`` unchanged when it can be part of one file name in ``bench/results``.

    Raises:
        ValueError: ``name`` holds a path separator or starts with a dot.
    """
    if name and ("/" in name or "\\" in name or name.startswith(".")):
        raise ValueError(f"--name {name!r}: expected a file name part (no '/', '\\' or leading '.')")
    return name
