"""gemm's argument checking: each bad call raises the documented exception with
a helpful message; unusual but valid inputs (byte-swapped, read-only,
memory-mapped, misaligned, nested lists) work."""
import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

from fastmlp import gemm
from gemm_helpers import assert_gemm_close, rng_for

_rng = rng_for("test_gemm_errors")
A32 = _rng.standard_normal((3, 4)).astype(np.float32)  # 3x4 @ 4x5 -> 3x5
B32 = _rng.standard_normal((4, 5)).astype(np.float32)
A64, B64 = A32.astype(np.float64), B32.astype(np.float64)


def out64(shape=(3, 5), **kwargs):
    return np.zeros(shape, np.float64, **kwargs)


def read_only(x):
    x = x.copy()
    x.flags.writeable = False
    return x


def self_overlapping(shape, strides):
    return as_strided(np.zeros(16, np.float64), shape=shape, strides=strides)


NON_FLOAT_DTYPES = ["int8", "int32", "int64", "uint8", "bool", "float16",
                    "complex64", "complex128", "object"]
if np.dtype(np.longdouble).itemsize > 8:
    NON_FLOAT_DTYPES.append("longdouble")


@pytest.mark.parametrize("dtype", NON_FLOAT_DTYPES)
def test_a_of_unsupported_dtype(dtype):
    with pytest.raises(TypeError, match="a must hold float32 or float64"):
        gemm(A64.astype(dtype), B64)


@pytest.mark.parametrize("dtype", NON_FLOAT_DTYPES)
def test_b_of_unsupported_dtype(dtype):
    with pytest.raises(TypeError, match="b must hold float32 or float64"):
        gemm(A64, B64.astype(dtype))


# (call, exception, message fragment)
ERRORS = [
    # dtypes
    pytest.param(lambda: gemm(A32, B64), TypeError, "one dtype", id="float32-with-float64"),
    pytest.param(lambda: gemm(A64, B32), TypeError, "one dtype", id="float64-with-float32"),
    pytest.param(lambda: gemm(A32, B32, out=out64()), TypeError, "out has dtype float64",
                 id="out-wrong-dtype"),
    pytest.param(lambda: gemm(A64, B64, out=out64().astype(">f8")), TypeError, "out has dtype",
                 id="out-byte-swapped"),
    pytest.param(lambda: gemm(A64, B64, out=out64().tolist()), TypeError,
                 "out must be a numpy.ndarray", id="out-list"),
    # alpha, beta
    pytest.param(lambda: gemm(A64, B64, alpha=None), TypeError, "alpha must be a real number",
                 id="alpha-None"),
    pytest.param(lambda: gemm(A64, B64, alpha=1j), TypeError, "alpha must be a real number",
                 id="alpha-complex"),
    pytest.param(lambda: gemm(A64, B64, alpha=[1.0]), TypeError, "alpha must be a real number",
                 id="alpha-list"),
    pytest.param(lambda: gemm(A64, B64, alpha="abc"), TypeError, "alpha must be a real number",
                 id="alpha-str"),
    pytest.param(lambda: gemm(A64, B64, beta=object(), out=out64()), TypeError,
                 "beta must be a real number", id="beta-object"),
    pytest.param(lambda: gemm(A64, B64, alpha="2"), TypeError, "alpha must be a real number",
                 id="alpha-numeric-str"),
    pytest.param(lambda: gemm(A32, B32, alpha=1e39), ValueError, "overflows float32",
                 id="alpha-overflows-float32"),
    pytest.param(lambda: gemm(A64, B64, alpha=np.nan), ValueError, "alpha must be finite",
                 id="alpha-nan"),
    pytest.param(lambda: gemm(A64, B64, alpha=np.inf), ValueError, "alpha must be finite",
                 id="alpha-inf"),
    pytest.param(lambda: gemm(A64, B64, alpha=10**400), ValueError, "alpha must be finite",
                 id="alpha-int-beyond-double"),
    pytest.param(lambda: gemm(A64, B64, beta=-10**400, out=out64()), ValueError,
                 "beta must be finite", id="beta-int-beyond-double"),
    pytest.param(lambda: gemm(A64, B64, alpha=np.float32("-inf")), ValueError,
                 "alpha must be finite", id="alpha-minus-inf-float32"),
    pytest.param(lambda: gemm(A64, B64, beta=np.nan, out=out64()), ValueError,
                 "beta must be finite", id="beta-nan"),
    pytest.param(lambda: gemm(A64, B64, beta=-np.inf, out=out64()), ValueError,
                 "beta must be finite", id="beta-minus-inf"),
    pytest.param(lambda: gemm(A64, B64, beta=1.0), ValueError, "pass it as out=",
                 id="beta-without-out"),
    # shapes
    pytest.param(lambda: gemm(A64, A64), ValueError, "inner dimensions", id="inner-NN"),
    pytest.param(lambda: gemm(A64, B64, trans_a=True), ValueError, "inner dimensions",
                 id="inner-TN"),
    pytest.param(lambda: gemm(A64, B64, trans_b=True), ValueError, "inner dimensions",
                 id="inner-NT"),
    pytest.param(lambda: gemm(A64, B64, trans_a=True, trans_b=True), ValueError,
                 "inner dimensions", id="inner-TT"),
    pytest.param(lambda: gemm(A64[0], B64), ValueError, "a must be 2-D", id="a-1d"),
    pytest.param(lambda: gemm(A64, B64[:, 0]), ValueError, "b must be 2-D", id="b-1d"),
    pytest.param(lambda: gemm(A64[None], B64), ValueError, "a must be 2-D", id="a-3d"),
    pytest.param(lambda: gemm(A64, B64[None]), ValueError, "b must be 2-D", id="b-3d"),
    pytest.param(lambda: gemm(np.float64(1.0), B64), ValueError, "a must be 2-D", id="a-0d"),
    # out
    pytest.param(lambda: gemm(A64, B64, out=out64((5, 3))), ValueError, "out has shape",
                 id="out-transposed-shape"),
    pytest.param(lambda: gemm(A64, B64, out=out64((15,))), ValueError, "out has shape",
                 id="out-1d"),
    pytest.param(lambda: gemm(A64, B64, out=out64((1, 3, 5))), ValueError, "out has shape",
                 id="out-3d"),
    pytest.param(lambda: gemm(A64, B64, out=read_only(out64())), ValueError, "read-only",
                 id="out-read-only"),
    pytest.param(lambda: gemm(A64, B64, out=self_overlapping((3, 5), (0, 8))), ValueError,
                 "its own place", id="out-zero-row-stride"),
    pytest.param(lambda: gemm(A64, B64, out=self_overlapping((3, 5), (8, 0))), ValueError,
                 "its own place", id="out-zero-column-stride"),
    pytest.param(lambda: gemm(A64, B64, out=self_overlapping((3, 5), (16, 8))), ValueError,
                 "its own place", id="out-rows-overlap"),
    # one row's (column's) last element is the next one's first
    pytest.param(lambda: gemm(A64, B64, out=self_overlapping((3, 5), (32, 8))), ValueError,
                 "its own place", id="out-rows-touch"),
    pytest.param(lambda: gemm(A64, B64, out=self_overlapping((3, 5), (8, 16))), ValueError,
                 "its own place", id="out-columns-touch"),
    # out[0, 2] and out[1, 0] are one place; the strides do not fit in a C int
    # (the check once cut them to one). Refused before anything is written.
    pytest.param(lambda: gemm(A64, B64, out=self_overlapping((3, 5), (2**32 + 16, 2**31 + 8))),
                 ValueError, "its own place", id="out-rows-overlap-beyond-int-strides"),
    pytest.param(lambda: gemm(A64, B64, out=np.frombuffer(bytearray(8 * 16 + 1), np.float64,
                                                          15, offset=1).reshape(3, 5)),
                 ValueError, "aligned", id="out-misaligned"),
]


