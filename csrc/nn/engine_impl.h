/* The network engine (engine.h) for one ISA: included by
 * csrc/kernels/<isa>/engine_<isa>.c, compiled with that ISA's flags, with
 *   FM_ENGINE_INIT  the name of the function that fills an fm_engine
 * Everything else here is static, so the builds for several ISAs link
 * side by side. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fastmlp.h"
#include "gemm/gemm_row.h"
#include "nn/engine.h"
#include "nn/rng.h"
#include "nn/trainer.h"
#include "threads.h"

/* NaN and infinity are the values whose exponent bits are all ones. The test
 * works on the bits as integers, so GCC vectorises it as an OR-reduction
 * (a floating-point sum would need reassociation). */
static int s_all_finite(const float *x, ptrdiff_t n)
{
    uint32_t bad = 0;
    for (ptrdiff_t i = 0; i < n; ++i) {
        uint32_t bits;
        memcpy(&bits, x + i, sizeof bits);
        bad |= (bits & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

static int d_all_finite(const double *x, ptrdiff_t n)
{
    uint64_t bad = 0;
    for (ptrdiff_t i = 0; i < n; ++i) {
        uint64_t bits;
        memcpy(&bits, x + i, sizeof bits);
        bad |= (bits & 0x7ff0000000000000ull) == 0x7ff0000000000000ull;
    }
    return !bad;
}

/* Below this many elements per thread, waking a thread costs more than its
 * share of a memory-bound optimizer update saves. */
#define OPTIM_MIN_ELEMS_PER_THREAD 16384.0

#define FM_T float
#define FM_P(x) s_##x
#define FM_SQRT sqrtf
#include "nn/optim_impl.h"
#undef FM_T
#undef FM_P
#undef FM_SQRT

#define FM_T double
#define FM_P(x) d_##x
#define FM_SQRT sqrt
#include "nn/optim_impl.h"
#undef FM_T
#undef FM_P
#undef FM_SQRT

/* A GEMM that could not get its workspace marks the trainer (from any
 * thread of a team); the batch's result is then discarded (FM_NO_MEMORY). */
#define FM_GEMM_OR_FLAG(gemm, ...)                                        \
    do {                                                                  \
        if (gemm(__VA_ARGS__) != 0)                                       \
            __atomic_store_n(&t->out_of_memory, 1, __ATOMIC_RELAXED);     \
    } while (0)

/* A thread's part of a layer's parameters (net_impl.h, part_of). */
typedef struct { ptrdiff_t r0, r1, c0, c1; } param_part;

#define FM_T float
#define FM_T_IS_DOUBLE 0
#define FM_P(x) s_##x
#define FM_GEMM(...) FM_GEMM_OR_FLAG(fm_sgemm, __VA_ARGS__)
#define FM_GEMM_ROW_THREADS fm_sgemm_row_threads
#define FM_GEMM_ROW_PART fm_sgemm_row_part
#define FM_GEMM_ROW_RANGE fm_sgemm_row_range
#define FM_OPT_STEP s_optimizer_step
#define FM_ALL_FINITE s_all_finite
#include "nn/layers_impl.h"
#include "nn/losses_impl.h"
#include "nn/net_impl.h"
#undef FM_T
#undef FM_T_IS_DOUBLE
#undef FM_P
#undef FM_GEMM
#undef FM_GEMM_ROW_THREADS
#undef FM_GEMM_ROW_PART
#undef FM_GEMM_ROW_RANGE
#undef FM_OPT_STEP
#undef FM_ALL_FINITE

#define FM_T double
#define FM_T_IS_DOUBLE 1
#define FM_P(x) d_##x
#define FM_GEMM(...) FM_GEMM_OR_FLAG(fm_dgemm, __VA_ARGS__)
#define FM_GEMM_ROW_THREADS fm_dgemm_row_threads
#define FM_GEMM_ROW_PART fm_dgemm_row_part
#define FM_GEMM_ROW_RANGE fm_dgemm_row_range
#define FM_OPT_STEP d_optimizer_step
#define FM_ALL_FINITE d_all_finite
#include "nn/layers_impl.h"
#include "nn/losses_impl.h"
#include "nn/net_impl.h"

/* The engine's entry points: each picks its float or double instantiation. */
static void train_epoch(fm_net *net, fm_trainer *t, const void *x, const void *targets,
                        const void *row_weights, ptrdiff_t n, ptrdiff_t batch, long key,
                        int shuffle, volatile const int *stop, volatile fm_epoch_stats *stats)
{
    if (net->is_double)
        d_train_epoch(net, t, x, targets, row_weights, n, batch, key, shuffle, stop, stats);
    else
        s_train_epoch(net, t, x, targets, row_weights, n, batch, key, shuffle, stop, stats);
}

static void evaluate(const fm_net *net, fm_trainer *t, const void *x, const void *targets,
                     const void *row_weights, ptrdiff_t n, ptrdiff_t batch,
                     fm_epoch_stats *stats)
{
    if (net->is_double)
        d_evaluate(net, t, x, targets, row_weights, n, batch, stats);
    else
        s_evaluate(net, t, x, targets, row_weights, n, batch, stats);
}

static void predict(const fm_net *net, fm_trainer *t, const void *x, ptrdiff_t n,
                    ptrdiff_t batch, void *y)
{
    if (net->is_double)
        d_predict(net, t, x, n, batch, y);
    else
        s_predict(net, t, x, n, batch, y);
}

static double loss_and_gradients(fm_net *net, fm_trainer *t, const void *x,
                                 const void *targets, const void *row_weights, ptrdiff_t n)
{
    return net->is_double ? d_loss_and_gradients(net, t, x, targets, row_weights, n)
                          : s_loss_and_gradients(net, t, x, targets, row_weights, n);
}

void FM_ENGINE_INIT(fm_engine *e)
{
    *e = (fm_engine){train_epoch, evaluate, predict, loss_and_gradients,
                     s_optimizer_step, d_optimizer_step, s_all_finite, d_all_finite};
}
