/* Generic GEMM micro-kernels: portable GNU C vectors of 16 bytes (SSE2 on
 * x86-64, NEON elsewhere), no FMA, so they run on any CPU. */
#include <string.h>
#include "arch/kernel_table.h"

typedef float fm_v4f __attribute__((vector_size(16)));
typedef double fm_v2d __attribute__((vector_size(16)));

static inline fm_v4f v4f_load(const float *p) { fm_v4f v; memcpy(&v, p, sizeof v); return v; }
static inline void v4f_store(float *p, fm_v4f v) { memcpy(p, &v, sizeof v); }
static inline fm_v2d v2d_load(const double *p) { fm_v2d v; memcpy(&v, p, sizeof v); return v; }
static inline void v2d_store(double *p, fm_v2d v) { memcpy(p, &v, sizeof v); }
static inline fm_v4f v4f_load_first(const float *p, int count)
{
    fm_v4f v = {0, 0, 0, 0};
    for (int i = 0; i < count; ++i)
        v[i] = p[i];
    return v;
}
static inline fm_v2d v2d_load_first(const double *p, int count)
{
    fm_v2d v = {0, 0};
    for (int i = 0; i < count; ++i)
        v[i] = p[i];
    return v;
}

#define UKR_T float
#define UKR_V fm_v4f
#define UKR_VLEN 4
#define UKR_MR 4
#define UKR_NV 2
#define UKR_LOAD(p) v4f_load(p)
#define UKR_LOAD_FIRST(p, count) v4f_load_first(p, count)
#define UKR_STORE(p, v) v4f_store(p, v)
#define UKR_BCAST(x) ((fm_v4f){0, 0, 0, 0} + (x))
#define UKR_ZERO() ((fm_v4f){0, 0, 0, 0})
#define UKR_FMA(a, b, c) ((a) * (b) + (c))
#define UKR_MUL(a, b) ((a) * (b))
#define UKR_ADD(a, b) ((a) + (b))
/* Tiles of 2 rows keep one chain per element (gemm_ukernel.h), so that a
 * 1-row remainder and the 4-row tile before it can become tiles of 3 and 2. */
#define UKR_CHAINS 4
#define UKR_NAME fm_sgemm_generic_4x8
#define UKR_KERNEL_T fm_sgemm_kernel
#include "kernels/gemm_ukernel.h"

#define UKR_T double
#define UKR_V fm_v2d
#define UKR_VLEN 2
#define UKR_MR 4
#define UKR_NV 2
#define UKR_LOAD(p) v2d_load(p)
#define UKR_LOAD_FIRST(p, count) v2d_load_first(p, count)
#define UKR_STORE(p, v) v2d_store(p, v)
#define UKR_BCAST(x) ((fm_v2d){0, 0} + (x))
#define UKR_ZERO() ((fm_v2d){0, 0})
#define UKR_FMA(a, b, c) ((a) * (b) + (c))
#define UKR_MUL(a, b) ((a) * (b))
#define UKR_ADD(a, b) ((a) + (b))
#define UKR_CHAINS 4
#define UKR_NAME fm_dgemm_generic_4x4
#define UKR_KERNEL_T fm_dgemm_kernel
#include "kernels/gemm_ukernel.h"

void fm_kernels_init_generic(fm_kernel_table *t)
{
    t->isa = FM_ISA_GENERIC;
    fm_engine_init_generic(&t->engine);
    fm_sgemm_generic_4x8_register(&t->sgemm);
    t->sgemm.mc = 128, t->sgemm.kc = t->sgemm.kc_strided_a = 256, t->sgemm.nc = 4096;
    fm_dgemm_generic_4x4_register(&t->dgemm);
    t->dgemm.mc = 64, t->dgemm.kc = t->dgemm.kc_strided_a = 256, t->dgemm.nc = 4096;
}
