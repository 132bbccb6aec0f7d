/* Teams of threads: their size and parts, the barrier, the claiming of
 * work items and timing; without OpenMP every team is the calling thread.
 *
 * Work is written once for any team: each thread finds its part with
 * fm_share and waits for the others with fm_barrier. Work started inside a
 * parallel region (a thread of a team computing its own part of a larger
 * job) runs on the calling thread alone: fm_parallel starts no threads,
 * fm_share hands it everything, fm_barrier waits for no one. */
#ifndef FM_THREADS_H
#define FM_THREADS_H

#include <stddef.h>

int fm_thread_id(void);   /* this thread's number in its team */
int fm_team_size(void);   /* threads in the current team */

/* fn(args) on `threads` threads, each finding its share with fm_share. One
 * thread calls fn directly: an OpenMP region costs microseconds even when
 * it runs on one thread, which small kernels cannot afford. Inside a
 * parallel region, fn runs on the calling thread alone. */
void fm_parallel(void (*fn)(const void *args), const void *args, int threads);

/* The threads a new team may have: fm_get_num_threads(), or 1 inside a
 * parallel region (teams do not nest). */
int fm_threads_available(void);

/* Threads worth using for `work`: at least min_work_per_thread each, at
 * most `most` (at least 1). */
int fm_threads_within(double work, double min_work_per_thread, int most);

/* fm_threads_within(work, min_work_per_thread, fm_threads_available()). */
int fm_threads_for(double work, double min_work_per_thread);

/* This thread's part [*lo, *hi) of `count` items split evenly over its team
 * (all of them outside a parallel region). */
void fm_share(ptrdiff_t count, ptrdiff_t *lo, ptrdiff_t *hi);

/* Waits until every thread of the team is here. */
void fm_barrier(void);

/* Seconds on a monotonic clock, for threads that time their own work. */
double fm_seconds(void);

/* Items [0, count) shared out as fm_share does, but taken one at a time: a
 * thread takes its own share from the front, then, when that is done, items
 * from the back of the others' shares. A thread slowed down (its CPU busy
 * with another process) so hands its last items to the others, and the
 * threads that share out one step's work by items still meet at the same
 * time. Every thread of the team calls fm_claim_start(count), then
 * fm_claim_next() until it returns -1; a barrier separates that from the
 * next fm_claim_start. (A thread that runs out before another has called
 * fm_claim_start takes nothing from that one.) count < 2^32. Which thread
 * takes an item must not change what is computed from it, for results that
 * do not depend on the thread count. */
void fm_claim_start(ptrdiff_t count);
ptrdiff_t fm_claim_next(void);

/* For tests: taker[i] = the thread of a team of `threads` that took item i
 * of `count`; returns the number of takes. With idle_thread >= 0, that
 * thread waits until the others have taken all (threads.c). */
long fm_claim_trace(ptrdiff_t count, int threads, int idle_thread, int *taker);

#endif
