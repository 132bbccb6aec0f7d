"""The GEMM blocking hook (_core.gemm_blocking / set_gemm_blocking), for
tuning: any valid blocking gives correct results, bitwise the same on any
thread count; bad values change nothing; set_isa restores the ISA's own."""
import numpy as np
import pytest

import fastmlp
from fastmlp import _core
from gemm_helpers import assert_gemm_close, make_operands

FIELDS = {"mc", "kc", "kc_strided_a", "nc"}


@pytest.fixture
def restore_blocking():
    yield
    _core.set_isa(_core.active_isa())


def tiny_blocking(dtype):
    """Blocks of one tile, thin k slices, column blocks of two panels: every
    loop of the driver runs many times even on small products."""
    mr, nr = _core.gemm_tile(dtype)
    return {"mc": mr, "kc": 7, "kc_strided_a": 5, "nc": 2 * nr}


# (m, n, k, trans_a, trans_b): A in place and packed, B in place and packed,
# strided A (kc_strided_a), column blocks with a ragged last one
SHAPES = [
    pytest.param(40, 70, 60, False, False, id="40x70x60"),
    pytest.param(100, 90, 50, True, False, id="100x90x50-TN"),
    pytest.param(33, 130, 41, False, True, id="33x130x41-NT"),
    pytest.param(70, 45, 29, True, True, id="70x45x29-TT"),
    pytest.param(1, 150, 40, False, False, id="1x150x40-one-row"),
]


def test_every_isa_reports_its_blocking(isa, dtype):
    blocking = _core.gemm_blocking(dtype)
    mr, nr = _core.gemm_tile(dtype)
    assert set(blocking) == FIELDS
    assert blocking["mc"] % mr == 0 and blocking["nc"] % nr == 0
    assert 1 <= blocking["kc_strided_a"] <= blocking["kc"]


def test_config_reports_the_active_blocking(isa, dtype, restore_blocking):
    name = np.dtype(dtype).name
    assert fastmlp.config()["gemm_blocking"][name] == _core.gemm_blocking(dtype)
    _core.set_gemm_blocking(dtype, kc=9)
    assert fastmlp.config()["gemm_blocking"][name]["kc"] == 9


def test_set_changes_only_the_fields_given_and_set_isa_restores(isa, dtype, restore_blocking):
    before = _core.gemm_blocking(dtype)
    other = np.float64 if np.dtype(dtype) == np.float32 else np.float32
    other_before = _core.gemm_blocking(other)
    _core.set_gemm_blocking(dtype, kc=before["kc"] + 1)
    assert _core.gemm_blocking(dtype) == dict(before, kc=before["kc"] + 1)
    assert _core.gemm_blocking(other) == other_before
    _core.set_isa(isa)
    assert _core.gemm_blocking(dtype) == before


@pytest.mark.parametrize("fields, error, match", [
    ({"mc": 0}, ValueError, r"mc must be in \[1, 65536\]"),
    ({"kc": 65537}, ValueError, r"kc must be in \[1, 65536\]"),
    ({"kc": 2.5}, TypeError, "kc must be an int"),
    ({"nc": True}, TypeError, "nc must be an int"),
    ({"mc": 1}, ValueError, "mc must be a multiple of mr"),
    ({"nc": 1}, ValueError, "nc one of nr"),
    ({"mr": 4}, ValueError, "unknown blocking field"),
])
def test_bad_blocking_raises_and_changes_nothing(isa, dtype, fields, error, match,
                                                 restore_blocking):
    assert min(_core.gemm_tile(dtype)) > 1  # so mc = 1 and nc = 1 are not multiples
    before = _core.gemm_blocking(dtype)
    with pytest.raises(error, match=match):
        _core.set_gemm_blocking(dtype, **fields)
    assert _core.gemm_blocking(dtype) == before


@pytest.mark.parametrize("query", [_core.gemm_tile, _core.gemm_blocking,
                                   lambda dtype: _core.set_gemm_blocking(dtype, kc=8)])
@pytest.mark.parametrize("dtype", ["int32", "complex128", "float16"])
def test_other_dtypes_are_refused(query, dtype, restore_blocking):
    """They once got float32's answers."""
    with pytest.raises(ValueError, match=f"dtype must be float32 or float64, not {dtype}"):
        query(dtype)


@pytest.mark.parametrize("m, n, k, trans_a, trans_b", SHAPES)
def test_tiny_blocking_is_correct_and_thread_independent(
        isa, dtype, rng, m, n, k, trans_a, trans_b, restore_blocking, restore_threads):
    a, b = make_operands(rng, m, n, k, dtype, trans_a, trans_b)
    _core.set_gemm_blocking(dtype, **tiny_blocking(dtype))
    results = []
    for threads in (1, 2, 3):
        fastmlp.set_num_threads(threads)
        got = fastmlp.gemm(a, b, trans_a=trans_a, trans_b=trans_b, alpha=0.5)
        assert_gemm_close(got, a, b, trans_a=trans_a, trans_b=trans_b, alpha=0.5)
        results.append(got.tobytes())
    assert results[1] == results[0] and results[2] == results[0]


def test_kc_sets_the_rounding(dtype, rng, restore_blocking):
    """The blocking is really used: k slices of another depth sum in another
    order, and a deep product shows it in some bit."""
    a, b = make_operands(rng, 64, 64, 1000, dtype)
    default = fastmlp.gemm(a, b)
    _core.set_gemm_blocking(dtype, kc=3)
    sliced = fastmlp.gemm(a, b)
    assert_gemm_close(sliced, a, b)
    assert sliced.tobytes() != default.tobytes()
