/* fm_s_optimizer_step and fm_d_optimizer_step: optim_impl.h for each type.
 *
 * The state arrays of each optimizer, in this order (PyTorch's names):
 *   SGD       momentum_buffer (only when momentum != 0)
 *   Adagrad   sum
 *   RMSprop   square_avg, momentum_buffer (momentum > 0), grad_avg (centered)
 *   Adadelta  square_avg, acc_delta
 *   Adam(W)   exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad)
 */
#include <math.h>

#include "fastmlp.h"
#include "nn/optim.h"
#include "threads.h"

/* Below this many elements per thread, waking a thread costs more than its
 * share of a memory-bound update saves. */
#define MIN_ELEMS_PER_THREAD 16384.0

int fm_optimizer_state_count(const fm_optimizer *opt)
{
    switch (opt->kind) {
    case FM_OPT_SGD:
        return opt->momentum != 0;
    case FM_OPT_ADAGRAD:
        return 1;
    case FM_OPT_RMSPROP:
        return 1 + (opt->momentum > 0) + (opt->centered != 0);
    case FM_OPT_ADADELTA:
        return 2;
    case FM_OPT_ADAM:
    case FM_OPT_ADAMW:
        return 2 + (opt->amsgrad != 0);
    default:
        return 0;
    }
}

#define FM_T float
#define FM_P(x) s_##x
#define FM_SQRT sqrtf
#define FM_STEP fm_s_optimizer_step
#include "nn/optim_impl.h"
#undef FM_T
#undef FM_P
#undef FM_SQRT
#undef FM_STEP

#define FM_T double
#define FM_P(x) d_##x
#define FM_SQRT sqrt
#define FM_STEP fm_d_optimizer_step
#include "nn/optim_impl.h"
