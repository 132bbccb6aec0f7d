/* Type-generic math for the templates in csrc/nn: FM_T is float or double. */
#ifndef FM_NN_MATH_H
#define FM_NN_MATH_H
#include <math.h>
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
#define EXP exp
#define EXPM1 expm1
#define LOG log
#define LOG1P log1p
#define TANH tanh
#define ERF erf
#define SQRT sqrt
#define FABS fabs
#define FM_T_MAX 1.7976931348623157e308
#else
#define EXP expf
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
