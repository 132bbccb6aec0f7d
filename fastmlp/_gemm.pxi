# GEMM (csrc/gemm): fastmlp.gemm.

cdef inline bint _readable_in_place(cnp.ndarray x):
    """True when the kernels can read x through its strides: aligned, native
    byte order, strides whole elements."""
    cdef Py_ssize_t item = cnp.PyArray_ITEMSIZE(x)
    return (cnp.PyArray_ISALIGNED(x) and cnp.PyArray_ISNOTSWAPPED(x)
            and cnp.PyArray_STRIDE(x, 0) % item == 0 and cnp.PyArray_STRIDE(x, 1) % item == 0)


cdef cnp.ndarray _as_operand(x, str name):
    """x as a 2-D float32/float64 ndarray the kernels can read."""
    cdef cnp.ndarray arr
    if isinstance(x, cnp.ndarray):
        arr = <cnp.ndarray>x
    else:
        arr = np.asarray(x)
    cdef int typenum = cnp.PyArray_TYPE(arr)
    if typenum != cnp.NPY_FLOAT32 and typenum != cnp.NPY_FLOAT64:
        raise TypeError(
            f"{name} must hold float32 or float64, not {arr.dtype}; convert it with "
            f"{name}.astype(np.float32)")
    if cnp.PyArray_NDIM(arr) != 2:
        raise ValueError(f"{name} must be 2-D, got shape {np.shape(arr)}")
    if not _readable_in_place(arr):
        # a fresh copy, so aligned: ascontiguousarray would return a
        # C-contiguous misaligned array as it is
        arr = np.array(arr, dtype=arr.dtype.newbyteorder("="), order="C", copy=True)
    return arr


cdef inline Py_ssize_t _magnitude(Py_ssize_t stride) noexcept:
    return -stride if stride < 0 else stride  # libc's abs() would cut it to an int


cdef bint _writable_matrix(cnp.ndarray c):
    """True when every element of c has its own place in memory, so the
    kernels can write it through its strides."""
    cdef Py_ssize_t item = cnp.PyArray_ITEMSIZE(c)
    cdef Py_ssize_t n0 = cnp.PyArray_DIM(c, 0), n1 = cnp.PyArray_DIM(c, 1)
    cdef Py_ssize_t s0 = _magnitude(cnp.PyArray_STRIDE(c, 0))
    cdef Py_ssize_t s1 = _magnitude(cnp.PyArray_STRIDE(c, 1))
    if n0 == 0 or n1 == 0:  # no elements, nothing to overlap
        return True
    if n0 == 1 or n1 == 1:  # a stride over one element is never used
        return (n0 <= 1 or s0 >= item) and (n1 <= 1 or s1 >= item)
    # Each row's last element ends before the next row starts:
    # s0 >= s1 (n1 - 1) + item, divided so as not to overflow (and the same
    # for columns when they are the outer stride).
    if s0 >= s1:
        return s1 >= item and (s0 - item) // (n1 - 1) >= s1
    return s0 >= item and (s1 - item) // (n0 - 1) >= s0


