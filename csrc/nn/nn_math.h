/* Type-generic math for the templates in csrc/nn: FM_T is float or double. */
#ifndef FM_NN_MATH_H
#define FM_NN_MATH_H
#include <math.h>
#include <stdint.h>
#include <string.h>

/* e^x, e^x - 1, tanh, log(1 + x) and erf without a call, so that a loop
 * over them vectorises (libm's are a call per element; glibc's vector variants differ
 * between ISAs, and every ISA must give the same bits). Only +, *, /,
 * comparisons and integer bit operations, each exact IEEE arithmetic: the
 * same bits on every ISA, in vector or scalar code (no build contracts
 * a*b+c).
 *
 * x = n ln2 + r with |r| <= ln2/2 (Cody and Waite: ln2 in two parts, the
 * first with trailing zero bits so n * LN2_HI is exact), e^r - 1 by a
 * polynomial, then scaled by 2^n. n is taken by the round-to-nearest of
 * adding and subtracting 1.5 * 2^23 (2^52): its integer is then in the low
 * bits of the sum, with no float-to-int conversion (undefined for NaN, which
 * propagates through r). Callers clamp x to a range whose ends already give
 * the limits (inf, 0, -1).
 *
 * Errors (tools/math_ulps.c: every float input, 20 M random doubles), float
 * and double: exp 0.99 and 0.95 ulp, expm1 1.57 and 1.89, tanh 2.42 and
 * 2.47, log1p 0.97 and 0.82, erf 1.34 and 1.28. tests/test_activations.py
 * checks them through the activations built on them. */

/* e^r - 1 for the reduced r of x; *n receives n. */
static inline float fm_expm1f_reduced(float x, int32_t *n)
{
    const float shift = 12582912.0f; /* 1.5 * 2^23 */
    const float t = x * 1.44269504088896341f + shift;
    const float nf = t - shift;
    const float r = (x - nf * 0.693145751953125f) - nf * 1.42860682030941723212e-6f;
    /* e^r - 1 = r + r^2 P(r), Cephes's expf coefficients */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    int32_t bits, shift_bits;
    memcpy(&bits, &t, sizeof bits);
    memcpy(&shift_bits, &shift, sizeof shift_bits);
    *n = bits - shift_bits;
    return p * (r * r) + r;
}

static inline double fm_expm1_reduced(double x, int64_t *n)
{
    const double shift = 6755399441055744.0; /* 1.5 * 2^52 */
    const double t = x * 1.4426950408889634074 + shift;
    const double nf = t - shift;
    const double r = (x - nf * 6.93147180369123816490e-01) - nf * 1.90821492927058770002e-10;
    /* e^r - 1 by its Taylor series to r^13 / 13!: the rest is below 0.05
     * ulp of e^r for |r| <= ln2/2 */
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
    int64_t bits, shift_bits;
    memcpy(&bits, &t, sizeof bits);
    memcpy(&shift_bits, &shift, sizeof shift_bits);
    *n = bits - shift_bits;
    return p * (r * r) + r;
}

/* 2^n as a float or double, for n within the normal exponents. Shifted as
 * unsigned: a NaN x gives a wild n (and a NaN result from its other factor),
 * which must not overflow a signed shift. */
static inline float fm_pow2f(int32_t n)
{
    const uint32_t e = (uint32_t)(n + 127) << 23;
    float s;
    memcpy(&s, &e, sizeof s);
    return s;
}

static inline double fm_pow2(int64_t n)
{
    const uint64_t e = (uint64_t)(n + 1023) << 52;
    double s;
    memcpy(&s, &e, sizeof s);
    return s;
}

/* e^x: 2^n in two factors, 2^(n/2) and 2^(n - n/2), so that neither
 * overflows and a subnormal result is rounded once. */
static inline float fm_expf(float x)
{
    x = x > 89.0f ? 89.0f : x;
    x = x < -104.0f ? -104.0f : x;
    int32_t n;
    const float q = fm_expm1f_reduced(x, &n); /* n in [-151, 129] */
    return (q + 1.0f) * fm_pow2f(n / 2) * fm_pow2f(n - n / 2);
}

static inline double fm_exp(double x)
{
    x = x > 710.0 ? 710.0 : x;
    x = x < -746.0 ? -746.0 : x;
    int64_t n;
    const double q = fm_expm1_reduced(x, &n); /* n in [-1077, 1025] */
    return (q + 1.0) * fm_pow2(n / 2) * fm_pow2(n - n / 2);
}

/* e^x - 1 = 2^n q + (2^n - 1), q = e^r - 1: exact q when n is 0 (no
 * cancellation), one rounding of two exact terms otherwise. Below -30
 * (-60) it is -1 in the type; above 80 (700) it is e^x. */
static inline float fm_expm1f(float x)
{
    const float xc = x < -30.0f ? -30.0f : x > 80.0f ? 80.0f : x;
    int32_t n;
    const float q = fm_expm1f_reduced(xc, &n), s = fm_pow2f(n);
    return x > 80.0f ? fm_expf(x) : s * q + (s - 1.0f);
}

