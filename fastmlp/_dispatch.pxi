# Kernel dispatch (csrc/arch) and threads (csrc/threads.c).

def isas_available():
    """Names of the kernel sets this build and CPU can run, best last."""
    return [name for i, name in enumerate(ISAS) if fm_isa_supported(<fm_isa>i)]


def best_isa():
    return ISAS[fm_isa_best()]


def active_isa():
    return ISAS[fm_isa_active()]


def set_isa(name):
    """Make `name`'s kernels the active ones for every later call.

    Not thread-safe against kernels running at the same time; fastmlp calls it
    once at import (FASTMLP_ISA), tests and benchmarks call it between runs.
    """
    if name not in ISAS:
        raise ValueError(f"unknown ISA {name!r}; expected one of {', '.join(ISAS)}")
    if fm_isa_select(<fm_isa><int>ISAS.index(name)) != 0:
        raise RuntimeError(
            f"this CPU (or this build) cannot run the {name} kernels; "
            f"available: {', '.join(isas_available())}")


cdef bint _is_double(dtype) except -1:
    """True for float64, False for float32; a ValueError for anything else."""
    kind = np.dtype(dtype)
    if kind != np.float32 and kind != np.float64:
        raise ValueError(f"dtype must be float32 or float64, not {kind}")
    return kind == np.float64


def gemm_tile(dtype):
    """(mr, nr) of the active micro-kernel for float32 or float64."""
    cdef int mr, nr
    fm_gemm_tile(_is_double(dtype), &mr, &nr)
    return mr, nr


def gemm_blocking(dtype):
    """{"mc", "kc", "kc_strided_a", "nc"}: the active GEMM blocking for float32
    or float64 (kc_strided_a caps kc where op(A)'s rows are not contiguous)."""
    cdef int mc, kc, kc_strided_a, nc
    fm_gemm_get_blocking(_is_double(dtype), &mc, &kc, &kc_strided_a, &nc)
    return {"mc": mc, "kc": kc, "kc_strided_a": kc_strided_a, "nc": nc}


def set_gemm_blocking(dtype, **blocking):
    """Change some of the active blocking for float32 or float64 (names as
    gemm_blocking gives them), for tuning and tests. Results stay correct and
    independent of the thread count under any blocking, but their rounding
    changes with kc. Not thread-safe against running kernels; set_isa
    restores the ISA's own blocking."""
    current = gemm_blocking(dtype)
    unknown = set(blocking) - set(current)
    if unknown:
        raise ValueError(f"unknown blocking field(s) {sorted(unknown)}; expected {sorted(current)}")
    current.update(blocking)
    for name, value in current.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        if not 1 <= value <= FM_BLOCKING_MAX:
            raise ValueError(f"{name} must be in [1, {FM_BLOCKING_MAX}], got {value}")
    if fm_gemm_set_blocking(_is_double(dtype), current["mc"], current["kc"],
                            current["kc_strided_a"], current["nc"]) != 0:
        mr, nr = gemm_tile(dtype)
        raise ValueError(f"mc must be a multiple of mr = {mr} and nc one of nr = {nr}, "
                         f"got mc={current['mc']}, nc={current['nc']}")


def gemm_row_cuts(Py_ssize_t m, int parts, dtype, shares=None):
    """[(lo, hi), ...]: the row ranges the engine gives `parts` threads of an
    m-row product (gemm_row.h), for float32 or float64: even, or near the
    fractions `shares` (parts positive numbers, normalised here)."""
    cdef Py_ssize_t lo, hi
    cdef bint is_double = _is_double(dtype)
    cdef double[::1] fractions
    cdef const double *share = NULL
    if m < 0 or parts < 1:
        raise ValueError(f"m must be >= 0 and parts >= 1, got m={m}, parts={parts}")
    if shares is not None:
        weights = np.asarray(shares, dtype=np.float64)
        if weights.shape != (parts,) or not (np.isfinite(weights).all() and (weights > 0).all()):
            raise ValueError(f"shares must be {parts} positive finite numbers, got {shares!r}")
        fractions = weights / weights.sum()
        share = &fractions[0]
    cuts = []
    for part in range(parts):
        if is_double:
            fm_dgemm_row_range(m, part, parts, share, &lo, &hi)
        else:
            fm_sgemm_row_range(m, part, parts, share, &lo, &hi)
        cuts.append((lo, hi))
    return cuts


def claim_trace(Py_ssize_t count, int threads, int idle_thread=-1):
    """(takers, takes): the thread that took each item when a team of
    `threads` claims `count` items (fm_claim_next), and how many items were
    taken in all; with idle_thread >= 0 that thread starts only once the
    others have taken them all (for tests)."""
    if count < 0 or not 1 <= threads <= FM_MAX_THREADS or idle_thread >= threads:
        raise ValueError(f"claim_trace: count >= 0, 1 <= threads <= {FM_MAX_THREADS}, "
                         "idle_thread < threads")
    taker = np.full(count, -1, dtype=np.intc)
    cdef int[::1] view = taker
    cdef long takes
    with nogil:
        takes = fm_claim_trace(count, threads, idle_thread, &view[0] if count else NULL)
    return taker.tolist(), takes


def follow_threads(int n):
    """Make n (>= 1) this thread's OpenMP thread count, as the thread that
    hands it work has (threadpoolctl limits each thread separately)."""
    fm_follow_threads(n)


def build_compiler():
    return fm_build_compiler().decode()


def openmp_enabled():
    return bool(fm_openmp_enabled())


def set_num_threads(n):
    """Use `n` threads in every kernel; None follows OpenMP again
    (OMP_NUM_THREADS, threadpoolctl). Teams have at most 256 threads: a
    larger n, or OpenMP's count, is taken as 256."""
    if n is None:
        fm_set_num_threads(0)
        return
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"number of threads must be an int or None, not {type(n).__name__}")
    if n < 1:
        raise ValueError(f"number of threads must be >= 1, got {n}")
    fm_set_num_threads(min(int(n), FM_MAX_THREADS))


def get_num_threads():
    """Threads the kernels use (1 when built without OpenMP)."""
    return fm_get_num_threads()


cdef bint _all_finite(cnp.ndarray x):
    """all_finite for an array already known to be C-contiguous float32/float64."""
    cdef Py_ssize_t n = cnp.PyArray_SIZE(x)
    cdef const void *data = cnp.PyArray_DATA(x)
    cdef bint is_float = cnp.PyArray_TYPE(x) == cnp.NPY_FLOAT32
    cdef int ok
    with nogil:
        ok = (fm_s_all_finite(<const float *>data, n) if is_float
              else fm_d_all_finite(<const double *>data, n))
    return ok


def all_finite(cnp.ndarray x):
    """True when the C-contiguous float32/float64 array x has no NaN or inf."""
    if (not cnp.PyArray_IS_C_CONTIGUOUS(x)
            or cnp.PyArray_TYPE(x) not in (cnp.NPY_FLOAT32, cnp.NPY_FLOAT64)):
        raise ValueError("internal: all_finite takes a C-contiguous float32/float64 array")
    return _all_finite(x)
