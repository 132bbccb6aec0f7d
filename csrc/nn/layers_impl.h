/* Layer kernels for one data type: bias + activation forward, activation
 * backward, softmax, maxout, dropout, column sums and weight regularisers.
 * Included by engine_impl.h with FM_T, FM_P(x) and FM_T_IS_DOUBLE defined.
 *
 * Every loop here is element-wise or row-wise, and every reduction runs in a
 * fixed order inside one thread, so results do not depend on the thread
 * count. */
#include "threads.h"
#include "nn/nn_math.h"

/* The element-wise and row-wise kernels take their operands in one struct
 * and work on rows [lo, hi); over_rows runs one on rows [r->lo, r->hi), on
 * several threads when there are enough rows to pay for them. */
typedef struct FM_P(rows_args) FM_P(rows_args);
struct FM_P(rows_args) {
    void (*fn)(const FM_P(rows_args) *r, ptrdiff_t lo, ptrdiff_t hi);
    ptrdiff_t lo, hi, cols;
    const FM_T *b, *g, *in;
    FM_T *z, *a, *dz, *out;
    FM_T *mask;         /* dropout's: written by dropout, read by multiply */
    FM_T p;             /* activation parameter */
    int pieces;         /* maxout */
    double rate;        /* dropout */
    uint64_t seed, stream;
};

/* Elements per thread below which another thread costs more than it saves. */
#define FM_ELEMS_PER_THREAD 32768.0

static void FM_P(rows_run)(const void *args)
{
    const FM_P(rows_args) *r = args;
    ptrdiff_t lo, hi;
    fm_share(r->hi - r->lo, &lo, &hi);
    r->fn(r, r->lo + lo, r->lo + hi);
}

static void FM_P(over_rows)(const FM_P(rows_args) *r)
{
    fm_parallel(FM_P(rows_run), r,
                fm_threads_for((double)(r->hi - r->lo) * r->cols, FM_ELEMS_PER_THREAD));
}

/* z += b (row broadcast), a = act(z); and dz = g * act'(z, a): one pair per
 * line of activations.def. */
