/* The optimizer updates for one data type, included by optim.c once per type
 * with
 *   FM_T     float or double
 *   FM_P(x)  prefix for this type's names: s_##x or d_##x
 *   FM_SQRT  sqrtf or sqrt
 *   FM_STEP  the public name: fm_s_optimizer_step or fm_d_optimizer_step
 *
 * Scalars (decayed learning rate, bias corrections) are computed in double
 * once per call and rounded to FM_T; the element-wise maths is in FM_T, in the
 * order of PyTorch's single-tensor implementation (a + s*b*c is (s*b)*c, as
 * its addcmul computes it). Each loop only splits its index range between
 * threads, so results are bitwise the same for any thread count.
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

/* state: [momentum_buffer] when momentum != 0 */
static void FM_P(sgd)(const fm_optimizer *o, long step, ptrdiff_t n, FM_T *restrict p,
                      const FM_T *restrict g, FM_T *const *state, int threads)
{
    const FM_T lr = (FM_T)o->lr, wd = (FM_T)o->weight_decay, mom = (FM_T)o->momentum;
    const FM_T undamped = (FM_T)(1 - o->dampening);
    const int first = step == 1, nesterov = o->nesterov;
    FM_T *restrict buf = o->momentum != 0 ? state[0] : NULL;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (ptrdiff_t i = 0; i < n; ++i) {
        FM_T d = FM_P(decayed)(g[i], p[i], wd);
        if (buf) {
            /* The buffer starts as the first gradient, not as zeros that the
             * first step would dampen; its initial content is never read. */
            buf[i] = first ? d : mom * buf[i] + undamped * d;
            d = nesterov ? d + mom * buf[i] : buf[i];
        }
        p[i] -= lr * d;
    }
}

/* state: [sum] */
static void FM_P(adagrad)(const fm_optimizer *o, long step, ptrdiff_t n, FM_T *restrict p,
                          const FM_T *restrict g, FM_T *const *state, int threads)
{
    const FM_T clr = (FM_T)(o->lr / (1 + (double)(step - 1) * o->lr_decay));
    const FM_T wd = (FM_T)o->weight_decay, eps = (FM_T)o->eps;
    FM_T *restrict sum = state[0];
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (ptrdiff_t i = 0; i < n; ++i) {
        const FM_T d = FM_P(decayed)(g[i], p[i], wd);
        sum[i] += d * d;
        p[i] -= clr * d / (FM_SQRT(sum[i]) + eps);
    }
}

/* state: [square_avg, momentum_buffer when momentum > 0, grad_avg when centered] */
static void FM_P(rmsprop)(const fm_optimizer *o, ptrdiff_t n, FM_T *restrict p,
                          const FM_T *restrict g, FM_T *const *state, int threads)
{
    const FM_T lr = (FM_T)o->lr, wd = (FM_T)o->weight_decay, eps = (FM_T)o->eps;
    const FM_T alpha = (FM_T)o->alpha, rest = (FM_T)(1 - o->alpha), mom = (FM_T)o->momentum;
    FM_T *restrict sq = state[0];
    FM_T *restrict buf = o->momentum > 0 ? state[1] : NULL;
    FM_T *restrict gavg = o->centered ? state[buf ? 2 : 1] : NULL;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (ptrdiff_t i = 0; i < n; ++i) {
        const FM_T d = FM_P(decayed)(g[i], p[i], wd);
        sq[i] = alpha * sq[i] + rest * d * d;
        FM_T var = sq[i];
        if (gavg) {
            gavg[i] = alpha * gavg[i] + rest * d;
            var -= gavg[i] * gavg[i];
        }
        const FM_T avg = FM_SQRT(var) + eps;
        if (buf) {
            buf[i] = mom * buf[i] + d / avg;
            p[i] -= lr * buf[i];
        } else {
            p[i] -= lr * d / avg;
        }
    }
}

