/* The errors of csrc/nn/nn_math.h's functions, in units in the last place:
 * every float32 input (or every STRIDE-th) against libm's double functions,
 * and random double inputs against libm's long double ones. The error
 * figures quoted in nn_math.h and the README come from this program.
 *
 *   gcc -O2 -ffp-contract=off -fno-math-errno -fno-trapping-math -Icsrc \
 *       tools/math_ulps.c -lm -o /tmp/math_ulps
 *   /tmp/math_ulps [STRIDE [DOUBLES]]     (defaults 1 and 20000000)
 *
 * The flags are the engine's (setup.py): no contraction of a*b + c, so these
 * are the bits the engine computes. A stride of 1 takes some minutes. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn_math.h"

typedef struct {
    const char *name;
    float (*f)(float);
    double (*d)(double);
    double (*ref_f)(double);
    long double (*ref_d)(long double);
} function;

static const function FUNCTIONS[] = {
    {"exp", fm_expf, fm_exp, exp, expl},
    {"expm1", fm_expm1f, fm_expm1, expm1, expm1l},
    {"tanh", fm_tanhf, fm_tanh, tanh, tanhl},
    {"log1p", fm_log1pf, fm_log1p, log1p, log1pl},
    {"erf", fm_erff, fm_erf, erf, erfl},
};

/* |got - want| in ulps of want rounded to float (NaN and infinities must
 * match exactly); subnormal results count in the smallest subnormal. */
static double float_ulps(float got, double want)
{
    if (isnan(want))
        return isnan(got) ? 0 : INFINITY;
    const float w = (float)want;
    if (isinf(w))
        return got == w ? 0 : INFINITY;
    const float a = fabsf(w);
    const double ulp = a < 1.17549435e-38f ? 1.40129846e-45 : nextafterf(a, INFINITY) - a;
    return fabs((double)got - want) / ulp;
}

static double double_ulps(double got, long double want)
{
    if (isnan((double)want))
        return isnan(got) ? 0 : INFINITY;
    const double w = (double)want;
    if (isinf(w))
        return got == w ? 0 : INFINITY;
    const double a = fabs(w);
    const double ulp = a < 2.2250738585072014e-308 ? 4.9406564584124654e-324
                                                   : nextafter(a, INFINITY) - a;
    return (double)(fabsl((long double)got - want) / ulp);
}

/* A double input for function `name`, drawn over the ranges where its
 * formulas switch and its result is representable. */
static double draw(const char *name, long i)
{
    const double r = (double)rand() / RAND_MAX, sign = i % 8 < 4 ? 1 : -1;
    switch (i % 4) {
    case 0: /* magnitudes from 1e-300 to 1 */
        return sign * pow(10, -300 * r);
    case 1: /* around the switches near 1 */
        return sign * (0.5 + r);
    default:
        if (!strcmp(name, "exp"))
            return r * 1460 - 750;
        if (!strcmp(name, "expm1"))
            return r * 770 - 70;
        if (!strcmp(name, "log1p"))
            return i % 4 == 2 ? r * 1e6 : pow(10, 600 * r - 300);
        return sign * 7 * r; /* tanh, erf */
    }
}

int main(int argc, char **argv)
{
    const uint64_t stride = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    const long doubles = argc > 2 ? atol(argv[2]) : 20000000;
    if (stride == 0 || doubles < 0) {
        fprintf(stderr, "usage: %s [STRIDE [DOUBLES]]\n", argv[0]);
        return 2;
    }
    for (size_t f = 0; f < sizeof FUNCTIONS / sizeof *FUNCTIONS; ++f) {
        const function *fn = &FUNCTIONS[f];
        double worst_f = 0, worst_d = 0, at_d = 0;
        float at_f = 0;
        for (uint64_t i = 0; i < (1ull << 32); i += stride) {
            const uint32_t bits = (uint32_t)i;
            float x;
            memcpy(&x, &bits, sizeof x);
            const double e = float_ulps(fn->f(x), fn->ref_f((double)x));
            if (e > worst_f)
                worst_f = e, at_f = x;
        }
        srand(1);
        for (long i = 0; i < doubles; ++i) {
            const double x = draw(fn->name, i);
            const double e = double_ulps(fn->d(x), fn->ref_d((long double)x));
            if (e > worst_d)
                worst_d = e, at_d = x;
        }
        printf("%-6s float32: %.3f ulp (at %.9g)   float64: %.3f ulp (at %.17g)\n", fn->name,
               worst_f, at_f, worst_d, at_d);
    }
    return 0;
}