static inline double fm_expm1(double x)
{
    const double xc = x < -60.0 ? -60.0 : x > 700.0 ? 700.0 : x;
    int64_t n;
    const double q = fm_expm1_reduced(xc, &n), s = fm_pow2(n);
    return x > 700.0 ? fm_exp(x) : s * q + (s - 1.0);
}

/* tanh |x| = e / (e + 2), e = e^(2|x|) - 1, with the sign of x; 1 in the
 * type from |x| = 20 on (also for infinities, which e / (e + 2) would make
 * NaN). */
static inline float fm_tanhf(float x)
{
    float a = fabsf(x);
    a = a > 20.0f ? 20.0f : a;
    const float e = fm_expm1f(2.0f * a);
    return copysignf(e / (e + 2.0f), x);
}

static inline double fm_tanh(double x)
{
    double a = fabs(x);
    a = a > 20.0 ? 20.0 : a;
    const double e = fm_expm1(2.0 * a);
    return copysign(e / (e + 2.0), x);
}

/* log(1 + x). u = 1 + x rounded, and c = (x - (u - 1)) / u the part of x
 * that rounding lost (log(u + d) = log u + d/u to first order). u = 2^e m
 * with m in [sqrt(1/2), sqrt(2)) by integer operations on its bits; f = m - 1
 * is exact and log(1 + f) = 2 atanh(s) with s = f / (2 + f), |s| < 0.172,
 * written f - s (f - R) with R = 2s^2/3 + 2s^4/5 + ... (its Taylor series,
 * to 2s^10/11 for float and 2s^22/23 for double): f is exact and the
 * rounded parts are small beside it. e ln2 is added in the two parts of
 * ln2 used by exp. -1 gives -inf, below -1 and NaN give NaN, inf gives inf. */
static inline float fm_log1pf(float x)
{
    const int32_t sqrt_half_bits = 0x3f3504f3; /* sqrt(1/2) rounded down */
    const float u = 1.0f + x, c = (x - (u - 1.0f)) / u;
    int32_t bits;
    memcpy(&bits, &u, sizeof bits);
    const int32_t e = (bits - sqrt_half_bits) >> 23, m_bits = bits - e * (1 << 23);
    float m;
    memcpy(&m, &m_bits, sizeof m);
    const float f = m - 1.0f, s = f / (2.0f + f), z = s * s, ef = (float)e;
    float r = 2.0f / 11;
    for (int k = 9; k >= 3; k -= 2)
        r = r * z + 2.0f / k;
    r = r * z;
    const float log_u = ef * 0.693145751953125f +
                        (f - (s * (f - r) - (ef * 1.42860682030941723212e-6f + c)));
    return x < -1.0f ? NAN : u == 0.0f ? -INFINITY : x > 3.402823466e38f ? x : log_u;
}

static inline double fm_log1p(double x)
{
    const int64_t sqrt_half_bits = 0x3fe6a09e667f3bcc; /* sqrt(1/2) rounded down */
    const double u = 1.0 + x, c = (x - (u - 1.0)) / u;
    int64_t bits;
    memcpy(&bits, &u, sizeof bits);
    const int64_t e = (bits - sqrt_half_bits) >> 52, m_bits = bits - e * ((int64_t)1 << 52);
    /* e as a double with no int64-to-double conversion (none in AVX2): the
     * low bits of 1.5 * 2^52 + e */
    const int64_t e_bits = e + 0x4338000000000000;
    double m, ef;
    memcpy(&m, &m_bits, sizeof m);
    memcpy(&ef, &e_bits, sizeof ef);
    ef -= 6755399441055744.0;
    const double f = m - 1.0, s = f / (2.0 + f), z = s * s;
    double r = 2.0 / 23;
    for (int k = 21; k >= 3; k -= 2)
        r = r * z + 2.0 / k;
    r = r * z;
    const double log_u = ef * 6.93147180369123816490e-01 +
                         (f - (s * (f - r) - (ef * 1.90821492927058770002e-10 + c)));
    return x < -1.0 ? NAN : u == 0.0 ? -INFINITY : x > 1.7976931348623157e308 ? x : log_u;
}

/* PyTorch's softplus: log(1 + e^x), x itself above 20. The logarithm is
 * computed before the select, which GCC then if-converts: written as one
 * conditional expression, the loop over it did not vectorise. */
static inline float fm_softplusf(float x)
{
    const float smooth = fm_log1pf(fm_expf(x));
    return x > 20.0f ? x : smooth;
}

static inline double fm_softplus(double x)
{
    const double smooth = fm_log1p(fm_exp(x));
    return x > 20.0 ? x : smooth;
}

/* Horner's rule: c[0] + c[1] t + ... + c[n - 1] t^(n - 1). Unrolled for
 * the constant n of every call, so a loop over the polynomial vectorises
 * (GCC unrolls at most 16 steps by itself). */
