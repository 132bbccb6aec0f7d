/* Type-generic math for the templates in csrc/nn: FM_T is float or double. */
#ifndef FM_NN_MATH_H
#define FM_NN_MATH_H
#include <math.h>
#include <stdint.h>
#include <string.h>

/* e^x without a call, so that a loop over it vectorises (libm's expf is a
 * call per element; glibc's vector variants differ between ISAs, and every
 * ISA must give the same bits). Only +, *, comparisons and integer bit
 * operations, each exact IEEE arithmetic: the same bits on every ISA, in
 * vector or scalar code (no build contracts a*b+c).
 *
 * x = n ln2 + r with |r| <= ln2/2 (Cody and Waite: ln2 in two parts, the
 * first with trailing zero bits so n * LN2_HI is exact), e^r by a
 * polynomial, then scaled by 2^n in two steps, 2^(n/2) and 2^(n - n/2), so
 * that neither factor overflows and a subnormal result is rounded once.
 * n is taken by the round-to-nearest of adding and subtracting 1.5 * 2^23
 * (2^52): its integer is then in the low bits of the sum, with no
 * float-to-int conversion (undefined for NaN, which propagates through r).
 * x is clamped to a range whose ends already give inf and 0. Error: within
 * 1 ulp of the true value over the whole range (tests/test_activations.py). */
static inline float fm_expf(float x)
{
    const float shift = 12582912.0f; /* 1.5 * 2^23 */
    x = x > 89.0f ? 89.0f : x;
    x = x < -104.0f ? -104.0f : x;
    const float t = x * 1.44269504088896341f + shift;
    const float n = t - shift;
    const float r = (x - n * 0.693145751953125f) - n * 1.42860682030941723212e-6f;
    /* e^r = 1 + r + r^2 P(r), Cephes's expf coefficients */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    int32_t k, shift_bits;
    memcpy(&k, &t, sizeof k);
    memcpy(&shift_bits, &shift, sizeof shift_bits);
    k -= shift_bits; /* n, in [-151, 129] */
    const int32_t k1 = k / 2, k2 = k - k1;
    const int32_t e1 = (k1 + 127) << 23, e2 = (k2 + 127) << 23;
    float s1, s2;
    memcpy(&s1, &e1, sizeof s1);
    memcpy(&s2, &e2, sizeof s2);
    return p * s1 * s2;
}

static inline double fm_exp(double x)
{
    const double shift = 6755399441055744.0; /* 1.5 * 2^52 */
    x = x > 710.0 ? 710.0 : x;
    x = x < -746.0 ? -746.0 : x;
    const double t = x * 1.4426950408889634074 + shift;
    const double n = t - shift;
    const double r = (x - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
    /* e^r by its Taylor series to r^13 / 13!: the rest is below 0.05 ulp
     * for |r| <= ln2/2 */
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * (r * r) + r + 1.0;
    int64_t k, shift_bits;
    memcpy(&k, &t, sizeof k);
    memcpy(&shift_bits, &shift, sizeof shift_bits);
    k -= shift_bits; /* n, in [-1077, 1025] */
    const int64_t k1 = k / 2, k2 = k - k1;
    const int64_t e1 = (k1 + 1023) << 52, e2 = (k2 + 1023) << 52;
    double s1, s2;
    memcpy(&s1, &e1, sizeof s1);
    memcpy(&s2, &e2, sizeof s2);
    return p * s1 * s2;
}
#endif

#undef EXP
#undef EXPM1
#undef LOG
#undef LOG1P
#undef TANH
#undef ERF
#undef SQRT
#undef FABS
#undef FM_T_MAX
#if FM_T_IS_DOUBLE
#define EXP fm_exp
#define EXPM1 expm1
#define LOG log
#define LOG1P log1p
#define TANH tanh
#define ERF erf
#define SQRT sqrt
#define FABS fabs
#define FM_T_MAX 1.7976931348623157e308
#else
#define EXP fm_expf
#define EXPM1 expm1f
#define LOG logf
#define LOG1P log1pf
#define TANH tanhf
#define ERF erff
#define SQRT sqrtf
#define FABS fabsf
#define FM_T_MAX 3.402823466e38f
#endif

/* Stable forms: no overflow for any finite x. */
#undef SIGMOID_OF
#undef SOFTPLUS_OF
#undef PHI
#undef DPHI
#define SIGMOID_OF(x) ((x) >= 0 ? 1 / (1 + EXP(-(x))) : EXP(x) / (1 + EXP(x)))
/* PyTorch's softplus: log(1 + e^x), linear above x = 20. */
#define SOFTPLUS_OF(x) ((x) > 20 ? (x) : LOG1P(EXP(x)))
/* Standard normal CDF and density, for the exact (erf) GELU. */
#define PHI(x) ((FM_T)0.5 * (1 + ERF((x) * (FM_T)0.70710678118654752440)))
#define DPHI(x) ((FM_T)0.39894228040143267794 * EXP((FM_T)-0.5 * (x) * (x)))
