"""The GEMM reads nothing past the end of its operands. Each operand ends on
the last byte before a page that may not be read (PROT_NONE), so a single load
past its end kills the process. At stake are the ragged edges: packing a
column panel narrower than a micro-tile loads a partial vector at the end of
every row of B, the last row included. The products run in a child process,
so such a load fails this test instead of crashing the test run."""
import os
import subprocess
import sys

import pytest

import fastmlp

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r'''
import ctypes, mmap, sys
import numpy as np
import fastmlp
from fastmlp import _core

libc = ctypes.CDLL(None, use_errno=True)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
keep = []  # the mappings live as long as the process

def before_guard(x):
    """A copy of x whose last byte is the last one before an unreadable page."""
    page = mmap.PAGESIZE
    pages = -(-x.nbytes // page) + 1
    buf = mmap.mmap(-1, pages * page)
    keep.append(buf)
    base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    if libc.mprotect(base + (pages - 1) * page, page, 0) != 0:
        raise OSError(ctypes.get_errno(), "mprotect")
    out = np.frombuffer(buf, x.dtype, x.size, (pages - 1) * page - x.nbytes).reshape(x.shape)
    out[...] = x
    return out

rng = np.random.default_rng(0)
bad = []
for isa in _core.isas_available():
    _core.set_isa(isa)
    for dtype in (np.float32, np.float64):
        for m in (1, 2, 13):
            for n in (1, 3, 5, 7, 9, 10, 15, 17, 23, 31, 33, 65, 70):
                for k in (9, 300):
                    for ta in (False, True):
                        for tb in (False, True):
                            a = rng.standard_normal((k, m) if ta else (m, k))
                            b = rng.standard_normal((n, k) if tb else (k, n))
                            want = (a.T if ta else a) @ (b.T if tb else b)
                            got = fastmlp.gemm(before_guard(a.astype(dtype)),
                                               before_guard(b.astype(dtype)),
                                               trans_a=ta, trans_b=tb)
                            tol = 1e-4 if dtype == np.float32 else 1e-11
                            if not np.allclose(got, want, rtol=tol, atol=tol * np.sqrt(k)):
                                bad.append((isa, np.dtype(dtype).name, m, n, k, ta, tb))
print(bad)
sys.exit(1 if bad else 0)
'''


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses mprotect via libc (Linux)")
def test_no_read_past_the_operands():
    # The child imports the fastmlp these tests import (installed or in place).
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(fastmlp.__file__)))
    child = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                           cwd=HERE, env=dict(os.environ, PYTHONPATH=package_root), timeout=300)
    assert child.returncode == 0, (
        f"exit status {child.returncode} (negative: killed by that signal; -11 is a read "
        f"past an operand)\n{child.stdout}\n{child.stderr}")
