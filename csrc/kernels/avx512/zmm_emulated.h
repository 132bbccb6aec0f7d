/* The AVX-512F intrinsics that gemm_avx512.c uses, on pairs of AVX2
 * registers, for a test build (FASTMLP_EMULATE_AVX512=1, see setup.py): the
 * AVX-512 kernel set, with its 12x32 and 12x16 tiles, blocking and edge
 * handling, then runs and is tested on a CPU with AVX2 and FMA only. Every
 * lane is computed by the same instruction as on AVX-512 (one fused
 * multiply-add per lane), so the emulated kernels give the native bits.
 * Included after <immintrin.h>; the names below shadow AVX-512's. */
#ifndef FM_ZMM_EMULATED_H
#define FM_ZMM_EMULATED_H

#include <immintrin.h>

typedef struct { __m256 lo, hi; } fm_zmm_ps;
typedef struct { __m256d lo, hi; } fm_zmm_pd;

/* The 8-lane (4-lane) mask of lanes [first, first + 8) of a 16-lane mask. */
static inline __m256i fm_zmm_mask_ps(unsigned mask, int first)
{
    int lanes[8];
    for (int i = 0; i < 8; ++i)
        lanes[i] = (mask >> (first + i)) & 1 ? -1 : 0;
    return _mm256_loadu_si256((const __m256i *)lanes);
}

static inline __m256i fm_zmm_mask_pd(unsigned mask, int first)
{
    long long lanes[4];
    for (int i = 0; i < 4; ++i)
        lanes[i] = (mask >> (first + i)) & 1 ? -1 : 0;
    return _mm256_loadu_si256((const __m256i *)lanes);
}

static inline fm_zmm_ps fm_zmm_loadu_ps(const float *p)
{
    return (fm_zmm_ps){_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)};
}
/* Masked lanes are not read (vmaskmov), as with AVX-512's masked load. */
static inline fm_zmm_ps fm_zmm_maskz_loadu_ps(unsigned mask, const float *p)
{
    return (fm_zmm_ps){_mm256_maskload_ps(p, fm_zmm_mask_ps(mask, 0)),
                       _mm256_maskload_ps(p + 8, fm_zmm_mask_ps(mask, 8))};
}
static inline void fm_zmm_storeu_ps(float *p, fm_zmm_ps v)
{
    _mm256_storeu_ps(p, v.lo);
    _mm256_storeu_ps(p + 8, v.hi);
}
static inline fm_zmm_ps fm_zmm_set1_ps(float x) { return (fm_zmm_ps){_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
static inline fm_zmm_ps fm_zmm_setzero_ps(void) { return fm_zmm_set1_ps(0.0f); }
static inline fm_zmm_ps fm_zmm_fmadd_ps(fm_zmm_ps a, fm_zmm_ps b, fm_zmm_ps c)
{
    return (fm_zmm_ps){_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
}
static inline fm_zmm_ps fm_zmm_mul_ps(fm_zmm_ps a, fm_zmm_ps b)
{
    return (fm_zmm_ps){_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)};
}
static inline fm_zmm_ps fm_zmm_add_ps(fm_zmm_ps a, fm_zmm_ps b)
{
    return (fm_zmm_ps){_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)};
}

static inline fm_zmm_pd fm_zmm_loadu_pd(const double *p)
{
    return (fm_zmm_pd){_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4)};
}
static inline fm_zmm_pd fm_zmm_maskz_loadu_pd(unsigned mask, const double *p)
{
    return (fm_zmm_pd){_mm256_maskload_pd(p, fm_zmm_mask_pd(mask, 0)),
                       _mm256_maskload_pd(p + 4, fm_zmm_mask_pd(mask, 4))};
}
static inline void fm_zmm_storeu_pd(double *p, fm_zmm_pd v)
{
    _mm256_storeu_pd(p, v.lo);
    _mm256_storeu_pd(p + 4, v.hi);
}
static inline fm_zmm_pd fm_zmm_set1_pd(double x) { return (fm_zmm_pd){_mm256_set1_pd(x), _mm256_set1_pd(x)}; }
static inline fm_zmm_pd fm_zmm_setzero_pd(void) { return fm_zmm_set1_pd(0.0); }
static inline fm_zmm_pd fm_zmm_fmadd_pd(fm_zmm_pd a, fm_zmm_pd b, fm_zmm_pd c)
{
    return (fm_zmm_pd){_mm256_fmadd_pd(a.lo, b.lo, c.lo), _mm256_fmadd_pd(a.hi, b.hi, c.hi)};
}
static inline fm_zmm_pd fm_zmm_mul_pd(fm_zmm_pd a, fm_zmm_pd b)
{
    return (fm_zmm_pd){_mm256_mul_pd(a.lo, b.lo), _mm256_mul_pd(a.hi, b.hi)};
}
static inline fm_zmm_pd fm_zmm_add_pd(fm_zmm_pd a, fm_zmm_pd b)
{
    return (fm_zmm_pd){_mm256_add_pd(a.lo, b.lo), _mm256_add_pd(a.hi, b.hi)};
}

#define __m512 fm_zmm_ps
#define __m512d fm_zmm_pd
#define _mm512_loadu_ps fm_zmm_loadu_ps
#define _mm512_maskz_loadu_ps fm_zmm_maskz_loadu_ps
#define _mm512_storeu_ps fm_zmm_storeu_ps
#define _mm512_set1_ps fm_zmm_set1_ps
#define _mm512_setzero_ps fm_zmm_setzero_ps
#define _mm512_fmadd_ps fm_zmm_fmadd_ps
#define _mm512_mul_ps fm_zmm_mul_ps
#define _mm512_add_ps fm_zmm_add_ps
#define _mm512_loadu_pd fm_zmm_loadu_pd
#define _mm512_maskz_loadu_pd fm_zmm_maskz_loadu_pd
#define _mm512_storeu_pd fm_zmm_storeu_pd
#define _mm512_set1_pd fm_zmm_set1_pd
#define _mm512_setzero_pd fm_zmm_setzero_pd
#define _mm512_fmadd_pd fm_zmm_fmadd_pd
#define _mm512_mul_pd fm_zmm_mul_pd
#define _mm512_add_pd fm_zmm_add_pd

#endif
