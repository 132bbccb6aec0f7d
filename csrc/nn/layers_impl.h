/* Layer kernels for one data type: bias + activation forward, activation
 * backward, softmax, maxout, dropout, column sums and weight regularisers.
 * Included by net.c with FM_T, FM_P(x) and FM_T_IS_DOUBLE defined.
 *
 * Every loop here is element-wise or row-wise, and every reduction runs in a
 * fixed order inside one thread, so results do not depend on the thread
 * count. */
#include "nn/nn_math.h"

/* A parallel loop over `count` elements; below 32768 elements it stays on
 * the calling thread, where waking others would cost more. (The count goes
 * through a local: a _Pragma string cannot take a macro argument.) */
#define FM_PARALLEL_FOR(count)                                                       \
    const ptrdiff_t fm_par_count = (count);                                          \
    (void)fm_par_count;                                                              \
    _Pragma("omp parallel for schedule(static) num_threads(fm_get_num_threads()) if (fm_par_count >= 32768)")

/* z += b (row broadcast), a = act(z), over rows x cols; and
 * dz = g * act'(z, a) over count elements: one pair per line of activations.def. */
#define FM_ACT(id, name, f, df)                                                        \
    static void FM_P(forward_##id)(ptrdiff_t rows, ptrdiff_t cols, const FM_T *b, FM_T *z, \
                                   FM_T *a, FM_T p)                                    \
    {                                                                                  \
        (void)p;                                                                       \
        FM_PARALLEL_FOR(rows * cols)                                                   \
        for (ptrdiff_t i = 0; i < rows; ++i)                                           \
            for (ptrdiff_t j = 0; j < cols; ++j) {                                     \
                const FM_T x = z[i * cols + j] + b[j];                                 \
                z[i * cols + j] = x;                                                   \
                a[i * cols + j] = (f);                                                 \
            }                                                                          \
    }                                                                                  \
    static void FM_P(backward_##id)(ptrdiff_t count, const FM_T *z, const FM_T *a,     \
                                    const FM_T *g, FM_T *dz, FM_T p)                   \
    {                                                                                  \
        (void)p;                                                                       \
        FM_PARALLEL_FOR(count)                                                         \
        for (ptrdiff_t e = 0; e < count; ++e) {                                        \
            const FM_T x = z[e], y = a[e];                                             \
            (void)x, (void)y;                                                          \
            dz[e] = g[e] * (df);                                                       \
        }                                                                              \
    }
#include "nn/activations.def"
#undef FM_ACT

typedef void (*FM_P(forward_fn))(ptrdiff_t, ptrdiff_t, const FM_T *, FM_T *, FM_T *, FM_T);
typedef void (*FM_P(backward_fn))(ptrdiff_t, const FM_T *, const FM_T *, const FM_T *, FM_T *,
                                  FM_T);

static const FM_P(forward_fn) FM_P(forward_table)[FM_ACT_SOFTMAX] = {
#define FM_ACT(id, name, f, df) [FM_ACT_##id] = FM_P(forward_##id),
#include "nn/activations.def"
#undef FM_ACT
};
static const FM_P(backward_fn) FM_P(backward_table)[FM_ACT_SOFTMAX] = {
#define FM_ACT(id, name, f, df) [FM_ACT_##id] = FM_P(backward_##id),
#include "nn/activations.def"
#undef FM_ACT
};

/* z += b, a = softmax(z) row by row (shifted by the row maximum: no overflow). */
static void FM_P(forward_softmax)(ptrdiff_t rows, ptrdiff_t cols, const FM_T *b, FM_T *z,
                                  FM_T *a)
{
    FM_PARALLEL_FOR(rows * cols)
    for (ptrdiff_t i = 0; i < rows; ++i) {
        FM_T *zi = z + i * cols, *ai = a + i * cols, top = -FM_T_MAX, sum = 0;
        for (ptrdiff_t j = 0; j < cols; ++j) {
            zi[j] += b[j];
            top = zi[j] > top ? zi[j] : top;
        }
        for (ptrdiff_t j = 0; j < cols; ++j)
            sum += ai[j] = EXP(zi[j] - top);
        for (ptrdiff_t j = 0; j < cols; ++j)
            ai[j] /= sum;
    }
}

/* dz = J_softmax^T g, row by row: dz_j = a_j (g_j - sum_k g_k a_k). */
static void FM_P(backward_softmax)(ptrdiff_t rows, ptrdiff_t cols, const FM_T *a,
                                   const FM_T *g, FM_T *dz)
{
    FM_PARALLEL_FOR(rows * cols)
    for (ptrdiff_t i = 0; i < rows; ++i) {
        const FM_T *ai = a + i * cols, *gi = g + i * cols;
        FM_T dot = 0;
        for (ptrdiff_t j = 0; j < cols; ++j)
            dot += gi[j] * ai[j];
        for (ptrdiff_t j = 0; j < cols; ++j)
            dz[i * cols + j] = ai[j] * (gi[j] - dot);
    }
}