static inline float fm_polyf(const float *c, int n, float t)
{
    float r = c[n - 1];
#pragma GCC unroll 32
    for (int i = n - 2; i >= 0; --i)
        r = r * t + c[i];
    return r;
}

static inline double fm_poly(const double *c, int n, double t)
{
    double r = c[n - 1];
#pragma GCC unroll 32
    for (int i = n - 2; i >= 0; --i)
        r = r * t + c[i];
    return r;
}

/* erf(x). Below |x| = 0.84: x + x P(x^2), P(0) = 2/sqrt(pi) - 1 (adding the
 * exact x last keeps the rounding small). From there to where erf rounds to
 * 1 in the type: 1 - e^(-x^2) Q(|x| - centre), Q(x) = erfc(x) e^(x^2). P
 * and Q are least-squares fits on Chebyshev nodes to erf in 30 to 50
 * digits, Q's weighted by e^(-x^2), the scale of its error in erf. */
static const float fm_erff_p[] = {0.128379166f,   -0.376126379f,    0.112837575f,
                                  -0.0268630814f, 0.005210937f,     -0.000826519739f,
                                  8.93699907e-05f};
static const float fm_erff_q[] = {0.22050561f,      -0.0809777305f,  0.0281859227f,
                                  -0.00934736896f,  0.00299583236f,  -0.000926505483f,
                                  0.000220364658f,  -0.000108735236f, 3.59079131e-05f,
                                  1.82032654e-05f,  1.01137703e-05f};
static const double fm_erf_p[] = {
    0.12837916709551256,    -0.37612638903183515,   0.11283791670939708,
    -0.02686617064150366,   0.005223977582684643,   -0.0008548324114471978,
    0.0001205521018633867,  -1.492232456833379e-05, 1.6404077566424935e-06,
    -1.5730885830596292e-07, 1.0773581083547234e-08};
static const double fm_erf_q[] = {
    0.20361324735670716,     -0.06959028084064442,    0.022678517171207824,
    -0.007084090796122431,   0.002129940549633795,    -0.0006184981573149621,
    0.0001739484385635307,   -4.749488330986293e-05,  1.2615495714897259e-05,
    -3.265498675744298e-06,  8.249119612265135e-07,   -2.0380035977069298e-07,
    4.929000807871501e-08,   -1.1558785331135198e-08, 2.700474715865884e-09,
    -6.628321668549344e-10,  1.2564940673637638e-10,  -1.912169709822677e-11,
    1.1813882792082083e-11,  -2.4926398305821444e-12, -5.730750044464677e-13,
    -5.3492756004477067e-14, 6.71070154437181e-14};

static inline float fm_erff(float x)
{
    const float a = fabsf(x), z = x * x, one_from = 3.9192059f;
    const float t = (a < one_from ? a : one_from) - 2.375f;
    const float tail = a >= one_from ? 1.0f : 1.0f - fm_expf(-z) * fm_polyf(fm_erff_q, 11, t);
    return a < 0.84f ? x + x * fm_polyf(fm_erff_p, 7, z) : copysignf(tail, x); /* NaN stays */
}

static inline double fm_erf(double x)
{
    const double a = fabs(x), z = x * x, one_from = 5.921587195794507;
    const double t = (a < one_from ? a : one_from) - 2.6;
    const double tail = a >= one_from ? 1.0 : 1.0 - fm_exp(-z) * fm_poly(fm_erf_q, 23, t);
    return a < 0.84 ? x + x * fm_poly(fm_erf_p, 11, z) : copysign(tail, x);
}
#endif

#undef EXP
#undef EXPM1
#undef LOG
#undef LOG1P
#undef SOFTPLUS_OF
#undef TANH
#undef ERF
#undef FABS
#undef FM_T_MAX
#if FM_T_IS_DOUBLE
#define EXP fm_exp
#define EXPM1 fm_expm1
#define LOG log
#define LOG1P fm_log1p
#define SOFTPLUS_OF fm_softplus
#define TANH fm_tanh
#define ERF fm_erf
#define FABS fabs
#define FM_T_MAX 1.7976931348623157e308
#else
#define EXP fm_expf
#define EXPM1 fm_expm1f
#define LOG logf
#define LOG1P fm_log1pf
#define SOFTPLUS_OF fm_softplusf
#define TANH fm_tanhf
#define ERF fm_erff
#define FABS fabsf
#define FM_T_MAX 3.402823466e38f
#endif

/* Stable forms: no overflow for any finite x. */
#undef SIGMOID_OF
#undef PHI
#undef DPHI
#define SIGMOID_OF(x) ((x) >= 0 ? 1 / (1 + EXP(-(x))) : EXP(x) / (1 + EXP(x)))
/* Standard normal CDF and density, for the exact (erf) GELU. */
#define PHI(x) ((FM_T)0.5 * (1 + ERF((x) * (FM_T)0.70710678118654752440)))
#define DPHI(x) ((FM_T)0.39894228040143267794 * EXP((FM_T)-0.5 * (x) * (x)))
