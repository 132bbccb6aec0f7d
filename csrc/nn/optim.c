/* The optimizers' state counts, and their updates (optim_impl.h, built
 * into each ISA's engine) through the active engine.
 *
 * The state arrays of each optimizer, in this order (PyTorch's names):
 *   SGD       momentum_buffer (only when momentum != 0)
 *   Adagrad   sum
 *   RMSprop   square_avg, momentum_buffer (momentum > 0), grad_avg (centered)
 *   Adadelta  square_avg, acc_delta
 *   Adam(W)   exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad)
 */
#include "arch/kernel_table.h"
#include "nn/optim.h"

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

void fm_s_optimizer_step(const fm_optimizer *opt, long step, ptrdiff_t n, float *p,
                         const float *g, float *const *state)
{
    fm_kernels()->engine.s_optimizer_step(opt, step, n, p, g, state);
}

void fm_d_optimizer_step(const fm_optimizer *opt, long step, ptrdiff_t n, double *p,
                         const double *g, double *const *state)
{
    fm_kernels()->engine.d_optimizer_step(opt, step, n, p, g, state);
}
