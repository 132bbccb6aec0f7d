"""fastmlp.gemm against a float64 NumPy reference: shapes, orientations,
alpha/beta, memory layouts of inputs and out, overlap. Every test runs on
every kernel set this CPU supports (the `isa` fixture)."""
import numpy as np
import pytest

import fastmlp
from gemm_helpers import (
    INPUT_LAYOUTS, ORIENTATION_IDS, ORIENTATIONS, OUT_LAYOUTS, assert_gemm_close,
    assert_untouched_outside, make_operands, make_out, with_layout)

orientations = pytest.mark.parametrize("trans_a, trans_b", ORIENTATIONS, ids=ORIENTATION_IDS)


def mnk(m, n, k, what=""):
    """A (m, n, k) parameter: op(A) is m x k, op(B) k x n, C m x n."""
    return pytest.param((m, n, k), id=f"{m}x{n}x{k}" + (f"-{what}" if what else ""))


# Micro-tiles are at most 12x32 and blocks at most mc=240, kc=400, nc=4096 on
# any ISA (smaller on some): these cover edge tiles, several row blocks, several
# k-slices and several column panels, and every packing choice of the driver.
SHAPES = [
    mnk(1, 1, 1),
    mnk(7, 13, 11, "primes"),
    mnk(31, 37, 41, "primes"),
    mnk(1000, 3, 7, "tall"),
    mnk(3, 1000, 5, "wide"),
    mnk(17, 19, 1, "k1"),
    mnk(5, 6, 0, "k0"),
    mnk(0, 6, 5, "m0"),
    mnk(5, 0, 5, "n0"),
    mnk(0, 0, 0, "empty"),
    mnk(128, 256, 784, "mlp-forward"),
    mnk(64, 64, 32, "mlp-small"),
    mnk(32, 512, 512, "mlp-hidden"),
    mnk(1, 256, 784, "mlp-one-sample"),
    mnk(300, 70, 900, "k-slices-row-blocks"),
    mnk(100, 120, 600, "narrow-b-k-slices"),
    mnk(3, 4500, 5, "column-panels"),
    mnk(150, 4200, 2, "column-panels-row-blocks"),
    mnk(203, 1, 67, "matrix-vector"),
    mnk(2, 1, 300, "two-rows-vector"),
]


@pytest.mark.parametrize("shape", SHAPES)
@orientations
def test_matches_reference(isa, dtype, rng, shape, trans_a, trans_b):
    m, n, k = shape
    a, b = make_operands(rng, m, n, k, dtype, trans_a, trans_b)
    c = fastmlp.gemm(a, b, trans_a=trans_a, trans_b=trans_b)
    assert c.dtype == dtype and c.flags.c_contiguous
    assert_gemm_close(c, a, b, trans_a=trans_a, trans_b=trans_b)


@pytest.mark.parametrize("m", range(1, 26))
def test_every_tile_height(isa, dtype, rng, m):
    """m from 1 to past two of the tallest micro-tile: every row-count kernel."""
    a, b = make_operands(rng, m, 37, 9, dtype)
    assert_gemm_close(fastmlp.gemm(a, b), a, b)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23, 24, 25,
                               31, 32, 33, 47, 48, 49, 63, 64, 65, 129])
def test_every_tile_width(isa, dtype, rng, n):
    """n around multiples of every vector width and micro-tile width."""
    a, b = make_operands(rng, 13, n, 9, dtype)
    assert_gemm_close(fastmlp.gemm(a, b), a, b)


ALPHA_BETA = [(1.0, 0.0), (-0.75, 1.25), (2.0, 1.0), (0.5, -1.0), (0.3, 0.7), (1.0, 1.0)]


@pytest.mark.parametrize("shape", [mnk(7, 13, 11), mnk(37, 70, 29),
                                   mnk(40, 70, 900, "k-slices"), mnk(5, 6, 0, "k0")])
@pytest.mark.parametrize("alpha, beta", ALPHA_BETA)
def test_alpha_beta(isa, dtype, rng, shape, alpha, beta):
    """beta must scale C once, not once per k-slice."""
    m, n, k = shape
    a, b = make_operands(rng, m, n, k, dtype)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    out = c0.copy()
    got = fastmlp.gemm(a, b, alpha=alpha, beta=beta, out=out)
    assert got is out
    assert_gemm_close(out, a, b, alpha=alpha, beta=beta, c=c0)


