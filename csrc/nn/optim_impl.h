/* The optimizer updates for one data type, included by engine_impl.h once
 * per type with
 *   FM_T     float or double
 *   FM_P(x)  prefix for this type's names: s_##x or d_##x
 *   FM_SQRT  sqrtf or sqrt
 *   OPTIM_MIN_ELEMS_PER_THREAD  the least work worth a thread
 * and defining FM_P(optimizer_step), optim.h's fm_s/d_optimizer_step.
 *
 * Scalars (decayed learning rate, bias corrections) are computed in double
 * once per call and rounded to FM_T; the element-wise maths is in FM_T, in the
 * order of PyTorch's single-tensor implementation (a + s*b*c is (s*b)*c, as
 * its addcmul computes it). Each update works on elements [lo, hi), which
 * threads split, so results are bitwise the same for any thread count.
 *
 * p, g and every state array are distinct, non-overlapping arrays (the
 * bindings check it), hence `restrict`.
 */

/* The gradient plus L2 weight decay. PyTorch skips the term when wd == 0, so
 * an inf or NaN in p does not leak into the gradient through 0 * p. */
static inline FM_T FM_P(decayed)(FM_T g, FM_T p, FM_T wd)
{
    return wd != 0 ? g + wd * p : g;
}

/* PyTorch's lerp(a, b, w) = a + w*(b - a), for its running means (lerp_ in
 * Adam's exp_avg and centered RMSprop's grad_avg). Like PyTorch's kernel it
 * works from b's side when w >= 0.5, so that w near 1 gives b exactly;
 * `w_rest` is 1 - w rounded to FM_T, as PyTorch computes it. */
static inline FM_T FM_P(lerp)(FM_T a, FM_T b, FM_T w, FM_T w_rest)
{
    return w < (FM_T)0.5 ? a + w * (b - a) : b - (b - a) * w_rest;
}

/* The loops below are specialised (always inlined with constants) on which
 * optional state arrays exist, so none has a branch on a pointer that may be
 * NULL: GCC would if-convert such a branch into masked loads through the NULL
 * pointer, which AMD CPUs execute more than ten times slower. */

/* SGD's loop; buf is the momentum buffer (NULL, and `momentum` 0, without). */
static inline __attribute__((always_inline)) void
FM_P(sgd_loop)(const int momentum, ptrdiff_t lo, ptrdiff_t hi, FM_T *restrict p,
               const FM_T *restrict g, FM_T *restrict buf, FM_T lr, FM_T wd, FM_T mom,
               FM_T undamped, int first, int nesterov)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        FM_T d = FM_P(decayed)(g[i], p[i], wd);
        if (momentum) {
            /* The buffer starts as the first gradient, not as zeros that the
             * first step would dampen; its initial content is never read. */
            buf[i] = first ? d : mom * buf[i] + undamped * d;
            d = nesterov ? d + mom * buf[i] : buf[i];
        }
        p[i] -= lr * d;
    }
}

/* state: [momentum_buffer] when momentum != 0 */
static void FM_P(sgd)(const fm_optimizer *o, long step, ptrdiff_t lo, ptrdiff_t hi,
    FM_T *restrict p, const FM_T *restrict g, FM_T *const *state)
{
    const FM_T lr = (FM_T)o->lr, wd = (FM_T)o->weight_decay, mom = (FM_T)o->momentum;
    const FM_T undamped = (FM_T)(1 - o->dampening);
    if (o->momentum != 0)
        FM_P(sgd_loop)(1, lo, hi, p, g, state[0], lr, wd, mom, undamped, step == 1, o->nesterov);
    else
        FM_P(sgd_loop)(0, lo, hi, p, g, NULL, lr, wd, 0, 0, 0, 0);
}

/* state: [sum] */
static void FM_P(adagrad)(const fm_optimizer *o, long step, ptrdiff_t lo, ptrdiff_t hi,
    FM_T *restrict p, const FM_T *restrict g, FM_T *const *state)
{
    const FM_T clr = (FM_T)(o->lr / (1 + (double)(step - 1) * o->lr_decay));
    const FM_T wd = (FM_T)o->weight_decay, eps = (FM_T)o->eps;
    FM_T *restrict sum = state[0];
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const FM_T d = FM_P(decayed)(g[i], p[i], wd);
        sum[i] += d * d;
        p[i] -= clr * d / (FM_SQRT(sum[i]) + eps);
    }
}

