/* Thread count: fixed by fm_set_num_threads, or else OpenMP's (which
 * OMP_NUM_THREADS and threadpoolctl control). */
#include "fastmlp.h"
#include "threads.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#endif

static int fixed_threads; /* 0: follow OpenMP */

#ifdef _OPENMP
/* Set in a child process forked after this one started a team. GNU OpenMP's
 * pool threads do not survive fork(), and a team started in the child waits
 * for them forever (Python's multiprocessing forks by default on Linux), so
 * the child runs everything on its one thread. */
static volatile int forked_after_team;

static void note_fork_in_child(void) { forked_after_team = 1; }

static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;

static void watch_forks(void) { pthread_atfork(NULL, NULL, note_fork_in_child); }
#endif

#ifdef _OPENMP
/* Depth of fm_parallel calls made inside a parallel region on this thread:
 * while non-zero the thread works alone (threads.h). */
static _Thread_local int alone;

/* What the threads of a team fm_parallel started share.
 * The barrier: `arrived` threads are waiting in round `round`. Ours rather
 * than `omp barrier` because libgomp lets a waiting thread spin only briefly
 * (100 spins) before it sleeps in the kernel once the process has more
 * OpenMP threads than CPUs, which a fit on its worker thread beside a
 * predict on the main thread already gives: a training batch, whose barriers
 * are microseconds apart, then pays a sleep and a wake-up at each of them.
 * The claims: thread t's unclaimed items of the current fm_claim_start, as
 * first << 32 | end, so that one compare-and-swap takes an item from either
 * end; each in a cache line of its own, as its owner updates it often. */
typedef struct {
    _Alignas(64) _Atomic uint64_t items;
} claims_line;

typedef struct {
    atomic_int arrived, round;
    claims_line *claims;
} team_state;

enum { CLAIMS_ON_STACK = 64 }; /* 4 KB */

/* The team this thread works in; NULL outside fm_parallel. */
static _Thread_local team_state *team;
#endif

/* The unclaimed items of a thread working alone, as in team_state. */
static _Thread_local _Atomic uint64_t own_claims;

#ifdef _OPENMP
/* The team whose state this thread shares: NULL when it works alone. */
static team_state *shared_team(void)
{
    return team && !alone ? team : NULL;
}

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
    if (forked_after_team)
        return 1;
    const int n = fixed_threads > 0 ? fixed_threads : omp_get_max_threads();
    return n < FM_MAX_THREADS ? n : FM_MAX_THREADS;
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
    if (threads > FM_MAX_THREADS)
        threads = FM_MAX_THREADS;
    if (threads > 1 && !forked_after_team) {
        pthread_once(&fork_handler_once, watch_forks);
        /* On the stack for the usual few threads, on the heap for more, as
         * a caller's thread may have a small stack; without memory for them,
         * the caller works alone, which gives the same bits. */
        claims_line on_stack[CLAIMS_ON_STACK];
        claims_line *claims = threads <= CLAIMS_ON_STACK
                                  ? on_stack
                                  : aligned_alloc(_Alignof(claims_line),
                                                  sizeof(claims_line) * (size_t)threads);
        if (claims) {
            for (int t = 0; t < threads; ++t)
                atomic_init(&claims[t].items, 0);
            team_state state = {0, 0, claims};
#pragma omp parallel num_threads(threads)
            {
                team = &state;
                fn(args);
                team = NULL;
            }
            if (claims != on_stack)
                free(claims);
            return;
        }
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
    team_state *const b = shared_team();
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

double fm_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
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

static uint64_t claims_of(ptrdiff_t first, ptrdiff_t end)
{
    return (uint64_t)first << 32 | (uint64_t)end;
}

void fm_claim_start(ptrdiff_t count)
{
    ptrdiff_t lo, hi;
    fm_share(count, &lo, &hi);
#ifdef _OPENMP
    team_state *const t = shared_team();
    if (t) {
        atomic_store(&t->claims[fm_thread_id()].items, claims_of(lo, hi));
        return;
    }
#endif
    atomic_store(&own_claims, claims_of(lo, hi));
}

/* Item `first` (from_front) or `end - 1` of *claims, or -1 when none is left. */
static ptrdiff_t take(_Atomic uint64_t *claims, int from_front)
{
    uint64_t now = atomic_load(claims);
    for (;;) {
        const ptrdiff_t first = (ptrdiff_t)(now >> 32), end = (ptrdiff_t)(now & UINT32_MAX);
        if (first >= end)
            return -1;
        const uint64_t after = from_front ? claims_of(first + 1, end) : claims_of(first, end - 1);
        if (atomic_compare_exchange_weak(claims, &now, after))
            return from_front ? first : end - 1;
    }
}

ptrdiff_t fm_claim_next(void)
{
#ifdef _OPENMP
    team_state *const t = shared_team();
    if (t) {
        const int me = fm_thread_id(), size = fm_team_size();
        ptrdiff_t item = take(&t->claims[me].items, 1);
        for (int i = 1; item < 0 && i < size; ++i)
            item = take(&t->claims[(me + i) % size].items, 0);
        return item;
    }
#endif
    return take(&own_claims, 1);
}

/* For tests: which thread took each of `count` items claimed by a team of
 * `threads`, in taker[0..count), and how many takes there were. With
 * `idle_thread` >= 0, that thread starts claiming only once the others have
 * taken every item (or after about a second, should the team have fewer
 * threads), so all of its share is taken from its back by the others. */
typedef struct {
    ptrdiff_t count;
    int idle_thread;
    int *taker;
    atomic_long taken;
} claim_trace;

static void claim_trace_part(const void *args)
{
    claim_trace *const c = (claim_trace *)args;
    const int me = fm_thread_id();
    fm_claim_start(c->count);
    fm_barrier(); /* every share is out before anyone looks for one to take from */
    if (me == c->idle_thread) {
        const double start = fm_seconds();
        while (atomic_load(&c->taken) < c->count && fm_seconds() - start < 1)
            continue;
    }
    for (ptrdiff_t item; (item = fm_claim_next()) >= 0; atomic_fetch_add(&c->taken, 1))
        c->taker[item] = me;
}

long fm_claim_trace(ptrdiff_t count, int threads, int idle_thread, int *taker)
{
    claim_trace trace = {count, idle_thread, taker, 0};
    fm_parallel(claim_trace_part, &trace, threads);
    return atomic_load(&trace.taken);
}