/* Maxout: z += b; a_j = max of z over the pieces of unit j (the first
 * maximum wins a tie). */
static void FM_P(forward_maxout)(ptrdiff_t rows, ptrdiff_t units, int pieces, const FM_T *b,
                                 FM_T *z, FM_T *a)
{
    const ptrdiff_t zc = units * pieces;
    FM_PARALLEL_FOR(rows * zc)
    for (ptrdiff_t i = 0; i < rows; ++i)
        for (ptrdiff_t j = 0; j < units; ++j) {
            FM_T *zj = z + i * zc + j * pieces, best = zj[0] += b[j * pieces];
            for (int q = 1; q < pieces; ++q) {
                zj[q] += b[j * pieces + q];
                best = zj[q] > best ? zj[q] : best;
            }
            a[i * units + j] = best;
        }
}

/* Maxout backward: the gradient of unit j goes to the piece that won. */
static void FM_P(backward_maxout)(ptrdiff_t rows, ptrdiff_t units, int pieces, const FM_T *z,
                                  const FM_T *g, FM_T *dz)
{
    const ptrdiff_t zc = units * pieces;
    FM_PARALLEL_FOR(rows * zc)
    for (ptrdiff_t i = 0; i < rows; ++i)
        for (ptrdiff_t j = 0; j < units; ++j) {
            const FM_T *zj = z + i * zc + j * pieces;
            int win = 0;
            for (int q = 1; q < pieces; ++q)
                win = zj[q] > zj[win] ? q : win;
            for (int q = 0; q < pieces; ++q)
                dz[i * zc + j * pieces + q] = q == win ? g[i * units + j] : 0;
        }
}

/* Inverted dropout: mask = (u >= rate) / (1 - rate), u keyed by the element's
 * place in the batch, so every thread count draws the same mask. */
static void FM_P(dropout_mask)(ptrdiff_t count, double rate, uint64_t seed, uint64_t stream,
                               FM_T *mask)
{
    const FM_T keep = (FM_T)(1 / (1 - rate));
    FM_PARALLEL_FOR(count)
    for (ptrdiff_t e = 0; e < count; ++e)
        mask[e] = fm_rand_uniform(seed, stream, (uint64_t)e) >= rate ? keep : 0;
}

static void FM_P(multiply)(ptrdiff_t count, const FM_T *x, const FM_T *y, FM_T *out)
{
    FM_PARALLEL_FOR(count)
    for (ptrdiff_t e = 0; e < count; ++e)
        out[e] = x[e] * y[e];
}

/* db_j = sum over rows of dz_ij, each column summed top to bottom. */
static void FM_P(column_sums)(ptrdiff_t rows, ptrdiff_t cols, const FM_T *dz, FM_T *db)
{
    for (ptrdiff_t j = 0; j < cols; ++j)
        db[j] = 0;
    for (ptrdiff_t i = 0; i < rows; ++i)
        for (ptrdiff_t j = 0; j < cols; ++j)
            db[j] += dz[i * cols + j];
}

/* The L1/L2 penalty l1 sum|W| + l2 sum W^2 (Keras's regularisers), and its
 * gradient added to dW. */
static double FM_P(add_weight_penalty)(ptrdiff_t count, double l1, double l2, const FM_T *w,
                                       FM_T *dw)
{
    double penalty = 0;
    for (ptrdiff_t e = 0; e < count; ++e) {
        const FM_T v = w[e];
        penalty += l1 * FABS(v) + l2 * (double)v * v;
        dw[e] += (FM_T)(l1 * ((v > 0) - (v < 0)) + 2 * l2 * v);
    }
    return penalty;
}

/* Max-norm: scale each unit's incoming weights (a column of W, in x cols)
 * down to norm max_norm when it is longer. */
static void FM_P(apply_max_norm)(ptrdiff_t in, ptrdiff_t cols, double max_norm, FM_T *w)
{
    for (ptrdiff_t j = 0; j < cols; ++j) {
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

/* 1 when every element is finite. */
static int FM_P(all_finite)(ptrdiff_t count, const FM_T *x)
{
    FM_T acc = 0;
    for (ptrdiff_t e = 0; e < count; ++e)
        acc += x[e] * 0; /* NaN or inf anywhere makes acc NaN */
    return acc == 0;
}

#undef FM_PARALLEL_FOR
