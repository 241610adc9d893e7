"""Pins OpenBLAS's kernel set before numpy loads, so results do not depend on the x86-64 CPU (common.blas)."""

from common.blas import pin_openblas_kernels

pin_openblas_kernels()
