/* The network engine: every loop of csrc/nn over elements and rows (layers,
 * losses, forward and backward passes, the training loop, optimizer updates,
 * finiteness checks), compiled once per ISA from engine_impl.h by
 * csrc/kernels/<isa>/engine_<isa>.c, so the compiler vectorises it for that
 * ISA. The kernel table holds the chosen build's entry points; net.c,
 * optim.c and checks.c call through it.
 *
 * No build reassociates floating-point sums or contracts a*b+c (the flags
 * forbid both), so every build computes the same bits; only the GEMM kernels
 * they call differ between ISAs. */
#ifndef FM_ENGINE_H
#define FM_ENGINE_H

#include <stddef.h>

#include "nn/net.h"
#include "nn/optim.h"

/* The work of net.h's functions of the same names, on a workspace the caller
 * made (fm_trainer_create) for batches of `batch` rows; `t->out_of_memory`
 * reports a GEMM that could not get its own. */
typedef struct {
    void (*train_epoch)(fm_net *net, fm_trainer *t, const void *x, const void *targets,
                        const void *row_weights, ptrdiff_t n, ptrdiff_t batch, long key,
                        int shuffle, volatile const int *stop, volatile fm_epoch_stats *stats);
    void (*evaluate)(const fm_net *net, fm_trainer *t, const void *x, const void *targets,
                     const void *row_weights, ptrdiff_t n, ptrdiff_t batch,
                     fm_epoch_stats *stats);
    void (*predict)(const fm_net *net, fm_trainer *t, const void *x, ptrdiff_t n,
                    ptrdiff_t batch, void *y);
    double (*loss_and_gradients)(fm_net *net, fm_trainer *t, const void *x,
                                 const void *targets, const void *row_weights, ptrdiff_t n);
    void (*s_optimizer_step)(const fm_optimizer *opt, long step, ptrdiff_t n, float *p,
                             const float *g, float *const *state);
    void (*d_optimizer_step)(const fm_optimizer *opt, long step, ptrdiff_t n, double *p,
                             const double *g, double *const *state);
    int (*s_all_finite)(const float *x, ptrdiff_t n);
    int (*d_all_finite)(const double *x, ptrdiff_t n);
} fm_engine;

void fm_engine_init_generic(fm_engine *e);
void fm_engine_init_avx2(fm_engine *e);
void fm_engine_init_avx512(fm_engine *e);

#endif