@pytest.mark.parametrize("shape", [mnk(7, 13, 11), mnk(37, 70, 300), mnk(5, 6, 0, "k0")])
@pytest.mark.parametrize("alpha", [1.0, -2.0, 0.0])
def test_beta_zero_does_not_read_out(isa, dtype, rng, shape, alpha):
    m, n, k = shape
    a, b = make_operands(rng, m, n, k, dtype)
    out = np.full((m, n), np.nan, dtype=dtype)
    fastmlp.gemm(a, b, alpha=alpha, beta=0.0, out=out)
    assert not np.isnan(out).any()
    assert_gemm_close(out, a, b, alpha=alpha)


@pytest.mark.parametrize("beta", [0.0, 1.0, -0.5])
@pytest.mark.parametrize("shape", [mnk(7, 13, 11), mnk(5, 6, 0, "k0")])
def test_alpha_zero_gives_beta_c_without_reading_inputs(isa, dtype, rng, shape, beta):
    """BLAS convention: alpha == 0 (or k == 0) gives exactly beta*C, even when A
    and B hold NaN or inf."""
    m, n, k = shape
    a = np.full((m, k), np.nan, dtype=dtype)
    b = np.full((k, n), np.inf, dtype=dtype)
    c0 = rng.standard_normal((m, n)).astype(dtype)
    out = c0.copy()
    fastmlp.gemm(a, b, alpha=0.0, beta=beta, out=out)
    np.testing.assert_array_equal(out, dtype(beta) * c0)


def test_k_zero_without_out_gives_zeros(isa, dtype):
    a = np.empty((4, 0), dtype=dtype)
    b = np.empty((0, 9), dtype=dtype)
    c = fastmlp.gemm(a, b, alpha=3.0)
    assert c.shape == (4, 9) and c.dtype == dtype
    assert c.tobytes() == np.zeros((4, 9), dtype).tobytes()  # +0.0 everywhere


@pytest.mark.parametrize("shape, fresh", [
    # NumPy 2 gives fresh size-0 arrays all-zero strides
    pytest.param((0, 6, 5), True, id="0x6x5-fresh"),
    pytest.param((5, 0, 5), True, id="5x0x5-fresh"),
    pytest.param((0, 0, 0), True, id="0x0x0-fresh"),
    pytest.param((0, 6, 5), False, id="0x6x5-sliced"),
    pytest.param((5, 0, 5), False, id="5x0x5-sliced"),
])
def test_empty_out_is_returned_as_is(isa, dtype, shape, fresh):
    m, n, k = shape
    out = np.empty((m, n), dtype) if fresh else np.empty((m + 1, n + 1), dtype)[:m, :n]
    got = fastmlp.gemm(np.ones((m, k), dtype), np.ones((k, n), dtype), beta=1.0, out=out)
    assert got is out and got.shape == (m, n)


@pytest.mark.parametrize("layout_b", INPUT_LAYOUTS)
@pytest.mark.parametrize("layout_a", INPUT_LAYOUTS)
def test_input_layouts(isa, dtype, rng, layout_a, layout_b):
    """C, Fortran, strided, negative-stride views are read in place, correctly.
    (n = 70 > 4 micro-tile widths, so A is packed; B is read in place or packed
    depending on its layout.)"""
    a0, b0 = make_operands(rng, 19, 70, 23, dtype)
    a, b = with_layout(a0, layout_a), with_layout(b0, layout_b)
    assert_gemm_close(fastmlp.gemm(a, b), a0, b0)


@pytest.mark.parametrize("layout", ["C", "F", "strided", "negative"])
@orientations
def test_transposed_views_of_laid_out_inputs(isa, dtype, rng, layout, trans_a, trans_b):
    a0, b0 = make_operands(rng, 29, 45, 31, dtype, trans_a, trans_b)
    a, b = with_layout(a0, layout), with_layout(b0, layout)
    got = fastmlp.gemm(a, b, trans_a=trans_a, trans_b=trans_b)
    assert_gemm_close(got, a0, b0, trans_a=trans_a, trans_b=trans_b)


def test_zero_stride_inputs(isa, dtype, rng):
    """Broadcast (zero-stride, read-only) inputs are valid operands."""
    row = rng.standard_normal((1, 23)).astype(dtype)
    col = rng.standard_normal((23, 1)).astype(dtype)
    a = np.broadcast_to(row, (19, 23))
    b = np.broadcast_to(col, (23, 40))
    assert_gemm_close(fastmlp.gemm(a, b), a, b)


