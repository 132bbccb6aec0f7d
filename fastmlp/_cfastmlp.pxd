# Declarations of the C API in csrc/fastmlp.h.

cdef extern from "fastmlp.h" nogil:
    ctypedef enum fm_isa:
        FM_ISA_GENERIC
        FM_ISA_AVX2
        FM_ISA_AVX512
        FM_ISA_COUNT

    const char *fm_isa_name(fm_isa isa)
    int fm_isa_supported(fm_isa isa)
    fm_isa fm_isa_best()
    int fm_isa_select(fm_isa isa)
    fm_isa fm_isa_active()
    void fm_gemm_tile(int is_double, int *mr, int *nr)
    int FM_BLOCKING_MAX
    void fm_gemm_get_blocking(int is_double, int *mc, int *kc, int *kc_strided_a, int *nc)
    int fm_gemm_set_blocking(int is_double, int mc, int kc, int kc_strided_a, int nc)
    const char *fm_build_compiler()

    int fm_openmp_enabled()
    int FM_MAX_THREADS
    void fm_set_num_threads(int n)
    int fm_get_num_threads()
    void fm_follow_threads(int n)

    int fm_sgemm(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, float alpha,
                 const float *a, Py_ssize_t rs_a, Py_ssize_t cs_a,
                 const float *b, Py_ssize_t rs_b, Py_ssize_t cs_b,
                 float beta, float *c, Py_ssize_t rs_c, Py_ssize_t cs_c)
    int fm_dgemm(Py_ssize_t m, Py_ssize_t n, Py_ssize_t k, double alpha,
                 const double *a, Py_ssize_t rs_a, Py_ssize_t cs_a,
                 const double *b, Py_ssize_t rs_b, Py_ssize_t cs_b,
                 double beta, double *c, Py_ssize_t rs_c, Py_ssize_t cs_c)

    int fm_s_all_finite(const float *x, Py_ssize_t n)
    int fm_d_all_finite(const double *x, Py_ssize_t n)

cdef extern from "threads.h" nogil:
    long fm_claim_trace(Py_ssize_t count, int threads, int idle_thread, int *taker)

cdef extern from "gemm/gemm_row.h" nogil:
    void fm_sgemm_row_range(Py_ssize_t m, int part, int parts, const double *share,
                            Py_ssize_t *lo, Py_ssize_t *hi)
    void fm_dgemm_row_range(Py_ssize_t m, int part, int parts, const double *share,
                            Py_ssize_t *lo, Py_ssize_t *hi)