/* RMSprop's loop; buf (momentum) and gavg (centered) may be absent (NULL,
 * and their flag 0). */
static inline __attribute__((always_inline)) void
FM_P(rmsprop_loop)(const int momentum, const int centered, ptrdiff_t lo, ptrdiff_t hi,
                   FM_T *restrict p, const FM_T *restrict g, FM_T *restrict sq,
                   FM_T *restrict buf, FM_T *restrict gavg, FM_T lr, FM_T wd, FM_T eps,
                   FM_T alpha, FM_T rest, FM_T mom)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const FM_T d = FM_P(decayed)(g[i], p[i], wd);
        sq[i] = alpha * sq[i] + rest * d * d;
        FM_T var = sq[i];
        if (centered) {
            gavg[i] = FM_P(lerp)(gavg[i], d, rest, 1 - rest);
            var -= gavg[i] * gavg[i];
        }
        const FM_T avg = FM_SQRT(var) + eps;
        if (momentum) {
            buf[i] = mom * buf[i] + d / avg;
            p[i] -= lr * buf[i];
        } else {
            p[i] -= lr * d / avg;
        }
    }
}

/* state: [square_avg, momentum_buffer when momentum > 0, grad_avg when centered] */
static void FM_P(rmsprop)(const fm_optimizer *o, long step, ptrdiff_t lo, ptrdiff_t hi,
    FM_T *restrict p, const FM_T *restrict g, FM_T *const *state)
{
    const FM_T lr = (FM_T)o->lr, wd = (FM_T)o->weight_decay, eps = (FM_T)o->eps;
    const FM_T alpha = (FM_T)o->alpha, rest = (FM_T)(1 - o->alpha), mom = (FM_T)o->momentum;
    FM_T *sq = state[0];
    FM_T *buf = o->momentum > 0 ? state[1] : NULL;
    FM_T *gavg = o->centered ? state[buf ? 2 : 1] : NULL;
#define FM_RMSPROP(momentum, centered)                                                  \
    FM_P(rmsprop_loop)(momentum, centered, lo, hi, p, g, sq, buf, gavg, lr, wd, eps, alpha, \
                       rest, mom)
    if (buf && gavg)
        FM_RMSPROP(1, 1);
    else if (buf)
        FM_RMSPROP(1, 0);
    else if (gavg)
        FM_RMSPROP(0, 1);
    else
        FM_RMSPROP(0, 0);
#undef FM_RMSPROP
}

/* state: [square_avg, acc_delta] */
static void FM_P(adadelta)(const fm_optimizer *o, long step, ptrdiff_t lo, ptrdiff_t hi,
    FM_T *restrict p, const FM_T *restrict g, FM_T *const *state)
{
    const FM_T lr = (FM_T)o->lr, wd = (FM_T)o->weight_decay, eps = (FM_T)o->eps;
    const FM_T rho = (FM_T)o->rho, rest = (FM_T)(1 - o->rho);
    FM_T *restrict sq = state[0], *restrict acc = state[1];
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const FM_T d = FM_P(decayed)(g[i], p[i], wd);
        sq[i] = rho * sq[i] + rest * d * d;
        const FM_T delta = FM_SQRT(acc[i] + eps) / FM_SQRT(sq[i] + eps) * d;
        acc[i] = rho * acc[i] + rest * delta * delta;
        p[i] -= lr * delta;
    }
}

/* Adam's loop; vmax (amsgrad) may be absent (NULL, and `amsgrad` 0). */
static inline __attribute__((always_inline)) void
FM_P(adam_loop)(const int amsgrad, ptrdiff_t lo, ptrdiff_t hi, FM_T *restrict p,
                const FM_T *restrict g, FM_T *restrict m, FM_T *restrict v,
                FM_T *restrict vmax, FM_T shrink, FM_T wd, FM_T rest1, FM_T b2,
                FM_T rest2, FM_T step_size, FM_T inv_bc2_sqrt, FM_T eps)
{
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const FM_T pi = shrink != 1 ? shrink * p[i] : p[i];
        const FM_T d = FM_P(decayed)(g[i], pi, wd);
        m[i] = FM_P(lerp)(m[i], d, rest1, 1 - rest1);
        v[i] = b2 * v[i] + rest2 * d * d;
        FM_T vhat = v[i];
        if (amsgrad) /* a NaN in v propagates, as with torch.maximum */
            vhat = vmax[i] = vmax[i] >= v[i] ? vmax[i] : v[i];
        p[i] = pi - step_size * m[i] / (FM_SQRT(vhat) * inv_bc2_sqrt + eps);
    }
}

