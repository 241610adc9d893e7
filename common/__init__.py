"""Pins OpenBLAS's kernel set before numpy loads, so results do not depend on the x86-64 CPU (common.blas); a
command started with ``-m`` ends a Ctrl-C during its imports in one line, and a process of a launch ends with its
launcher (common.startup)."""

from common.blas import pin_openblas_kernels
from common.startup import end_with_the_launcher, quiet_interrupt_while_starting

quiet_interrupt_while_starting()
end_with_the_launcher()
pin_openblas_kernels()
