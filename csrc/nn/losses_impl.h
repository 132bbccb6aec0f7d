/* Losses for one data type, PyTorch's definitions, reduced as a mean over
 * every element of the batch (cross-entropy: over rows, its classes summed).
 * Included by engine_impl.h with FM_T, FM_P(x) and FM_T_IS_DOUBLE defined.
 *
 * For B rows of D outputs, row i's loss L_i (weighted by w_i) is the mean of
 * its element losses (the sum over classes for cross-entropy), so the batch
 * loss is (1/B) sum_i L_i in every case, and the gradient of that is written
 * to g. Softmax + cross-entropy or KL and sigmoid + binary cross-entropy are
 * fused: g is then the gradient with respect to the pre-activation z, from
 * log-sum-exp and softplus forms that stay finite for any finite z. */
#include "nn/nn_math.h"

/* Element loss l(y, t) and dl/dy for the element-wise losses. */
static inline FM_T FM_P(element_loss)(fm_loss loss, double delta, FM_T y, FM_T t, FM_T *dl)
{
    const FM_T d = y - t;
    switch (loss) {
    case FM_LOSS_MSE:
        *dl = 2 * d;
        return d * d;
    case FM_LOSS_MAE:
        *dl = (FM_T)((d > 0) - (d < 0));
        return FABS(d);
    case FM_LOSS_HUBER:
        if (FABS(d) < delta) {
            *dl = d;
            return (FM_T)0.5 * d * d;
        }
        *dl = (FM_T)(delta * ((d > 0) - (d < 0)));
        return (FM_T)(delta * (FABS(d) - 0.5 * delta));
    case FM_LOSS_HINGE: { /* t in {-1, 1}; a NaN margin stays NaN */
        const FM_T margin = 1 - t * y;
        *dl = margin > 0 ? -t : 0;
        return margin < 0 ? 0 : margin;
    }
    default: /* FM_LOSS_BCE, on the logit y: softplus(y) - t y */
        *dl = SIGMOID_OF(y) - t;
        return (y > 0 ? y : 0) - y * t + LOG1P(EXP(-FABS(y)));
    }
}

/* Rows that count as correct: the argmax matches (softmax outputs), or
 * elements on the right side of the threshold (sigmoid outputs: 0.5; hinge
 * outputs: 0). */
static double FM_P(count_correct)(fm_accuracy kind, ptrdiff_t rows, ptrdiff_t cols,
                                  const FM_T *a, const FM_T *t)
{
    double correct = 0;
    for (ptrdiff_t i = 0; i < rows; ++i) {
        const FM_T *ai = a + i * cols, *ti = t + i * cols;
        if (kind == FM_ACCURACY_ARGMAX) {
            ptrdiff_t best_a = 0, best_t = 0;
            for (ptrdiff_t j = 1; j < cols; ++j) {
                best_a = ai[j] > ai[best_a] ? j : best_a;
                best_t = ti[j] > ti[best_t] ? j : best_t;
            }
            correct += best_a == best_t;
        } else {
            const FM_T cut = kind == FM_ACCURACY_SIGMOID ? (FM_T)0.5 : 0;
            for (ptrdiff_t j = 0; j < cols; ++j)
                correct += (ai[j] > cut) == (ti[j] > cut);
        }
    }
    return correct;
}

/* 1 when loss_rows writes the gradient with respect to the pre-activation z
 * (fused with the output's softmax or sigmoid), 0 when with respect to a. */
static int FM_P(loss_is_fused)(fm_loss loss)
{
    return loss == FM_LOSS_CROSS_ENTROPY || loss == FM_LOSS_KL || loss == FM_LOSS_BCE;
}

/* Row losses into row_loss[0..rows), and into g the gradient of the loss of
 * a batch of batch_rows rows of which these are some. a: outputs,
 * z: pre-activations, t: targets, w: row weights or NULL. */
static void FM_P(loss_rows)(fm_loss loss, double delta, ptrdiff_t rows, ptrdiff_t batch_rows,
                            ptrdiff_t cols, const FM_T *a, const FM_T *z, const FM_T *t,
                            const FM_T *w, double *row_loss, FM_T *g)
{
    const int softmax_loss = loss == FM_LOSS_CROSS_ENTROPY || loss == FM_LOSS_KL;
    /* Element losses are averaged over the row; cross-entropy sums classes. */
    const FM_T per_element = loss == FM_LOSS_CROSS_ENTROPY ? 1 : (FM_T)1 / cols;
    const FM_T *y = loss == FM_LOSS_BCE ? z : a; /* BCE works on the logit */
    for (ptrdiff_t i = 0; i < rows; ++i) {
        const FM_T wi = w ? w[i] : 1, scale = wi * per_element / batch_rows;
        const FM_T *ti = t + i * cols;
        FM_T *gi = g + i * cols;
        double li = 0;
        if (softmax_loss) {
            /* log p_j = z_j - top - log sum_k exp(z_k - top) */
            const FM_T *zi = z + i * cols, *ai = a + i * cols;
            FM_T top = -FM_T_MAX, sum = 0, mass = 0;
            for (ptrdiff_t j = 0; j < cols; ++j)
                top = zi[j] > top ? zi[j] : top;
            for (ptrdiff_t j = 0; j < cols; ++j) {
                sum += EXP(zi[j] - top);
                mass += ti[j];
            }
            const FM_T log_sum = LOG(sum);
            for (ptrdiff_t j = 0; j < cols; ++j) {
                if (ti[j] != 0) {
                    const FM_T log_p = zi[j] - top - log_sum;
                    li += ti[j] * ((loss == FM_LOSS_KL ? LOG(ti[j]) : 0) - log_p);
                }
                gi[j] = scale * (ai[j] * mass - ti[j]);
            }
        } else {
            for (ptrdiff_t j = 0; j < cols; ++j) {
                FM_T dl;
                li += FM_P(element_loss)(loss, delta, y[i * cols + j], ti[j], &dl);
                gi[j] = scale * dl;
            }
        }
        row_loss[i] = wi * per_element * li;
    }
}
