/* The active kernel table and the choice of ISA.
 *
 * The table is filled in two steps: the generic kernels first, then the
 * chosen ISA's init overrides the slots it implements. The choice is made
 * once at import (the Python side reads FASTMLP_ISA); switching later is for
 * tests and benchmarks and must not race with running kernels. */
#include "arch/cpu_features.h"
#include "arch/kernel_table.h"

static fm_kernel_table active_table;
static int initialised;

static const char *const isa_names[FM_ISA_COUNT] = {"generic", "avx2", "avx512"};

const char *fm_isa_name(fm_isa isa)
{
    return (unsigned)isa < FM_ISA_COUNT ? isa_names[isa] : "unknown";
}

int fm_isa_supported(fm_isa isa)
{
    const fm_cpu_features f = fm_cpu_detect();
    switch (isa) {
    case FM_ISA_GENERIC:
        return 1;
#ifdef FASTMLP_HAVE_AVX2
    case FM_ISA_AVX2:
        return f.avx2_fma;
#endif
#ifdef FASTMLP_HAVE_AVX512
    case FM_ISA_AVX512:
#ifdef FASTMLP_EMULATE_AVX512
        return f.avx2_fma; /* a test build: AVX-512's kernels on AVX2 (setup.py) */
#else
        return f.avx512f;
#endif
#endif
    default:
        (void)f;
        return 0;
    }
}

fm_isa fm_isa_best(void)
{
    for (int isa = FM_ISA_COUNT - 1; isa > FM_ISA_GENERIC; --isa)
        if (fm_isa_supported((fm_isa)isa))
            return (fm_isa)isa;
    return FM_ISA_GENERIC;
}

int fm_isa_select(fm_isa isa)
{
    if (!fm_isa_supported(isa))
        return -1;
    fm_kernel_table t;
    fm_kernels_init_generic(&t);
#ifdef FASTMLP_HAVE_AVX2
    if (isa == FM_ISA_AVX2)
        fm_kernels_init_avx2(&t);
#endif
#ifdef FASTMLP_HAVE_AVX512
    if (isa == FM_ISA_AVX512)
        fm_kernels_init_avx512(&t);
#endif
    active_table = t;
    initialised = 1;
    return 0;
}

fm_isa fm_isa_active(void)
{
    return fm_kernels()->isa;
}

const fm_kernel_table *fm_kernels(void)
{
    if (!initialised)
        fm_isa_select(fm_isa_best());
    return &active_table;
}

void fm_gemm_tile(int is_double, int *mr, int *nr)
{
    const fm_kernel_table *t = fm_kernels();
    *mr = is_double ? t->dgemm.mr : t->sgemm.mr;
    *nr = is_double ? t->dgemm.nr : t->sgemm.nr;
}

void fm_gemm_get_blocking(int is_double, int *mc, int *kc, int *kc_strided_a, int *nc)
{
    const fm_kernel_table *t = fm_kernels();
    *mc = is_double ? t->dgemm.mc : t->sgemm.mc;
    *kc = is_double ? t->dgemm.kc : t->sgemm.kc;
    *kc_strided_a = is_double ? t->dgemm.kc_strided_a : t->sgemm.kc_strided_a;
    *nc = is_double ? t->dgemm.nc : t->sgemm.nc;
}

static int in_range(int x) { return x >= 1 && x <= FM_BLOCKING_MAX; }

int fm_gemm_set_blocking(int is_double, int mc, int kc, int kc_strided_a, int nc)
{
    fm_kernels(); /* the table exists before it is changed */
    int mr, nr;
    fm_gemm_tile(is_double, &mr, &nr);
    if (!in_range(mc) || !in_range(kc) || !in_range(kc_strided_a) || !in_range(nc) ||
        mc % mr != 0 || nc % nr != 0)
        return -1;
    if (is_double) {
        active_table.dgemm.mc = mc, active_table.dgemm.kc = kc;
        active_table.dgemm.kc_strided_a = kc_strided_a, active_table.dgemm.nc = nc;
    } else {
        active_table.sgemm.mc = mc, active_table.sgemm.kc = kc;
        active_table.sgemm.kc_strided_a = kc_strided_a, active_table.sgemm.nc = nc;
    }
    return 0;
}