/* Adam, and AdamW when `decoupled`: p shrinks by 1 - lr*wd before the update
 * instead of wd*p joining the gradient.
 * state: [exp_avg, exp_avg_sq, max_exp_avg_sq when amsgrad] */
static void FM_P(adam)(const fm_optimizer *o, long step, ptrdiff_t lo, ptrdiff_t hi,
    FM_T *restrict p, const FM_T *restrict g, FM_T *const *state)
{
    const int decoupled = o->kind == FM_OPT_ADAMW;
    const double bc1 = 1 - pow(o->beta1, (double)step), bc2 = 1 - pow(o->beta2, (double)step);
    /* PyTorch divides sqrt(v) by sqrt(bc2); multiplying by its inverse rounds
     * within an ulp of that and leaves one division per element instead of
     * two. The loop is bound by the divider and square root (AVX2, one
     * thread, a step over 784x256 float32: 100-108 us before, 71 us after). */
    const FM_T step_size = (FM_T)(o->lr / bc1), inv_bc2_sqrt = (FM_T)(1 / sqrt(bc2));
    const FM_T rest1 = (FM_T)(1 - o->beta1);
    const FM_T b2 = (FM_T)o->beta2, rest2 = (FM_T)(1 - o->beta2), eps = (FM_T)o->eps;
    const FM_T wd = decoupled ? 0 : (FM_T)o->weight_decay;
    const FM_T shrink = decoupled ? (FM_T)(1 - o->lr * o->weight_decay) : 1;
    if (o->amsgrad)
        FM_P(adam_loop)(1, lo, hi, p, g, state[0], state[1], state[2], shrink, wd, rest1, b2,
                        rest2, step_size, inv_bc2_sqrt, eps);
    else
        FM_P(adam_loop)(0, lo, hi, p, g, state[0], state[1], NULL, shrink, wd, rest1, b2,
                        rest2, step_size, inv_bc2_sqrt, eps);
}

typedef void (*FM_P(update_fn))(const fm_optimizer *, long, ptrdiff_t, ptrdiff_t, FM_T *restrict,
                                const FM_T *restrict, FM_T *const *);

static const FM_P(update_fn) FM_P(updates)[FM_OPT_COUNT] = {
    [FM_OPT_SGD] = FM_P(sgd),           [FM_OPT_ADAGRAD] = FM_P(adagrad),
    [FM_OPT_RMSPROP] = FM_P(rmsprop),   [FM_OPT_ADADELTA] = FM_P(adadelta),
    [FM_OPT_ADAM] = FM_P(adam),         [FM_OPT_ADAMW] = FM_P(adam),
};

typedef struct {
    const fm_optimizer *opt;
    long step;
    ptrdiff_t n;
    FM_T *p;
    const FM_T *g;
    FM_T *const *state;
} FM_P(step_args);

static void FM_P(step_run)(const void *args)
{
    const FM_P(step_args) *a = args;
    ptrdiff_t lo, hi;
    fm_share(a->n, &lo, &hi);
    FM_P(updates)[a->opt->kind](a->opt, a->step, lo, hi, a->p, a->g, a->state);
}

static void FM_P(optimizer_step)(const fm_optimizer *opt, long step, ptrdiff_t n, FM_T *p,
                                 const FM_T *g, FM_T *const *state)
{
    if ((unsigned)opt->kind >= FM_OPT_COUNT)
        return; /* not an optimizer: nothing to do */
    const FM_P(step_args) args = {opt, step, n, p, g, state};
    fm_parallel(FM_P(step_run), &args, fm_threads_for((double)n, OPTIM_MIN_ELEMS_PER_THREAD));
}
