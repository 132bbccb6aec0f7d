"""Fixtures shared by the test suite."""
import numpy as np
import pytest

import fastmlp
from fastmlp import _core

from gemm_helpers import DTYPES, rng_for


@pytest.fixture(params=_core.ISAS)
def isa(request):
    """Runs the test once per kernel set, with that set active (skipped, with
    the reason, for a set this CPU or build cannot run); the kernel set active
    before is restored afterwards."""
    if request.param not in _core.isas_available():
        pytest.skip(f"this CPU (or build) cannot run the {request.param} kernels; "
                    "tools/emulate_avx512.sh runs them on AVX2" if request.param == "avx512"
                    else f"this CPU (or build) cannot run the {request.param} kernels")
    original = _core.active_isa()
    _core.set_isa(request.param)
    yield request.param
    _core.set_isa(original)


@pytest.fixture(params=DTYPES, ids=lambda dt: np.dtype(dt).name)
def dtype(request):
    return request.param


@pytest.fixture
def restore_threads():
    """For tests that call set_num_threads: afterwards the thread count follows
    OpenMP again (set_num_threads(None))."""
    yield
    fastmlp.set_num_threads(None)


@pytest.fixture
def rng(request):
    """A random generator seeded from the test's id: reproducible, and different
    for each test and parameter set."""
    return rng_for(request.node.nodeid)
