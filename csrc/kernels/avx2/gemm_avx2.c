/* AVX2+FMA GEMM micro-kernels: 6x16 floats and 6x8 doubles, 12 ymm
 * accumulators + 2 B vectors + 1 broadcast of the 16 registers. */
#include <immintrin.h>
#include "arch/kernel_table.h"
#include "kernels/transpose_avx.h"

/* The first `count` lanes from p and zeros above; masked-off lanes are not
 * read (a row's ragged end may be the last bytes of an allocation). */
static inline __m256 load_first_ps(const float *p, int count)
{
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(count), lanes));
}

static inline __m256d load_first_pd(const double *p, int count)
{
    const __m256i lanes = _mm256_setr_epi64x(0, 1, 2, 3);
    return _mm256_maskload_pd(p, _mm256_cmpgt_epi64(_mm256_set1_epi64x(count), lanes));
}

#define UKR_T float
#define UKR_V __m256
#define UKR_VLEN 8
#define UKR_MR 6
#define UKR_NV 2
#define UKR_LOAD(p) _mm256_loadu_ps(p)
#define UKR_LOAD_FIRST(p, count) load_first_ps(p, count)
#define UKR_STORE(p, v) _mm256_storeu_ps(p, v)
#define UKR_BCAST(x) _mm256_set1_ps(x)
#define UKR_ZERO() _mm256_setzero_ps()
#define UKR_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define UKR_MUL(a, b) _mm256_mul_ps(a, b)
#define UKR_ADD(a, b) _mm256_add_ps(a, b)
#define UKR_TRANSPOSE fm_transpose_8x8_ps
#define UKR_TT 8
#define UKR_NAME fm_sgemm_avx2_6x16
#define UKR_KERNEL_T fm_sgemm_kernel
#include "kernels/gemm_ukernel.h"

#define UKR_T double
#define UKR_V __m256d
#define UKR_VLEN 4
#define UKR_MR 6
#define UKR_NV 2
#define UKR_LOAD(p) _mm256_loadu_pd(p)
#define UKR_LOAD_FIRST(p, count) load_first_pd(p, count)
#define UKR_STORE(p, v) _mm256_storeu_pd(p, v)
#define UKR_BCAST(x) _mm256_set1_pd(x)
#define UKR_ZERO() _mm256_setzero_pd()
#define UKR_FMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define UKR_MUL(a, b) _mm256_mul_pd(a, b)
#define UKR_ADD(a, b) _mm256_add_pd(a, b)
#define UKR_TRANSPOSE fm_transpose_4x4_pd
#define UKR_TT 4
#define UKR_NAME fm_dgemm_avx2_6x8
#define UKR_KERNEL_T fm_dgemm_kernel
#include "kernels/gemm_ukernel.h"

void fm_kernels_init_avx2(fm_kernel_table *t)
{
    t->isa = FM_ISA_AVX2;
    fm_engine_init_avx2(&t->engine);
    fm_sgemm_avx2_6x16_register(&t->sgemm);
    /* kc = 400 rather than 256 (whose B micro-panel, 16 KB, leaves half of L1
     * to A): a product 784 deep, the first layer on 28x28 images, is then
     * two k slices rather than four, and its C is added to and its B panels
     * packed half as often. 128x784x256 ran 3-7% faster on 2 threads, large
     * squares no slower. But where op(A)'s rows are not contiguous, 256
     * lines of A fill the other half of L1 (fm_plan_gemm); TN 128x784x256
     * ran 1-5% slower with 400 there. float64 squares lost 2-9% with 400,
     * so dgemm keeps 256. (bench/blocking_ab.py compares blockings.) */
    t->sgemm.mc = 144, t->sgemm.kc = 400, t->sgemm.kc_strided_a = 256, t->sgemm.nc = 4080;
    fm_dgemm_avx2_6x8_register(&t->dgemm);
    t->dgemm.mc = 72, t->dgemm.kc = t->dgemm.kc_strided_a = 256, t->dgemm.nc = 4080;
}
