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
