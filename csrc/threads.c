/* Thread count: fixed by fm_set_num_threads, or else OpenMP's (which
 * OMP_NUM_THREADS and threadpoolctl control). */
#include "fastmlp.h"
#include "threads.h"

#ifdef _OPENMP
#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
#endif

static int fixed_threads; /* 0: follow OpenMP */

#ifdef _OPENMP
/* Depth of fm_parallel calls made inside a parallel region on this thread:
 * while non-zero the thread works alone (threads.h). */
static _Thread_local int alone;

/* The barrier of a team fm_parallel started: `arrived` threads are waiting
 * in round `round`. Ours rather than `omp barrier` because libgomp lets a
 * waiting thread spin only briefly (100 spins) before it sleeps in the
 * kernel once the process has more OpenMP threads than CPUs, which a fit on
 * its worker thread beside a predict on the main thread already gives: a
 * training batch, whose barriers are microseconds apart, then pays a sleep
 * and a wake-up at each of them. */
typedef struct {
    atomic_int arrived, round;
} team_barrier;

/* The barrier of the team this thread works in; NULL outside fm_parallel. */
static _Thread_local team_barrier *team;

/* Spins before a waiting thread starts yielding its CPU (about 0.1 ms): long
 * enough for the imbalance of a batch's parts, short enough to hand the CPU
 * over when there are more threads than CPUs. */
#define SPINS_BEFORE_YIELD 4096
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
        team_barrier barrier = {0, 0};
#pragma omp parallel num_threads(threads)
        {
            team = &barrier;
            fn(args);
            team = NULL;
        }
        return;
    }
#endif
    fn(args);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

void fm_barrier(void)
{
#ifdef _OPENMP
    team_barrier *const b = team;
    const int size = b ? fm_team_size() : 1;
    if (size == 1)
        return;
    /* Read before arriving: the round cannot move on until this thread
     * has arrived. The last to arrive resets the count, then opens the
     * next round; the acquire/release pairs make every thread's writes
     * before the barrier visible to all after it. */
    const int round = atomic_load_explicit(&b->round, memory_order_relaxed);
    if (atomic_fetch_add_explicit(&b->arrived, 1, memory_order_acq_rel) == size - 1) {
        atomic_store_explicit(&b->arrived, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&b->round, 1, memory_order_release);
        return;
    }
    for (int spins = 0; atomic_load_explicit(&b->round, memory_order_acquire) == round; ++spins) {
        if (spins < SPINS_BEFORE_YIELD)
            cpu_relax();
        else
            sched_yield();
    }
#endif
}

int fm_threads_available(void)
{
#ifdef _OPENMP
    if (omp_in_parallel())
        return 1;
#endif
    return fm_get_num_threads();
}

int fm_threads_within(double work, double min_work_per_thread, int most)
{
    const double worth = work / min_work_per_thread;
    return worth < 2 ? 1 : worth < most ? (int)worth : most;
}

int fm_threads_for(double work, double min_work_per_thread)
{
    return fm_threads_within(work, min_work_per_thread, fm_threads_available());
}

void fm_share(ptrdiff_t count, ptrdiff_t *lo, ptrdiff_t *hi)
{
    const int t = fm_thread_id(), nt = fm_team_size();
    *lo = count * t / nt;
    *hi = count * (t + 1) / nt;
}
