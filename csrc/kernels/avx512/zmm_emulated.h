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

/* fm_zmm_<s> (s: ps or pd, AVX2's suffixes), two halves of type H holding N
 * lanes of T each, and its operations. LANE: an integer as wide as T, for
 * the masks vmaskmov takes. */
#define FM_ZMM_DEFINE(s, T, H, N, LANE)                                                    \
    typedef struct { H lo, hi; } fm_zmm_##s;                                               \
    /* Lanes [first, first + N) of a 2N-lane mask. */                                      \
    static inline __m256i fm_zmm_mask_##s(unsigned mask, int first)                        \
    {                                                                                      \
        LANE lanes[N];                                                                     \
        for (int i = 0; i < N; ++i)                                                        \
            lanes[i] = (mask >> (first + i)) & 1 ? -1 : 0;                                 \
        return _mm256_loadu_si256((const __m256i *)lanes);                                 \
    }                                                                                      \
    static inline fm_zmm_##s fm_zmm_loadu_##s(const T *p)                                  \
    {                                                                                      \
        return (fm_zmm_##s){_mm256_loadu_##s(p), _mm256_loadu_##s(p + N)};                \
    }                                                                                      \
    /* Masked lanes are not read (vmaskmov), as with AVX-512's masked load. */             \
    static inline fm_zmm_##s fm_zmm_maskz_loadu_##s(unsigned mask, const T *p)             \
    {                                                                                      \
        return (fm_zmm_##s){_mm256_maskload_##s(p, fm_zmm_mask_##s(mask, 0)),              \
                            _mm256_maskload_##s(p + N, fm_zmm_mask_##s(mask, N))};         \
    }                                                                                      \
    static inline void fm_zmm_storeu_##s(T *p, fm_zmm_##s v)                               \
    {                                                                                      \
        _mm256_storeu_##s(p, v.lo);                                                        \
        _mm256_storeu_##s(p + N, v.hi);                                                    \
    }                                                                                      \
    static inline fm_zmm_##s fm_zmm_set1_##s(T x)                                          \
    {                                                                                      \
        return (fm_zmm_##s){_mm256_set1_##s(x), _mm256_set1_##s(x)};                       \
    }                                                                                      \
    static inline fm_zmm_##s fm_zmm_setzero_##s(void) { return fm_zmm_set1_##s(0); }      \
    static inline fm_zmm_##s fm_zmm_fmadd_##s(fm_zmm_##s a, fm_zmm_##s b, fm_zmm_##s c)    \
    {                                                                                      \
        return (fm_zmm_##s){_mm256_fmadd_##s(a.lo, b.lo, c.lo),                            \
                            _mm256_fmadd_##s(a.hi, b.hi, c.hi)};                           \
    }                                                                                      \
    static inline fm_zmm_##s fm_zmm_mul_##s(fm_zmm_##s a, fm_zmm_##s b)                    \
    {                                                                                      \
        return (fm_zmm_##s){_mm256_mul_##s(a.lo, b.lo), _mm256_mul_##s(a.hi, b.hi)};       \
    }                                                                                      \
    static inline fm_zmm_##s fm_zmm_add_##s(fm_zmm_##s a, fm_zmm_##s b)                    \
    {                                                                                      \
        return (fm_zmm_##s){_mm256_add_##s(a.lo, b.lo), _mm256_add_##s(a.hi, b.hi)};       \
    }

FM_ZMM_DEFINE(ps, float, __m256, 8, int)
FM_ZMM_DEFINE(pd, double, __m256d, 4, long long)
#undef FM_ZMM_DEFINE

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
