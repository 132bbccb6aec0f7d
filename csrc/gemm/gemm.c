/* fm_sgemm and fm_dgemm: the blocked, threaded GEMM of gemm_driver.h for
 * each type, and the planning both share. */
#include <pthread.h>
#include <stdlib.h>

#include "arch/kernel_table.h"
#include "fastmlp.h"
#include "gemm/gemm_plan.h"
#include "gemm/gemm_row.h"
#include "threads.h"

/* Below this much work per thread, waking another thread costs more than it
 * saves: flops for the compute-bound blocked path, elements of B for the
 * one-row and dot paths, which stream B (each thread then keeps its share of
 * B in its own L2 across calls). */
#define MIN_FLOPS_PER_THREAD (1 << 19)
#define MIN_B_ELEMS_PER_THREAD (1 << 15)
/* The same for a one-row product whose threads are already running
 * (gemm_row.h): a barrier costs far less than starting a team. */
#define MIN_ROW_ELEMS_PER_THREAD (1 << 13)
/* Up to this size, B is taken to stay in cache between calls (the weights
 * of a layer being trained do), where the first tile down a column panel
 * reads it about as fast as a packing pass would; a larger B comes from
 * memory, where that tile would stall on every row of it while a packing
 * pass keeps many rows in flight. */
#define PACK_B_IN_KERNEL_MAX_BYTES (2 << 20)
/* Up to this many rows, C = A . W^T is done by dot products over W's rows;
 * so is a matrix times a vector (n == 1), whose one column would waste the
 * rest of every micro-tile. */
#define DOT_MAX_ROWS 4

/* The smallest step, a multiple of `unit`, that cuts `extent` into as few
 * pieces as steps of `max` would. */
static ptrdiff_t balanced(ptrdiff_t extent, ptrdiff_t max, ptrdiff_t unit)
{
    const ptrdiff_t pieces = (extent + max - 1) / max;
    const ptrdiff_t step = (extent + pieces - 1) / pieces;
    return (step + unit - 1) / unit * unit;
}

/* Whether A is read in place rather than packed. Packing A costs a pass over
 * it and, with threads, a barrier before and after each block; a packed
 * block is read once per row block, an in-place one once per column panel.
 * In place, A must have few rows, not 4 KB apart (the rows or columns of a
 * block would share a few cache sets), and either
 * - contiguous rows: each line of A serves a tile for a line's worth of
 *   steps of k; or
 * - contiguous columns (dW = X^T . dY) and B at most 16 panels wide: a tile
 *   uses only its mr elements of each line, one step of k, and the tiles
 *   below read the line again, from L2, for every column panel. Measured on
 *   2 threads (float32, AVX2), 128x784x128 ran 27% faster than with A
 *   packed, 128x784x256 4%, while 128x784x2048 ran 3% slower. */
static int a_in_place(const fm_gemm_blocking *blk, ptrdiff_t m, ptrdiff_t n, ptrdiff_t rs_a,
                      ptrdiff_t cs_a)
{
    const ptrdiff_t step = cs_a == 1 ? rs_a : rs_a == 1 && n <= 16 * blk->nr ? cs_a : 0;
    return step && m <= 2 * blk->mc && step * blk->elem_bytes % 4096 != 0;
}