cdef cnp.ndarray _check_out(out, dtype, Py_ssize_t m, Py_ssize_t n):
    if not isinstance(out, cnp.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, not {type(out).__name__}")
    cdef cnp.ndarray c = <cnp.ndarray>out
    if c.dtype != dtype:
        raise TypeError(f"out has dtype {c.dtype}; this product needs {dtype}")
    if cnp.PyArray_NDIM(c) != 2 or c.shape[0] != m or c.shape[1] != n:
        raise ValueError(f"out has shape {np.shape(c)}; this product needs ({m}, {n})")
    if not cnp.PyArray_ISWRITEABLE(c):
        raise ValueError("out is read-only")
    if not (_readable_in_place(c) and _writable_matrix(c)):
        raise ValueError(
            "out must be aligned, in native byte order, and have strides that give each "
            f"element its own place (got strides {(<object>c).strides}); pass a fresh array")
    return c


cdef double _finite_scalar(value, str name, bint single) except? -1.0:
    """value as a finite double; with `single`, also finite in float32."""
    cdef double v
    if type(value) is float:  # the common case, without the generic conversion
        v = <double>value
    elif isinstance(value, (str, bytes, bytearray)):  # float() would parse these
        raise TypeError(f"{name} must be a real number, not {type(value).__name__}")
    else:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a real number, not {type(value).__name__}") from None
        except OverflowError:  # an int (or Fraction) beyond the double range
            raise ValueError(f"{name} must be finite, got one beyond the float64 "
                             "range") from None
    if not isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    if single and fabs(v) > FLT_MAX:
        raise ValueError(f"{name}={v} overflows float32, the dtype of this product")
    return v


cdef void _extent(cnp.ndarray x, char **lo, char **hi) noexcept:
    """[lo, hi): the bytes x's elements can occupy."""
    cdef char *start = <char *>cnp.PyArray_DATA(x)
    cdef Py_ssize_t first = 0, last = cnp.PyArray_ITEMSIZE(x), d, span
    for d in range(cnp.PyArray_NDIM(x)):
        if cnp.PyArray_DIM(x, d) == 0:
            lo[0] = hi[0] = start
            return
        span = (cnp.PyArray_DIM(x, d) - 1) * cnp.PyArray_STRIDE(x, d)
        if span < 0:
            first += span
        else:
            last += span
    lo[0], hi[0] = start + first, start + last


cdef bint _may_overlap(cnp.ndarray x, cnp.ndarray y) noexcept:
    """False when x and y certainly share no memory (numpy.may_share_memory,
    without its call overhead)."""
    cdef char *xlo
    cdef char *xhi
    cdef char *ylo
    cdef char *yhi
    _extent(x, &xlo, &xhi)
    _extent(y, &ylo, &yhi)
    return xlo < yhi and ylo < xhi and xlo < xhi and ylo < yhi


cdef cnp.ndarray _copy_if_overlapping(cnp.ndarray x, cnp.ndarray c):
    return x.copy() if _may_overlap(x, c) else x


def gemm(a, b, *, bint trans_a=False, bint trans_b=False, alpha=1.0, beta=0.0, out=None):
    """C = alpha * op(A) @ op(B) + beta * C, op(X) = X.T when trans_x, else X.

    a, b: 2-D float32 or float64 arrays of one dtype; C-, Fortran-ordered and
    strided views are read in place. out: the C to write, in place (any
    layout whose elements do not overlap); a new C-ordered array when None,
    in which case beta must be 0. Returns C.

    beta == 0 means C is not read (NaN in out does not propagate). The result
    is bitwise the same for any number of threads.
    """
    cdef cnp.ndarray A = _as_operand(a, "a"), B = _as_operand(b, "b")
    if cnp.PyArray_TYPE(A) != cnp.PyArray_TYPE(B):
        raise TypeError(f"a and b must have one dtype, got {A.dtype} and {B.dtype}")
    cdef bint single = cnp.PyArray_TYPE(A) == cnp.NPY_FLOAT32
    cdef double alpha_v = _finite_scalar(alpha, "alpha", single)
    cdef double beta_v = _finite_scalar(beta, "beta", single)
    cdef Py_ssize_t m = A.shape[1] if trans_a else A.shape[0]
    cdef Py_ssize_t k = A.shape[0] if trans_a else A.shape[1]
    cdef Py_ssize_t kb = B.shape[1] if trans_b else B.shape[0]
    cdef Py_ssize_t n = B.shape[0] if trans_b else B.shape[1]
    if k != kb:
        raise ValueError(
            f"op(a) is {m}x{k} but op(b) is {kb}x{n}: inner dimensions differ "
            f"(a.shape={np.shape(A)}, trans_a={trans_a}, b.shape={np.shape(B)}, trans_b={trans_b})")

    cdef cnp.ndarray C
    cdef cnp.npy_intp dims[2]
    if out is None:
        if beta_v != 0:
            raise ValueError("beta != 0 scales and adds to an existing C: pass it as out=")
        dims[0], dims[1] = m, n
        C = cnp.PyArray_EMPTY(2, dims, cnp.PyArray_TYPE(A), 0)
    else:
        C = _check_out(out, A.dtype, m, n)
        # The kernels overwrite C while still reading A and B.
        A = _copy_if_overlapping(A, C)
        B = _copy_if_overlapping(B, C)

    # op(X)[i, j] = x[i*rs + j*cs], strides in elements
    cdef Py_ssize_t item = cnp.PyArray_ITEMSIZE(A)
    cdef Py_ssize_t rs_a = A.strides[0] // item, cs_a = A.strides[1] // item
    cdef Py_ssize_t rs_b = B.strides[0] // item, cs_b = B.strides[1] // item
    if trans_a:
        rs_a, cs_a = cs_a, rs_a
    if trans_b:
        rs_b, cs_b = cs_b, rs_b
    cdef Py_ssize_t rs_c = C.strides[0] // item, cs_c = C.strides[1] // item
    cdef int status
    cdef void *pa = cnp.PyArray_DATA(A)
    cdef void *pb = cnp.PyArray_DATA(B)
    cdef void *pc = cnp.PyArray_DATA(C)
    if item == 4:
        with nogil:
            status = fm_sgemm(m, n, k, <float>alpha_v, <const float *>pa, rs_a, cs_a,
                              <const float *>pb, rs_b, cs_b, <float>beta_v, <float *>pc, rs_c, cs_c)
    else:
        with nogil:
            status = fm_dgemm(m, n, k, alpha_v, <const double *>pa, rs_a, cs_a,
                              <const double *>pb, rs_b, cs_b, beta_v, <double *>pc, rs_c, cs_c)
    if status != 0:
        raise MemoryError(f"gemm: no memory for the packing workspace ({m}x{n}x{k})")
    return C