@pytest.mark.parametrize("call, exception, message", ERRORS)
def test_bad_call_raises(call, exception, message):
    with pytest.raises(exception, match=message):
        call()


def test_failed_call_leaves_out_untouched():
    out = np.full((3, 5), 7.0)
    with pytest.raises(ValueError, match="must be finite"):
        gemm(A64, B64, alpha=np.nan, out=out)
    assert (out == 7.0).all()


# ---- unusual inputs that are valid ----------------------------------------

def test_non_native_byte_order_inputs():
    a, b = A32.astype(">f4"), B32.astype(">f4")
    c = gemm(a, b)
    assert c.dtype == np.float32 and c.dtype.isnative
    assert_gemm_close(c, A32, B32)


def test_byte_swapped_operand_mixes_with_native():
    assert_gemm_close(gemm(A64.astype(">f8"), B64), A64, B64)


def test_read_only_inputs():
    assert_gemm_close(gemm(read_only(A64), read_only(B64)), A64, B64)


def test_misaligned_inputs():
    buf = np.frombuffer(bytearray(A64.nbytes + 1), np.uint8)[1:]
    a = buf.view(np.float64).reshape(A64.shape)
    a[...] = A64
    assert not a.flags.aligned
    assert_gemm_close(gemm(a, B64), A64, B64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_memory_mapped_input(tmp_path, dtype):
    a = np.memmap(tmp_path / "a.bin", dtype=dtype, mode="w+", shape=A64.shape)
    a[...] = A64
    a.flush()
    a_ro = np.memmap(tmp_path / "a.bin", dtype=dtype, mode="r", shape=A64.shape)
    c = gemm(a_ro, B64.astype(dtype))
    assert type(c) is np.ndarray  # a fresh array, not a memmap
    assert_gemm_close(c, A64.astype(dtype), B64.astype(dtype))


def test_memory_mapped_out(tmp_path):
    out = np.memmap(tmp_path / "c.bin", dtype=np.float64, mode="w+", shape=(3, 5))
    assert gemm(A64, B64, out=out) is out
    assert_gemm_close(np.asarray(out), A64, B64)


def test_nested_lists_of_floats():
    c = gemm(A64.tolist(), tuple(map(tuple, B64.tolist())))
    assert c.dtype == np.float64
    assert_gemm_close(c, A64, B64)


def test_numpy_scalars_as_alpha_beta():
    out = np.ones((3, 5), np.float32)
    gemm(A32, B32, alpha=np.float32(2), beta=np.int64(3), out=out)
    assert_gemm_close(out, A32, B32, alpha=2.0, beta=3.0, c=np.ones((3, 5)))
