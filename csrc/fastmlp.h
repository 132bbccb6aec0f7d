/* fastmlp's C API: what the Cython bindings call. No Python in here.
 *
 * Matrices are passed as a pointer to element [0,0] plus a row stride and a
 * column stride counted in elements (either may be negative or, for inputs,
 * zero), so transposed, C-, Fortran-ordered and strided views need no copy.
 */
#ifndef FASTMLP_H
#define FASTMLP_H

#include <stddef.h>

/* ---- instruction sets (csrc/arch) ---------------------------------------- */
typedef enum { FM_ISA_GENERIC = 0, FM_ISA_AVX2 = 1, FM_ISA_AVX512 = 2, FM_ISA_COUNT } fm_isa;

const char *fm_isa_name(fm_isa isa);
/* 1 when this build has the ISA's kernels and this CPU and OS can run them. */
int fm_isa_supported(fm_isa isa);
/* The best supported ISA. */
fm_isa fm_isa_best(void);
/* Makes `isa`'s kernels the active ones; -1 (nothing changed) when unsupported. */
int fm_isa_select(fm_isa isa);
fm_isa fm_isa_active(void);

/* The micro-tile of the active GEMM kernels, for reports ("6x16"). */
void fm_gemm_tile(int is_double, int *mr, int *nr);
/* The active GEMM blocking for float32 or float64: row blocks of mc, k
 * slices of kc (kc_strided_a where op(A)'s rows are not contiguous), column
 * blocks of nc. Setting it is for tuning and tests, between calls (it races
 * with running kernels); fm_isa_select restores the ISA's own. Returns -1,
 * changing nothing, unless mc is a multiple of mr, nc one of nr, and every
 * value is in [1, FM_BLOCKING_MAX]. */
#define FM_BLOCKING_MAX 65536
void fm_gemm_get_blocking(int is_double, int *mc, int *kc, int *kc_strided_a, int *nc);
int fm_gemm_set_blocking(int is_double, int mc, int kc, int kc_strided_a, int nc);

/* ---- build (csrc/build_info.c) ------------------------------------------ */
const char *fm_build_compiler(void);

/* ---- threads (csrc/threads.c) ------------------------------------------- */
int fm_openmp_enabled(void);
/* n >= 1 fixes the thread count; n <= 0 follows OpenMP (OMP_NUM_THREADS,
 * omp_set_num_threads, threadpoolctl). Either way a team has at most
 * FM_MAX_THREADS: starting one takes stack space in proportion to its size
 * (in libgomp too), and no result's bits depend on it. */
#define FM_MAX_THREADS 256
void fm_set_num_threads(int n);
int fm_get_num_threads(void);
/* n >= 1: the calling thread's own OpenMP thread count (OpenMP keeps
 * omp_set_num_threads per thread), which fm_get_num_threads follows there
 * when the count is not fixed. */
void fm_follow_threads(int n);

/* ---- GEMM (csrc/gemm) --------------------------------------------------- *
 * C[m,n] = alpha * A[m,k] . B[k,n] + beta * C, where X[i,j] = x[i*rs_x + j*cs_x].
 * beta == 0 means C is not read (NaN in C does not propagate); k == 0 or
 * alpha == 0 scales C by beta without reading A or B. C must not overlap
 * A or B, nor itself. Each C element is summed over k in one fixed order, so
 * the result is bitwise the same for every thread count.
 * Returns 0, or -1 when the workspace could not be allocated. */
int fm_sgemm(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha,
             const float *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
             const float *b, ptrdiff_t rs_b, ptrdiff_t cs_b,
             float beta, float *c, ptrdiff_t rs_c, ptrdiff_t cs_c);
int fm_dgemm(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, double alpha,
             const double *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
             const double *b, ptrdiff_t rs_b, ptrdiff_t cs_b,
             double beta, double *c, ptrdiff_t rs_c, ptrdiff_t cs_c);

/* ---- checks (csrc/checks.c) --------------------------------------------- */
/* 1 when no element of x[0..n) is NaN or infinite. */
int fm_s_all_finite(const float *x, ptrdiff_t n);
int fm_d_all_finite(const double *x, ptrdiff_t n);

#endif
