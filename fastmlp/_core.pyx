"""Typed bindings to the C core (csrc/), one extension module.

Each concept's bindings live in an included .pxi file; they share one module
so the C library, with its kernel table and thread setting, exists once.
Arguments are checked here, once; the C code trusts what it is given and runs
without the GIL.
"""
import numpy as np

cimport numpy as cnp
from libc.float cimport FLT_MAX
from libc.math cimport fabs, isfinite

from fastmlp._cfastmlp cimport *

cnp.import_array()

ISAS = tuple(fm_isa_name(<fm_isa>i).decode() for i in range(FM_ISA_COUNT))

include "_dispatch.pxi"
include "_gemm.pxi"
include "_optim.pxi"
include "_nn.pxi"