/* state: [square_avg, acc_delta] */
static void FM_P(adadelta)(const fm_optimizer *o, ptrdiff_t n, FM_T *restrict p,
                           const FM_T *restrict g, FM_T *const *state, int threads)
{
    const FM_T lr = (FM_T)o->lr, wd = (FM_T)o->weight_decay, eps = (FM_T)o->eps;
    const FM_T rho = (FM_T)o->rho, rest = (FM_T)(1 - o->rho);
    FM_T *restrict sq = state[0], *restrict acc = state[1];
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (ptrdiff_t i = 0; i < n; ++i) {
        const FM_T d = FM_P(decayed)(g[i], p[i], wd);
        sq[i] = rho * sq[i] + rest * d * d;
        const FM_T delta = FM_SQRT(acc[i] + eps) / FM_SQRT(sq[i] + eps) * d;
        acc[i] = rho * acc[i] + rest * delta * delta;
        p[i] -= lr * delta;
    }
}

/* Adam, and AdamW when `decoupled`: p shrinks by 1 - lr*wd before the update
 * instead of wd*p joining the gradient.
 * state: [exp_avg, exp_avg_sq, max_exp_avg_sq when amsgrad] */
static void FM_P(adam)(const fm_optimizer *o, int decoupled, long step, ptrdiff_t n,
                       FM_T *restrict p, const FM_T *restrict g, FM_T *const *state,
                       int threads)
{
    const double bc1 = 1 - pow(o->beta1, (double)step), bc2 = 1 - pow(o->beta2, (double)step);
    const FM_T step_size = (FM_T)(o->lr / bc1), bc2_sqrt = (FM_T)sqrt(bc2);
    const FM_T b1 = (FM_T)o->beta1, rest1 = (FM_T)(1 - o->beta1);
    const FM_T b2 = (FM_T)o->beta2, rest2 = (FM_T)(1 - o->beta2), eps = (FM_T)o->eps;
    const FM_T wd = decoupled ? 0 : (FM_T)o->weight_decay;
    const FM_T shrink = decoupled ? (FM_T)(1 - o->lr * o->weight_decay) : 1;
    FM_T *restrict m = state[0], *restrict v = state[1];
    FM_T *restrict vmax = o->amsgrad ? state[2] : NULL;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (ptrdiff_t i = 0; i < n; ++i) {
        const FM_T pi = shrink != 1 ? shrink * p[i] : p[i];
        const FM_T d = FM_P(decayed)(g[i], pi, wd);
        m[i] = b1 * m[i] + rest1 * d;
        v[i] = b2 * v[i] + rest2 * d * d;
        FM_T vhat = v[i];
        if (vmax) /* a NaN in v propagates, as with torch.maximum */
            vhat = vmax[i] = vmax[i] >= v[i] ? vmax[i] : v[i];
        p[i] = pi - step_size * m[i] / (FM_SQRT(vhat) / bc2_sqrt + eps);
    }
}

void FM_STEP(const fm_optimizer *opt, long step, ptrdiff_t n, FM_T *p, const FM_T *g,
             FM_T *const *state)
{
    const int threads = threads_for(n);
    switch (opt->kind) {
    case FM_OPT_SGD:
        FM_P(sgd)(opt, step, n, p, g, state, threads);
        break;
    case FM_OPT_ADAGRAD:
        FM_P(adagrad)(opt, step, n, p, g, state, threads);
        break;
    case FM_OPT_RMSPROP:
        FM_P(rmsprop)(opt, n, p, g, state, threads);
        break;
    case FM_OPT_ADADELTA:
        FM_P(adadelta)(opt, n, p, g, state, threads);
        break;
    case FM_OPT_ADAM:
    case FM_OPT_ADAMW:
        FM_P(adam)(opt, opt->kind == FM_OPT_ADAMW, step, n, p, g, state, threads);
        break;
    default: /* not an optimizer: nothing to do */
        break;
    }
}