fm_gemm_plan fm_plan_gemm(const fm_gemm_blocking *blk, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                          ptrdiff_t rs_a, ptrdiff_t cs_a, ptrdiff_t rs_b, ptrdiff_t cs_b)
{
    /* Where op(A)'s rows are not contiguous (dW = X^T . dY), an A read in
     * place brings a new line into L1 at every step of k, for the tiles
     * below to read again, so a slice's lines must fit there beside the B
     * micro-panel: its depth is at most kc_strided_a. That depends on strides
     * alone, not on whether A is packed, which depends on m: the dW row parts
     * of a training batch must keep the bits of the whole dW. */
    const int kc_max = cs_a == 1 || blk->kc < blk->kc_strided_a ? blk->kc : blk->kc_strided_a;
    fm_gemm_plan plan = {FM_GEMM_BLOCKED, 1, 0, 0, 0, 0, balanced(k, kc_max, 1),
                         balanced(m, blk->mc, blk->mr)};
    double units; /* work units the threads share */
    const ptrdiff_t col_panels = (n + blk->nr - 1) / blk->nr;
    const int dot_layout = cs_a == 1 && rs_b == 1;
    if (dot_layout && ((m <= DOT_MAX_ROWS && cs_b != 1) || (n == 1 && m > 1))) {
        plan.path = FM_GEMM_DOT;
        units = (double)((n + 3) / 4);
    } else if (m == 1 && cs_b == 1) {
        plan.path = FM_GEMM_WIDE;
        units = (double)((n + blk->wide_nr - 1) / blk->wide_nr);
    } else {
        units = (double)((m + blk->mr - 1) / blk->mr) * col_panels;
        /* B must be packed when its columns are not contiguous (the kernels
         * load nr-wide rows of it). Read in place, a kc-deep micro-panel whose
         * rows are 2^j bytes apart falls into a few L1 sets and is evicted
         * before the next row tile reuses it; a packed one is contiguous.
         * Packing costs one pass over B, so it pays off once a few row tiles
         * reuse each panel, unless all of B lies within 16 KB: then at most
         * four of its lines share an L1 set, it stays there, and packing
         * would copy it for nothing. */
        plan.pack_b = cs_b != 1 || (m > 2 * blk->mr && k * rs_b * blk->elem_bytes > 16384);
        /* An A block is reused by every column panel of its B panel. */
        plan.pack_a = n > 4 * blk->nr && !a_in_place(blk, m, n, rs_a, cs_a);
    }
    plan.threads = plan.path == FM_GEMM_BLOCKED ? fm_threads_for(2.0 * m * n * k, MIN_FLOPS_PER_THREAD)
                                                : fm_threads_for((double)n * k, MIN_B_ELEMS_PER_THREAD);
    if (plan.threads > units)
        plan.threads = units > 1 ? (int)units : 1;
    /* Whole column panels per thread, when they share out nearly evenly. */
    plan.own_columns = plan.path == FM_GEMM_BLOCKED &&
                       (col_panels % plan.threads == 0 || col_panels >= 4 * plan.threads);
    plan.pack_b_in_kernel = plan.own_columns && plan.pack_b && cs_b == 1 &&
                            (double)k * n * blk->elem_bytes <= PACK_B_IN_KERNEL_MAX_BYTES;
    return plan;
}

/* Each calling thread keeps its packing workspace between calls, growing it
 * when a call needs more: a training loop then allocates (and the kernel
 * zeroes fresh pages) once, not on every GEMM of every batch. Threads never
 * share one, so concurrent callers are safe; a thread's buffer is freed when
 * it exits. */
static pthread_key_t workspace_key;
static pthread_once_t workspace_once = PTHREAD_ONCE_INIT;

typedef struct { void *p; size_t bytes; } workspace;

static void workspace_destroy(void *w)
{
    free(((workspace *)w)->p);
    free(w);
}

static int workspace_key_made; /* pthread_key_create can fail (no keys left) */

static void workspace_key_create(void)
{
    workspace_key_made = pthread_key_create(&workspace_key, workspace_destroy) == 0;
}

void *fm_workspace_get(size_t bytes)
{
    pthread_once(&workspace_once, workspace_key_create);
    if (!workspace_key_made)
        return NULL;
    workspace *w = pthread_getspecific(workspace_key);
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w || pthread_setspecific(workspace_key, w) != 0) {
            free(w);
            return NULL;
        }
    }
    if (w->bytes < bytes) {
        free(w->p);
        w->bytes = fm_round_up((ptrdiff_t)bytes, 4096);
        w->p = aligned_alloc(64, w->bytes);
        if (!w->p)
            w->bytes = 0;
    }
    return w->p;
}

#define FM_T float
#define FM_P(x) s_##x
#define FM_KERNEL sgemm
#define FM_KERNEL_T fm_sgemm_kernel
#define FM_GEMM fm_sgemm
#define FM_GEMM_ROW_THREADS fm_sgemm_row_threads
#define FM_GEMM_ROW_PART fm_sgemm_row_part
#define FM_GEMM_ROW_RANGE fm_sgemm_row_range
#include "gemm/gemm_driver.h"
#undef FM_T
#undef FM_P
#undef FM_KERNEL
#undef FM_KERNEL_T
#undef FM_GEMM
#undef FM_GEMM_ROW_THREADS
#undef FM_GEMM_ROW_PART
#undef FM_GEMM_ROW_RANGE

#define FM_T double
#define FM_P(x) d_##x
#define FM_KERNEL dgemm
#define FM_KERNEL_T fm_dgemm_kernel
#define FM_GEMM fm_dgemm
#define FM_GEMM_ROW_THREADS fm_dgemm_row_threads
#define FM_GEMM_ROW_PART fm_dgemm_row_part
#define FM_GEMM_ROW_RANGE fm_dgemm_row_range
#include "gemm/gemm_driver.h"
