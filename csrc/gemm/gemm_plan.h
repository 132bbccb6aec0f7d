/* How one GEMM call runs: threads, and which operands are packed. */
#ifndef FM_GEMM_PLAN_H
#define FM_GEMM_PLAN_H

#include <stddef.h>

typedef struct { int mr, nr, mc, kc, nc; } fm_gemm_blocking;
typedef struct { int threads, pack_a, pack_b; } fm_gemm_plan;

fm_gemm_plan fm_plan_gemm(const fm_gemm_blocking *blk, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                          ptrdiff_t cs_b);

static inline size_t fm_round_up(ptrdiff_t x, int to) { return (size_t)((x + to - 1) / to) * to; }

/* 64-byte aligned scratch; NULL when out of memory. */
void *fm_workspace_alloc(size_t bytes);
void fm_workspace_free(void *p);

#endif
