/* Input checks the bindings run once at the boundary, by the active ISA's
 * engine (the loops live in nn/engine_impl.h). */
#include "arch/kernel_table.h"
#include "fastmlp.h"

int fm_s_all_finite(const float *x, ptrdiff_t n)
{
    return fm_kernels()->engine.s_all_finite(x, n);
}

int fm_d_all_finite(const double *x, ptrdiff_t n)
{
    return fm_kernels()->engine.d_all_finite(x, n);
}