#define FM_ACT(id, name, f, df)                                                        \
    static void FM_P(forward_##id)(const FM_P(rows_args) *r, ptrdiff_t lo, ptrdiff_t hi) \
    {                                                                                  \
        const ptrdiff_t cols = r->cols;                                                \
        const FM_T *restrict b = r->b, p = r->p;                                       \
        FM_T *restrict z = r->z, *restrict a = r->a;                                   \
        (void)p;                                                                       \
        for (ptrdiff_t i = lo; i < hi; ++i)                                            \
            for (ptrdiff_t j = 0; j < cols; ++j) {                                     \
                const FM_T x = z[i * cols + j] + b[j];                                 \
                z[i * cols + j] = x;                                                   \
                a[i * cols + j] = (f);                                                 \
            }                                                                          \
    }                                                                                  \
    static void FM_P(backward_##id)(const FM_P(rows_args) *r, ptrdiff_t lo, ptrdiff_t hi) \
    {                                                                                  \
        const FM_T *restrict z = r->z, *restrict a = r->a, *restrict g = r->g, p = r->p; \
        FM_T *restrict dz = r->dz;                                                     \
        (void)p;                                                                       \
        for (ptrdiff_t e = lo * r->cols; e < hi * r->cols; ++e) {                      \
            const FM_T x = z[e], y = a[e];                                             \
            (void)x, (void)y;                                                          \
            dz[e] = g[e] * (df);                                                       \
        }                                                                              \
    }
#include "nn/activations.def"
#undef FM_ACT

typedef void (*FM_P(rows_fn))(const FM_P(rows_args) *, ptrdiff_t, ptrdiff_t);

static const FM_P(rows_fn) FM_P(forward_table)[FM_ACT_SOFTMAX] = {
#define FM_ACT(id, name, f, df) [FM_ACT_##id] = FM_P(forward_##id),
#include "nn/activations.def"
#undef FM_ACT
};
static const FM_P(rows_fn) FM_P(backward_table)[FM_ACT_SOFTMAX] = {
#define FM_ACT(id, name, f, df) [FM_ACT_##id] = FM_P(backward_##id),
#include "nn/activations.def"
#undef FM_ACT
};

/* z += b, a = softmax(z) row by row (shifted by the row maximum: no overflow).
 * Usually the output layer; a hidden softmax is computed (and differentiated)
 * all the same. */
static void FM_P(forward_softmax)(const FM_P(rows_args) *r, ptrdiff_t lo, ptrdiff_t hi)
{
    const ptrdiff_t cols = r->cols;
    for (ptrdiff_t i = lo; i < hi; ++i) {
        FM_T *zi = r->z + i * cols, *ai = r->a + i * cols, top = -FM_T_MAX, sum = 0;
        for (ptrdiff_t j = 0; j < cols; ++j) {
            zi[j] += r->b[j];
            top = zi[j] > top ? zi[j] : top;
        }
        for (ptrdiff_t j = 0; j < cols; ++j)
            sum += ai[j] = EXP(zi[j] - top);
        for (ptrdiff_t j = 0; j < cols; ++j)
            ai[j] /= sum;
    }
}

/* dz = J_softmax^T g, row by row: dz_j = a_j (g_j - sum_k g_k a_k). */
static void FM_P(backward_softmax)(const FM_P(rows_args) *r, ptrdiff_t lo, ptrdiff_t hi)
{
    const ptrdiff_t cols = r->cols;
    for (ptrdiff_t i = lo; i < hi; ++i) {
        const FM_T *ai = r->a + i * cols, *gi = r->g + i * cols;
        FM_T dot = 0;
        for (ptrdiff_t j = 0; j < cols; ++j)
            dot += gi[j] * ai[j];
        for (ptrdiff_t j = 0; j < cols; ++j)
            r->dz[i * cols + j] = ai[j] * (gi[j] - dot);
    }
}

/* Maxout, cols = units: z += b; a_j = max of z over the pieces of unit j
 * (the first maximum wins a tie; a NaN piece wins, as in torch.max). */
static void FM_P(forward_maxout)(const FM_P(rows_args) *r, ptrdiff_t lo, ptrdiff_t hi)
{
    const int pieces = r->pieces;
    const ptrdiff_t units = r->cols, zc = units * pieces;
    for (ptrdiff_t i = lo; i < hi; ++i)
        for (ptrdiff_t j = 0; j < units; ++j) {
            FM_T *zj = r->z + i * zc + j * pieces, best = zj[0] += r->b[j * pieces];
            for (int q = 1; q < pieces; ++q) {
                zj[q] += r->b[j * pieces + q];
                best = zj[q] > best || zj[q] != zj[q] ? zj[q] : best;
            }
            r->a[i * units + j] = best;
        }
}

/* Maxout backward: the gradient of unit j goes to the piece that won. */
static void FM_P(backward_maxout)(const FM_P(rows_args) *r, ptrdiff_t lo, ptrdiff_t hi)
{
    const int pieces = r->pieces;
    const ptrdiff_t units = r->cols, zc = units * pieces;
    for (ptrdiff_t i = lo; i < hi; ++i)
        for (ptrdiff_t j = 0; j < units; ++j) {
            const FM_T *zj = r->z + i * zc + j * pieces;
            int win = 0;
            for (int q = 1; q < pieces; ++q)
                win = zj[q] > zj[win] ? q : win;
            for (int q = 0; q < pieces; ++q)
                r->dz[i * zc + j * pieces + q] = q == win ? r->g[i * units + j] : 0;
        }
}

/* Inverted dropout: mask = (u >= rate) / (1 - rate), out = in * mask, u keyed
 * by the element's place in the batch, so every thread count draws the same
 * mask. */
static void FM_P(dropout)(const FM_P(rows_args) *r, ptrdiff_t lo, ptrdiff_t hi)
{
    const FM_T keep = (FM_T)(1 / (1 - r->rate));
    for (ptrdiff_t e = lo * r->cols; e < hi * r->cols; ++e) {
        r->mask[e] = fm_rand_uniform(r->seed, r->stream, (uint64_t)e) >= r->rate ? keep : 0;
        r->out[e] = r->in[e] * r->mask[e];
    }
}

/* out = in * mask, element by element. */
static void FM_P(multiply)(const FM_P(rows_args) *r, ptrdiff_t lo, ptrdiff_t hi)
{
    const FM_T *restrict in = r->in, *restrict mask = r->mask;
    FM_T *restrict out = r->out;
    for (ptrdiff_t e = lo * r->cols; e < hi * r->cols; ++e)
        out[e] = in[e] * mask[e];
}

/* db_j = sum over rows of dz_ij for columns j in [lo, hi) of `cols`, each
 * column summed top to bottom. */
static void FM_P(column_sums)(ptrdiff_t rows, ptrdiff_t cols, ptrdiff_t lo, ptrdiff_t hi,
                              const FM_T *dz, FM_T *db)
{
    for (ptrdiff_t j = lo; j < hi; ++j)
        db[j] = 0;
    for (ptrdiff_t i = 0; i < rows; ++i)
        for (ptrdiff_t j = lo; j < hi; ++j)
            db[j] += dz[i * cols + j];
}

/* The L1/L2 penalty l1 sum|W| + l2 sum W^2 (Keras's regularisers). */
static double FM_P(weight_penalty_sum)(ptrdiff_t count, double l1, double l2, const FM_T *w)
{
    double penalty = 0;
    for (ptrdiff_t e = 0; e < count; ++e)
        penalty += l1 * FABS(w[e]) + l2 * (double)w[e] * w[e];
    return penalty;
}

/* The penalty's gradient, added to dW. */
static void FM_P(add_penalty_gradient)(ptrdiff_t count, double l1, double l2, const FM_T *w,
                                       FM_T *dw)
{
    for (ptrdiff_t e = 0; e < count; ++e)
        dw[e] += (FM_T)(l1 * ((w[e] > 0) - (w[e] < 0)) + 2 * l2 * w[e]);
}

/* Max-norm: scale each unit's incoming weights (a column of W, in x cols)
 * down to norm max_norm when it is longer; columns [lo, hi). */
static void FM_P(apply_max_norm)(ptrdiff_t in, ptrdiff_t cols, ptrdiff_t lo, ptrdiff_t hi,
                                 double max_norm, FM_T *w)
{
    for (ptrdiff_t j = lo; j < hi; ++j) {
        double sq = 0;
        for (ptrdiff_t i = 0; i < in; ++i)
            sq += (double)w[i * cols + j] * w[i * cols + j];
        const double norm = sqrt(sq);
        if (norm > max_norm) {
            const FM_T scale = (FM_T)(max_norm / norm);
            for (ptrdiff_t i = 0; i < in; ++i)
                w[i * cols + j] *= scale;
        }
    }
}

#undef FM_ELEMS_PER_THREAD