@pytest.mark.parametrize("layout", OUT_LAYOUTS)
@pytest.mark.parametrize("beta", [0.0, 0.5])
@orientations
def test_out_layouts(isa, dtype, rng, layout, beta, trans_a, trans_b):
    """out of any non-overlapping layout is written in place; nothing around it
    in its buffer changes. With beta == 0 it starts NaN (must not be read)."""
    m, n, k = 19, 70, 23
    a, b = make_operands(rng, m, n, k, dtype, trans_a, trans_b)
    out, parent, index = make_out(rng, m, n, dtype, layout, fill=np.nan if beta == 0 else None)
    c0, before = out.copy(), parent.copy()
    got = fastmlp.gemm(a, b, trans_a=trans_a, trans_b=trans_b, alpha=1.5, beta=beta, out=out)
    assert got is out
    assert_gemm_close(out, a, b, trans_a=trans_a, trans_b=trans_b, alpha=1.5, beta=beta, c=c0)
    assert_untouched_outside(parent, before, index)


@pytest.mark.parametrize("layout", OUT_LAYOUTS)
def test_panels_packed_while_multiplying(isa, dtype, rng, layout):
    """Few contiguous rows of A and a B too large to stay in L1: the first tile
    down each column panel reads B in place and packs it for the tiles below,
    over several k slices and a ragged last panel, into any out layout."""
    m, n, k = 40, 70, 600
    a, b = make_operands(rng, m, n, k, dtype)
    out, parent, index = make_out(rng, m, n, dtype, layout)
    c0, before = out.copy(), parent.copy()
    fastmlp.gemm(a, b, alpha=-0.5, beta=1.5, out=out)
    assert_gemm_close(out, a, b, alpha=-0.5, beta=1.5, c=c0)
    assert_untouched_outside(parent, before, index)


@pytest.mark.parametrize("shape", [mnk(1, 40, 7, "one-row"), mnk(40, 1, 7, "one-column")])
@pytest.mark.parametrize("layout", OUT_LAYOUTS)
def test_out_vectors(isa, dtype, rng, shape, layout):
    """Single-row and single-column outs, where one stride is never used."""
    m, n, k = shape
    a, b = make_operands(rng, m, n, k, dtype)
    out, parent, index = make_out(rng, m, n, dtype, layout)
    c0, before = out.copy(), parent.copy()
    fastmlp.gemm(a, b, beta=-1.0, out=out)
    assert_gemm_close(out, a, b, beta=-1.0, c=c0)
    assert_untouched_outside(parent, before, index)


# ---- out overlapping the inputs: the inputs are read as they were ---------

@pytest.mark.parametrize("beta", [0.0, 1.0])
@pytest.mark.parametrize("operand", ["a", "b", "a.T", "b.T"])
def test_out_is_an_input(isa, dtype, rng, operand, beta):
    n = 37
    a0, b0 = make_operands(rng, n, n, n, dtype)
    a, b = a0.copy(), b0.copy()
    out = {"a": a, "b": b, "a.T": a.T, "b.T": b.T}[operand]
    c0 = out.copy()
    fastmlp.gemm(a, b, beta=beta, out=out)
    assert_gemm_close(out, a0, b0, beta=beta, c=c0)


@orientations
def test_out_is_both_inputs(isa, dtype, rng, trans_a, trans_b):
    x0 = rng.standard_normal((37, 37)).astype(dtype)
    x = x0.copy()
    fastmlp.gemm(x, x, trans_a=trans_a, trans_b=trans_b, beta=1.0, out=x)
    assert_gemm_close(x, x0, x0, trans_a=trans_a, trans_b=trans_b, beta=1.0, c=x0)


@orientations
def test_out_partially_overlaps_inputs(isa, dtype, rng, trans_a, trans_b):
    """a, b and out are overlapping windows of one buffer."""
    m = n = k = 24
    buf = rng.standard_normal((m, 3 * n)).astype(dtype)
    out_index = (slice(None), slice(20, 20 + n))
    a, b, out = buf[:, 0:k], buf[:, 10:10 + n], buf[out_index]
    a0, b0, c0, before = a.copy(), b.copy(), out.copy(), buf.copy()
    fastmlp.gemm(a, b, trans_a=trans_a, trans_b=trans_b, beta=0.5, out=out)
    assert_gemm_close(out, a0, b0, trans_a=trans_a, trans_b=trans_b, beta=0.5, c=c0)
    assert_untouched_outside(buf, before, out_index)
