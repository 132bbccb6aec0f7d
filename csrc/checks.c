/* Input checks the bindings run once at the boundary, by the active ISA's
 * engine (the loops live in nn/engine_impl.h). */
#include <stdatomic.h>

#include "arch/kernel_table.h"
#include "fastmlp.h"
#include "threads.h"

/* The scan is bound by memory bandwidth, which one core does not saturate:
 * a large input (a training set) is split between threads. */
#define MIN_ELEMS_PER_THREAD (1 << 20)

typedef struct {
    const void *x;
    ptrdiff_t n;
    int is_double;
    atomic_int *bad; /* set by any part that finds NaN or infinity */
} finite_scan;

static void scan_part(const void *args)
{
    const finite_scan *s = args;
    const fm_engine *e = &fm_kernels()->engine;
    ptrdiff_t lo, hi;
    fm_share(s->n, &lo, &hi);
    const int ok = s->is_double ? e->d_all_finite((const double *)s->x + lo, hi - lo)
                                : e->s_all_finite((const float *)s->x + lo, hi - lo);
    if (!ok)
        atomic_store_explicit(s->bad, 1, memory_order_relaxed);
}

static int all_finite(const void *x, ptrdiff_t n, int is_double)
{
    atomic_int bad = 0;
    const finite_scan scan = {x, n, is_double, &bad};
    fm_parallel(scan_part, &scan, fm_threads_for((double)n, MIN_ELEMS_PER_THREAD));
    return !atomic_load(&bad);
}

int fm_s_all_finite(const float *x, ptrdiff_t n)
{
    return all_finite(x, n, 0);
}

int fm_d_all_finite(const double *x, ptrdiff_t n)
{
    return all_finite(x, n, 1);
}
