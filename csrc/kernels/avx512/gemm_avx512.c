/* AVX-512F GEMM micro-kernels: 12x32 floats and 12x16 doubles, 24 zmm
 * accumulators + 2 B vectors + 1 broadcast of the 32 registers. */
#include <immintrin.h>
#include "arch/kernel_table.h"
#include "kernels/transpose_avx.h"
#ifdef FASTMLP_EMULATE_AVX512
#include "kernels/avx512/zmm_emulated.h"
#endif

#define UKR_T float
#define UKR_V __m512
#define UKR_VLEN 16
#define UKR_MR 12
#define UKR_NV 2
#define UKR_LOAD(p) _mm512_loadu_ps(p)
#define UKR_LOAD_FIRST(p, count) _mm512_maskz_loadu_ps((__mmask16)((1u << (count)) - 1), p)
#define UKR_STORE(p, v) _mm512_storeu_ps(p, v)
#define UKR_BCAST(x) _mm512_set1_ps(x)
#define UKR_ZERO() _mm512_setzero_ps()
#define UKR_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define UKR_MUL(a, b) _mm512_mul_ps(a, b)
#define UKR_ADD(a, b) _mm512_add_ps(a, b)
#define UKR_TRANSPOSE fm_transpose_8x8_ps
#define UKR_TT 8
#define UKR_NAME fm_sgemm_avx512_12x32
#define UKR_KERNEL_T fm_sgemm_kernel
#include "kernels/gemm_ukernel.h"

#define UKR_T double
#define UKR_V __m512d
#define UKR_VLEN 8
#define UKR_MR 12
#define UKR_NV 2
#define UKR_LOAD(p) _mm512_loadu_pd(p)
#define UKR_LOAD_FIRST(p, count) _mm512_maskz_loadu_pd((__mmask8)((1u << (count)) - 1), p)
#define UKR_STORE(p, v) _mm512_storeu_pd(p, v)
#define UKR_BCAST(x) _mm512_set1_pd(x)
#define UKR_ZERO() _mm512_setzero_pd()
#define UKR_FMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define UKR_MUL(a, b) _mm512_mul_pd(a, b)
#define UKR_ADD(a, b) _mm512_add_pd(a, b)
#define UKR_TRANSPOSE fm_transpose_4x4_pd
#define UKR_TT 4
#define UKR_NAME fm_dgemm_avx512_12x16
#define UKR_KERNEL_T fm_dgemm_kernel
#include "kernels/gemm_ukernel.h"

void fm_kernels_init_avx512(fm_kernel_table *t)
{
    t->isa = FM_ISA_AVX512;
    fm_engine_init_avx512(&t->engine);
    fm_sgemm_avx512_12x32_register(&t->sgemm);
    t->sgemm.mc = 240, t->sgemm.kc = 384, t->sgemm.kc_strided_a = 256, t->sgemm.nc = 3072;
    fm_dgemm_avx512_12x16_register(&t->dgemm);
    t->dgemm.mc = 144, t->dgemm.kc = t->dgemm.kc_strided_a = 256, t->dgemm.nc = 3072;
}
