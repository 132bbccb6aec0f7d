/* Thread count: fixed by fm_set_num_threads, or else OpenMP's (which
 * OMP_NUM_THREADS and threadpoolctl control). */
#include "fastmlp.h"
#include "threads.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static int fixed_threads; /* 0: follow OpenMP */

#ifdef _OPENMP
/* Depth of fm_parallel calls made inside a parallel region on this thread:
 * while non-zero the thread works alone (threads.h). */
static _Thread_local int alone;
#endif

int fm_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

void fm_set_num_threads(int n)
{
    fixed_threads = n > 0 ? n : 0;
}

int fm_get_num_threads(void)
{
#ifdef _OPENMP
    return fixed_threads > 0 ? fixed_threads : omp_get_max_threads();
#else
    return 1;
#endif
}

void fm_follow_threads(int n)
{
#ifdef _OPENMP
    if (n > 0)
        omp_set_num_threads(n);
#else
    (void)n;
#endif
}

int fm_thread_id(void)
{
#ifdef _OPENMP
    return alone ? 0 : omp_get_thread_num();
#else
    return 0;
#endif
}

int fm_team_size(void)
{
#ifdef _OPENMP
    return alone ? 1 : omp_get_num_threads();
#else
    return 1;
#endif
}

void fm_parallel(void (*fn)(const void *args), const void *args, int threads)
{
#ifdef _OPENMP
    if (omp_in_parallel()) {
        ++alone;
        fn(args);
        --alone;
        return;
    }
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
        fn(args);
        return;
    }
#endif
    fn(args);
}

void fm_barrier(void)
{
#ifdef _OPENMP
    if (!alone) {
#pragma omp barrier
    }
#endif
}

int fm_threads_for(double work, double min_work_per_thread)
{
#ifdef _OPENMP
    if (omp_in_parallel())
        return 1;
#endif
    const double most = work / min_work_per_thread;
    const int threads = fm_get_num_threads();
    return most < 2 ? 1 : most < threads ? (int)most : threads;
}

void fm_share(ptrdiff_t count, ptrdiff_t *lo, ptrdiff_t *hi)
{
    const int t = fm_thread_id(), nt = fm_team_size();
    *lo = count * t / nt;
    *hi = count * (t + 1) / nt;
}
