/* One-row products split over a caller's own threads.
 *
 * A network's one-row forward pass runs every layer inside one parallel
 * region, with a barrier between layers, rather than starting threads for
 * each layer's GEMM: for one row the start-up costs as much as the product.
 * Each thread computes its part of c[1,n] = a[1,k] . B[k,n] (B row-major,
 * both contiguous) with the kernels and the column blocks fm_sgemm /
 * fm_dgemm use for that row; a block's bits do not depend on which thread
 * computes it, so every bit matches theirs.
 */
#ifndef FM_GEMM_ROW_H
#define FM_GEMM_ROW_H

#include <stddef.h>

/* The threads worth using for the product, of at most `most` already
 * running (a pure function of its arguments: the team is sized with
 * fm_threads_available() outside the region and each layer's parts are
 * counted again inside it, against the team's size). */
int fm_sgemm_row_threads(ptrdiff_t n, ptrdiff_t k, int most);
int fm_dgemm_row_threads(ptrdiff_t n, ptrdiff_t k, int most);

/* Part `part` of `parts` of c = a . B: writes c[*lo..*hi) (possibly empty).
 * Returns 0, or -1 when the calling thread's workspace could not be had. */
int fm_sgemm_row_part(ptrdiff_t n, ptrdiff_t k, const float *a, const float *b, float *c,
                      int part, int parts, ptrdiff_t *lo, ptrdiff_t *hi);
int fm_dgemm_row_part(ptrdiff_t n, ptrdiff_t k, const double *a, const double *b, double *c,
                      int part, int parts, ptrdiff_t *lo, ptrdiff_t *hi);

/* Products split by rows of C instead: rows [*lo, *hi) of part `part` of at
 * most `parts` of an m-row product, so that a GEMM of A's rows lo..hi alone
 * computes those rows of C with the bits of the whole product: no part is so
 * short that it would take the one-row or dot-product path, or have a tile
 * that sums in split chains (fm_row_tile). The parts are as even as the
 * rows allow, or with `share` (parts fractions summing to 1) as near those
 * fractions of m as that minimum allows. When m rows cannot be cut `parts`
 * ways, the last parts are empty and the others even. */
void fm_sgemm_row_range(ptrdiff_t m, int part, int parts, const double *share, ptrdiff_t *lo,
                        ptrdiff_t *hi);
void fm_dgemm_row_range(ptrdiff_t m, int part, int parts, const double *share, ptrdiff_t *lo,
                        ptrdiff_t *hi);

#endif
