/* The table of kernels one ISA provides, the blocking that goes with them,
 * and the network engine built for it (nn/engine.h).
 *
 * Each ISA file (csrc/kernels/<isa>/) fills the slots it has; dispatch.c first
 * fills every slot from the generic kernels, then lets the chosen ISA override,
 * so adding an ISA never touches the framework code.
 */
#ifndef FM_KERNEL_TABLE_H
#define FM_KERNEL_TABLE_H

#include <stddef.h>
#include "fastmlp.h"
#include "nn/engine.h"

/* The most rows a micro-tile may have: the size of the kernels' rows[]
 * tables (AVX-512's 12 is the tallest in use). */
#define FM_MAX_MR 16

/* GEMM micro-kernel: C[m,n] = alpha * A[m,k] . B[k,n] + beta * C for one tile,
 * m fixed by the slot it sits in (rows[m]), n <= nr. A is read as
 * a[i*rs_a + p*cs_a]; B as b[p*rs_b + j] with unit column stride, and must
 * hold nr readable columns even when n < nr (the driver pads edge panels). */
typedef void (*fm_sgemm_ukr)(ptrdiff_t k, const float *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                             const float *b, ptrdiff_t rs_b, float *c, ptrdiff_t rs_c,
                             ptrdiff_t cs_c, ptrdiff_t n, float alpha, float beta);
typedef void (*fm_dgemm_ukr)(ptrdiff_t k, const double *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                             const double *b, ptrdiff_t rs_b, double *c, ptrdiff_t rs_c,
                             ptrdiff_t cs_c, ptrdiff_t n, double alpha, double beta);
/* The same for mr rows, also copying the nr-column micro-panel of B it reads
 * into bp (bp[p*nr + j], as pack_b lays it out). */
typedef void (*fm_sgemm_packing_ukr)(ptrdiff_t k, const float *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                                     const float *b, ptrdiff_t rs_b, float *c, ptrdiff_t rs_c,
                                     ptrdiff_t cs_c, ptrdiff_t n, float alpha, float beta,
                                     float *bp);
typedef void (*fm_dgemm_packing_ukr)(ptrdiff_t k, const double *a, ptrdiff_t rs_a,
                                     ptrdiff_t cs_a, const double *b, ptrdiff_t rs_b, double *c,
                                     ptrdiff_t rs_c, ptrdiff_t cs_c, ptrdiff_t n, double alpha,
                                     double beta, double *bp);

/* rows[m] computes m rows (1 <= m <= mr); `packed` computes mr rows from packed
 * panels (A strides 1 and mr, B row stride nr; its stride arguments are ignored);
 * `packing` computes mr rows with B in place, nr whole columns, and packs
 * the micro-panel of B as it goes.
 * wide computes one row over wide_nr (a multiple of nr) columns, n <= wide_nr,
 * B read in place with wide_nr readable columns.
 * pack_a copies m <= mr rows of A into an mr-row micro-panel (ap[p*mr + i]);
 * pack_b copies n <= nr columns of B into an nr-column one, zero-padded.
 * dot computes a whole m x n block from A rows and B columns that are
 * contiguous in k (cs_a == 1, rs_b == 1), for few rows, where packing B
 * would cost more than the product.
 * mr x nr micro-tile; blocks of mc rows (A block, sized for L2), kc depth
 * (micro-panels sized for L1) and nc columns (B panel, sized for L3);
 * kc_strided_a caps kc where op(A)'s rows are not contiguous (fm_plan_gemm).
 * rows[m] for m >= min_rows sums each element in one chain over k, as the
 * full tile does; shorter tiles split k to hide the FMA latency. */
typedef struct {
    fm_sgemm_ukr rows[FM_MAX_MR + 1], packed, wide;
    fm_sgemm_packing_ukr packing;
    void (*pack_a)(ptrdiff_t m, ptrdiff_t k, const float *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                   float *ap);
    void (*pack_b)(ptrdiff_t k, ptrdiff_t n, const float *b, ptrdiff_t rs_b, ptrdiff_t cs_b,
                   float *bp);
    void (*dot)(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const float *a, ptrdiff_t rs_a,
                const float *b, ptrdiff_t cs_b, float *c, ptrdiff_t rs_c, ptrdiff_t cs_c,
                float alpha, float beta);
    int mr, nr, mc, kc, kc_strided_a, nc, wide_nr, min_rows;
} fm_sgemm_kernel;
typedef struct {
    fm_dgemm_ukr rows[FM_MAX_MR + 1], packed, wide;
    fm_dgemm_packing_ukr packing;
    void (*pack_a)(ptrdiff_t m, ptrdiff_t k, const double *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                   double *ap);
    void (*pack_b)(ptrdiff_t k, ptrdiff_t n, const double *b, ptrdiff_t rs_b, ptrdiff_t cs_b,
                   double *bp);
    void (*dot)(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, const double *a, ptrdiff_t rs_a,
                const double *b, ptrdiff_t cs_b, double *c, ptrdiff_t rs_c, ptrdiff_t cs_c,
                double alpha, double beta);
    int mr, nr, mc, kc, kc_strided_a, nc, wide_nr, min_rows;
} fm_dgemm_kernel;

typedef struct {
    fm_isa isa;
    fm_sgemm_kernel sgemm;
    fm_dgemm_kernel dgemm;
    fm_engine engine; /* the network engine built for this ISA */
} fm_kernel_table;

/* The table in use; set once at import (fm_isa_select). */
const fm_kernel_table *fm_kernels(void);

void fm_kernels_init_generic(fm_kernel_table *t);
void fm_kernels_init_avx2(fm_kernel_table *t);
void fm_kernels_init_avx512(fm_kernel_table *t);

#endif
