"""Helpers shared by the GEMM tests: operands, memory layouts, and the float64
reference with its error bound. (Not a test module: pytest does not collect it.)"""
import zlib

import numpy as np

DTYPES = (np.float32, np.float64)

# (trans_a, trans_b)
ORIENTATIONS = [(False, False), (True, False), (False, True), (True, True)]
ORIENTATION_IDS = ["NN", "TN", "NT", "TT"]

# Layouts an input may have; each gives an array equal to the original.
INPUT_LAYOUTS = ["C", "F", "strided", "negative", "neg_cols", "strided_F"]
# Layouts an `out` may have; each is a view of a parent buffer (see make_out).
# "stepped": every other column of a parent one column short of twice as wide,
# so each row ends one element before the next begins (F: the same by rows).
OUT_LAYOUTS = ["C", "F", "strided", "negative", "strided_F", "stepped", "stepped_F"]


def rng_for(*key):
    """A NumPy generator seeded from `key`, the same in every run and process."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def operand_shapes(m, n, k, trans_a=False, trans_b=False):
    """Shapes of a and b such that op(a) is m x k and op(b) is k x n."""
    return ((k, m) if trans_a else (m, k)), ((n, k) if trans_b else (k, n))


def make_operands(rng, m, n, k, dtype, trans_a=False, trans_b=False):
    shape_a, shape_b = operand_shapes(m, n, k, trans_a, trans_b)
    return (rng.standard_normal(shape_a).astype(dtype),
            rng.standard_normal(shape_b).astype(dtype))


def _view_index(layout, rows, cols):
    """(parent shape, parent order, index) such that parent[index] is rows x cols
    with the requested layout."""
    full = (slice(None), slice(None))
    if layout == "C":
        return (rows, cols), "C", full
    if layout == "F":
        return (rows, cols), "F", full
    if layout == "negative":
        return (rows, cols), "C", (slice(None, None, -1), slice(None, None, -1))
    if layout == "neg_cols":
        return (rows, cols), "C", (slice(None), slice(None, None, -1))
    if layout == "stepped":
        return (rows, max(2 * cols - 1, 0)), "C", (slice(None), slice(None, None, 2))
    if layout == "stepped_F":
        return (max(2 * rows - 1, 0), cols), "F", (slice(None, None, 2), slice(None))
    if layout in ("strided", "strided_F"):
        # Offsets 1 and 2 so the view starts inside the parent, not at its corner.
        index = (slice(1, 1 + 2 * rows, 2), slice(2, 2 + 3 * cols, 3))
        return (2 * rows + 1, 3 * cols + 2), ("F" if layout == "strided_F" else "C"), index
    raise ValueError(f"unknown layout {layout!r}")


def with_layout(x, layout):
    """An array equal to the 2-D array x, laid out in memory as `layout`."""
    shape, order, index = _view_index(layout, *x.shape)
    parent = np.zeros(shape, dtype=x.dtype, order=order)
    view = parent[index]
    view[...] = x
    return view


def make_out(rng, m, n, dtype, layout, fill=None):
    """(out, parent, index): out = parent[index] is an m x n view laid out as
    `layout`; parent is random elsewhere (to check it is left untouched); out
    holds `fill` if given, else random values."""
    shape, order, index = _view_index(layout, m, n)
    parent = np.asarray(rng.standard_normal(shape), dtype=dtype, order=order)
    out = parent[index]
    if fill is not None:
        out[...] = fill
    return out, parent, index


def assert_untouched_outside(parent, before, index):
    """Every element of parent outside parent[index] is bitwise as in `before`."""
    expected = before.copy()
    expected[index] = parent[index]
    assert expected.tobytes() == parent.tobytes(), "gemm wrote outside out"


def reference(a, b, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, c=None):
    """(C, scale): alpha*op(A)@op(B) + beta*C in float64 from the same inputs,
    and alpha*|op(A)|@|op(B)| + |beta*C|, the magnitude that rounding errors
    are relative to."""
    a64 = np.asarray(a, dtype=np.float64)
    b64 = np.asarray(b, dtype=np.float64)
    op_a = a64.T if trans_a else a64
    op_b = b64.T if trans_b else b64
    ref = alpha * (op_a @ op_b)
    scale = abs(alpha) * (np.abs(op_a) @ np.abs(op_b))
    if beta != 0:
        c64 = np.asarray(c, dtype=np.float64)
        ref = ref + beta * c64
        scale = scale + abs(beta) * np.abs(c64)
    return ref, scale


def assert_gemm_close(got, a, b, *, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, c=None):
    """got matches the float64 reference within the worst-case rounding bound.

    A k-term dot product summed in any order, with or without FMA, is off by at
    most k*u*sum|a_i*b_i| (u = eps/2, unit roundoff); alpha*acc, beta*c, their
    sum, and the rounding of alpha and beta to float32 add a few more u. So
    |got - ref| <= (k + 4) * eps * scale, which holds with a factor ~2 to spare.
    In practice errors stay below 1/10 of it (1/1000 for k ~ 1000), while a
    dropped, doubled or misplaced term exceeds it in nearly every element.
    """
    ref, scale = reference(a, b, trans_a=trans_a, trans_b=trans_b, alpha=alpha, beta=beta, c=c)
    k = np.shape(a)[0 if trans_a else 1]
    assert got.shape == ref.shape
    tol = (k + 4) * np.finfo(got.dtype).eps * scale
    err = np.abs(got.astype(np.float64) - ref)
    bad = ~(err <= tol)  # NaN counts as bad
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise AssertionError(
            f"{bad.sum()} of {bad.size} elements off; first at [{i}, {j}]: "
            f"got {got[i, j]!r}, expected {ref[i, j]!r}, "
            f"|err| {err[i, j]:.3g} > tol {tol[i, j]:.3g}")
