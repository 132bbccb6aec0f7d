/* How one GEMM call runs: threads, and which operands are packed. */
#ifndef FM_GEMM_PLAN_H
#define FM_GEMM_PLAN_H

#include <stddef.h>

/* The kernel set's tile and cache blocking, and its element size in bytes. */
typedef struct { int mr, nr, mc, kc, kc_strided_a, nc, wide_nr, elem_bytes; } fm_gemm_blocking;

typedef enum {
    FM_GEMM_BLOCKED, /* the blocked loop nest, packing A and/or B as flagged */
    FM_GEMM_DOT,     /* dot products over A's rows and B's columns, k unsliced */
    FM_GEMM_WIDE,    /* one row of C by the wide kernel, B read in place */
} fm_gemm_path;

/* kc, mc: the depth of k slices and height of row blocks, at most the
 * kernel's (kc at most kc_strided_a when op(A)'s rows are not contiguous)
 * and balanced, so no slice is a sliver (k = 784 with kc = 256 is
 * cut 4 x 196, not 256 + 256 + 256 + 16).
 * own_columns: each thread packs and multiplies only the column panels of B
 * it takes (its share, then any another has yet to start: fm_claim_next), so
 * threads meet only around a packed A block they share (never, when A is
 * read in place); otherwise they share each packed B panel too.
 * pack_b_in_kernel: with own columns, the first tile down each column panel
 * reads B in place and packs it as it multiplies (kernel `packing`). */
typedef struct {
    fm_gemm_path path;
    int threads, pack_a, pack_b, own_columns, pack_b_in_kernel;
    ptrdiff_t kc, mc;
} fm_gemm_plan;

/* The arithmetic (path, kc, mc, packing) is decided from shapes and strides
 * alone, never from the thread count, so every bit of C is the same for any
 * number of threads; only how the threads share the work depends on it. */
fm_gemm_plan fm_plan_gemm(const fm_gemm_blocking *blk, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                          ptrdiff_t rs_a, ptrdiff_t cs_a, ptrdiff_t rs_b, ptrdiff_t cs_b);

/* Row tile t of a product of m rows: rows [*first, *first + *rows). Tiles are
 * mr rows, save that a remainder of fewer than min_rows rows (which a tile
 * would sum in split chains, gemm_ukernel.h) shares the last full tile's rows
 * evenly: with mr = 6, 128 rows are 20 tiles of 6, then 4 + 4. Every tile of
 * a product of at least min_rows rows is then at least min_rows high, and
 * computes each row the same way, wherever the tiles fall: rows [lo, hi) of
 * A alone give the bits of those rows of the whole product. Row blocks
 * (multiples of mr) hold the same tiles. */
static inline void fm_row_tile(ptrdiff_t m, int mr, int min_rows, ptrdiff_t t,
                               ptrdiff_t *first, int *rows)
{
    const ptrdiff_t full = m / mr, rest = m % mr;
    if (rest != 0 && rest < min_rows && full > 0 && t >= full - 1) {
        const int upper = (int)(mr + rest + 1) / 2; /* the higher of the two */
        *first = (full - 1) * mr + (t == full ? upper : 0);
        *rows = t == full ? (int)(mr + rest) - upper : upper;
        return;
    }
    *first = t * mr;
    *rows = m - *first < mr ? (int)(m - *first) : mr;
}

static inline size_t fm_round_up(ptrdiff_t x, int to) { return (size_t)((x + to - 1) / to) * to; }

/* The calling thread's 64-byte aligned scratch of at least `bytes`, valid
 * until its next call; NULL when out of memory. */
void *fm_workspace_get(size_t bytes);

#endif
