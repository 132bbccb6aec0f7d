/* Square tiles transposed in AVX registers, for the panel packers of the
 * AVX2 and AVX-512 kernel files: d[c*ds + r] = s[r*ss + c] for r, c < 8
 * floats or < 4 doubles. Packing B = W^T element by element reads as many
 * 4 KB-apart streams as the panel has columns; a tile reads 8 (4) rows a
 * vector at a time and stores whole vectors. */
#ifndef FM_TRANSPOSE_AVX_H
#define FM_TRANSPOSE_AVX_H

#include <immintrin.h>
#include <stddef.h>

static inline void fm_transpose_8x8_ps(const float *s, ptrdiff_t ss, float *d, ptrdiff_t ds)
{
    __m256 r[8], t[8], u[8];
    for (int i = 0; i < 8; ++i)
        r[i] = _mm256_loadu_ps(s + i * ss);
    for (int i = 0; i < 8; i += 2) { /* t: pairs of rows interleaved */
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int h = 0; h < 8; h += 4) { /* u[h + c]: column c (low lane) and c + 4 (high) of 4 rows */
        u[h + 0] = _mm256_shuffle_ps(t[h + 0], t[h + 2], 0x44);
        u[h + 1] = _mm256_shuffle_ps(t[h + 0], t[h + 2], 0xEE);
        u[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0x44);
        u[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0xEE);
    }
    for (int c = 0; c < 4; ++c) {
        _mm256_storeu_ps(d + c * ds, _mm256_permute2f128_ps(u[c], u[c + 4], 0x20));
        _mm256_storeu_ps(d + (c + 4) * ds, _mm256_permute2f128_ps(u[c], u[c + 4], 0x31));
    }
}

static inline void fm_transpose_4x4_pd(const double *s, ptrdiff_t ss, double *d, ptrdiff_t ds)
{
    const __m256d r0 = _mm256_loadu_pd(s), r1 = _mm256_loadu_pd(s + ss),
                  r2 = _mm256_loadu_pd(s + 2 * ss), r3 = _mm256_loadu_pd(s + 3 * ss);
    /* t0: columns 0 and 2 of rows 0-1, t1: columns 1 and 3; t2, t3 of rows 2-3 */
    const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1),
                  t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
    _mm256_storeu_pd(d, _mm256_permute2f128_pd(t0, t2, 0x20));
    _mm256_storeu_pd(d + ds, _mm256_permute2f128_pd(t1, t3, 0x20));
    _mm256_storeu_pd(d + 2 * ds, _mm256_permute2f128_pd(t0, t2, 0x31));
    _mm256_storeu_pd(d + 3 * ds, _mm256_permute2f128_pd(t1, t3, 0x31));
}

#endif
