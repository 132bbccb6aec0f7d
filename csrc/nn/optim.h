/* Optimizer updates: one step of one parameter array, PyTorch's formulas.
 *
 * Hyper-parameters are doubles whatever the parameter dtype; each update is
 * element-wise, so threads split the array and results do not depend on the
 * thread count. */
#ifndef FM_OPTIM_H
#define FM_OPTIM_H

#include <stddef.h>

typedef enum {
    FM_OPT_SGD,
    FM_OPT_ADAGRAD,
    FM_OPT_RMSPROP,
    FM_OPT_ADADELTA,
    FM_OPT_ADAM,
    FM_OPT_ADAMW,
    FM_OPT_COUNT
} fm_opt_kind;

typedef struct {
    fm_opt_kind kind;
    double lr, weight_decay, eps;
    double momentum, dampening; /* SGD; momentum also RMSprop */
    int nesterov;               /* SGD */
    double alpha;               /* RMSprop smoothing */
    int centered;               /* RMSprop */
    double rho;                 /* Adadelta */
    double lr_decay;            /* Adagrad */
    double beta1, beta2;        /* Adam, AdamW */
    int amsgrad;                /* Adam, AdamW */
} fm_optimizer;

/* How many arrays of the parameter's size the optimizer keeps as state. */
int fm_optimizer_state_count(const fm_optimizer *opt);

/* One update of p[0..n) from its gradient g; `step` counts updates from 1.
 * state[0..fm_optimizer_state_count) start as zeros (Adagrad's sum starts at
 * initial_accumulator_value, which the caller fills in). */
void fm_s_optimizer_step(const fm_optimizer *opt, long step, ptrdiff_t n, float *p,
                         const float *g, float *const *state);
void fm_d_optimizer_step(const fm_optimizer *opt, long step, ptrdiff_t n, double *p,
                         const double *g, double *const *state);

#endif
