/* Forward, backward and the training loop for one data type. Included by
 * engine_impl.h with FM_T, FM_P(x), FM_GEMM, FM_GEMM_ROW_THREADS,
 * FM_GEMM_ROW_PART, FM_GEMM_ROW_RANGE, FM_OPT_STEP, FM_ALL_FINITE and
 * FM_T_IS_DOUBLE defined, after layers_impl.h and losses_impl.h. */

/* The bias + activation kernel of a Dense or Maxout layer. */
static FM_P(rows_fn) FM_P(activation_fn)(const fm_layer *L)
{
    return L->kind == FM_LAYER_MAXOUT  ? FM_P(forward_maxout)
           : L->act == FM_ACT_SOFTMAX ? FM_P(forward_softmax)
                                      : FM_P(forward_table)[L->act];
}

/* Rows [lo, hi) of a batch through the layers; x and the returned output
 * are the batch's first rows. */
static const FM_T *FM_P(forward)(const fm_net *net, fm_trainer *t, const FM_T *x,
                                 ptrdiff_t lo, ptrdiff_t hi, fm_forward_mode mode, long key,
                                 ptrdiff_t batch)
{
    const FM_T *in = x;
    for (int l = 0; l < net->n_layers; ++l) {
        const fm_layer *L = &net->layers[l];
        FM_T *z = t->z[l], *a = t->a[l];
        const ptrdiff_t zc = L->out * L->pieces;
        switch (L->kind) {
        case FM_LAYER_DENSE:
        case FM_LAYER_MAXOUT:
            FM_GEMM(hi - lo, zc, L->in, 1, in + lo * L->in, L->in, 1, (const FM_T *)L->w, zc, 1,
                    0, z + lo * zc, zc, 1);
            FM_P(over_rows)(&(FM_P(rows_args)){
                .fn = FM_P(activation_fn)(L), .lo = lo, .hi = hi, .cols = L->out, .b = L->b,
                .z = z, .a = a, .p = (FM_T)L->act_param, .pieces = L->pieces});
            in = a;
            break;
        case FM_LAYER_DROPOUT:
            if (mode == FM_INFER)
                break; /* identity: the next layer reads this layer's input */
            FM_P(over_rows)(&(FM_P(rows_args)){
                .fn = FM_P(dropout), .lo = lo, .hi = hi, .cols = L->out, .in = in, .out = a,
                .mask = t->mask[l], .rate = mode == FM_TRAIN ? L->rate : 0, .seed = net->seed,
                .stream = fm_stream_dropout((uint64_t)key, (uint64_t)batch, (uint64_t)l)});
            in = a;
            break;
        }
    }
    return in;
}

/* Each layer's gradients g (with respect to its output) and dz (its
 * pre-activation) on rows [lo, hi), from the last layer's g, or, for a
 * fused loss, its dz. Needs the training forward pass of the rows. */
static void FM_P(backprop)(const fm_net *net, fm_trainer *t, ptrdiff_t lo, ptrdiff_t hi,
                           int fused)
{
    for (int l = net->n_layers - 1; l >= 0; --l) {
        const fm_layer *L = &net->layers[l];
        const ptrdiff_t zc = L->out * L->pieces;
        FM_T *dz = t->dz[l];
        if (L->kind != FM_LAYER_DROPOUT && (!fused || l != net->n_layers - 1))
            FM_P(over_rows)(&(FM_P(rows_args)){
                .fn = L->kind == FM_LAYER_MAXOUT ? FM_P(backward_maxout)
                      : L->act == FM_ACT_SOFTMAX ? FM_P(backward_softmax)
                                                 : FM_P(backward_table)[L->act],
                .lo = lo, .hi = hi, .cols = L->out, .z = t->z[l], .a = t->a[l], .g = t->g[l],
                .dz = dz, .p = (FM_T)L->act_param, .pieces = L->pieces});
        if (l == 0)
            break;
        /* the gradient with respect to the layer's input */
        if (L->kind == FM_LAYER_DROPOUT)
            FM_P(over_rows)(&(FM_P(rows_args)){.fn = FM_P(multiply), .lo = lo, .hi = hi,
                                              .cols = L->out, .in = t->g[l],
                                              .mask = t->mask[l], .out = t->g[l - 1]});
        else /* dz W^T */
            FM_GEMM(hi - lo, L->in, zc, 1, dz + lo * zc, zc, 1, (const FM_T *)L->w, 1, zc, 0,
                    (FM_T *)t->g[l - 1] + lo * L->in, L->in, 1);
    }
}

/* The losses of rows [lo, hi) of a batch of `rows`, whose outputs (from
 * row 0) are `out`, into t->row_loss, and the gradient with respect to the
 * last layer's output (or, fused, its pre-activation) into its g (or dz).
 * Returns the rows counted correct. */
static double FM_P(rows_loss)(const fm_net *net, fm_trainer *t, ptrdiff_t rows, ptrdiff_t lo,
                              ptrdiff_t hi, const FM_T *out)
{
    const int last = net->n_layers - 1, fused = FM_P(loss_is_fused)(net->loss);
    const ptrdiff_t cols = net->layers[last].out;
    const FM_T *targets = (const FM_T *)t->t + lo * cols;
    FM_P(loss_rows)(net->loss, net->huber_delta, hi - lo, rows, cols, out + lo * cols,
                    (const FM_T *)t->z[last] + lo * cols, targets,
                    t->has_weights ? (const FM_T *)t->w + lo : NULL, t->row_loss + lo,
                    (FM_T *)(fused ? t->dz[last] : t->g[last]) + lo * cols);
    return net->accuracy == FM_ACCURACY_NONE
               ? 0
               : FM_P(count_correct)(net->accuracy, hi - lo, cols, out + lo * cols, targets);
}

/* The rows [lo, hi) of a batch of `rows` gathered in t: the forward pass,
 * their losses, every layer's dz on them. Returns the rows counted correct. */
static double FM_P(rows_gradients)(const fm_net *net, fm_trainer *t, ptrdiff_t rows,
                                   ptrdiff_t lo, ptrdiff_t hi, fm_forward_mode mode, long key,
                                   ptrdiff_t batch)
{
    const FM_T *out = FM_P(forward)(net, t, t->x, lo, hi, mode, key, batch);
    const double correct = FM_P(rows_loss)(net, t, rows, lo, hi, out);
    FM_P(backprop)(net, t, lo, hi, FM_P(loss_is_fused)(net->loss));
    return correct;
}

/* Part `part` of `parts` of a layer's parameters: rows [r0, r1) of W (cut
 * where a GEMM of dW's rows alone gives the bits of the whole dW = in^T dz,
 * `share` as in fm_sgemm_row_range) and entries [c0, c1) of b, which are
 * also the columns of W it constrains. */
static param_part FM_P(part_of)(const fm_layer *L, int part, int parts, const double *share)
{
    const ptrdiff_t zc = L->out * L->pieces;
    param_part p = {0, 0, zc * part / parts, zc * (part + 1) / parts};
    FM_GEMM_ROW_RANGE(L->in, part, parts, share, &p.r0, &p.r1);
    return p;
}

/* Part `part` of `parts` of every parameter gradient (with the weight
 * penalties) from the dz of the `rows` rows of the batch x; parts split
 * between threads need every row's dz. Returns 1 when the part is finite. */
static int FM_P(param_gradients)(const fm_net *net, fm_trainer *t, const FM_T *x,
                                 ptrdiff_t rows, int part, int parts, const double *share)
{
    int finite = 1;
    for (int l = 0; l < net->n_layers; ++l) {
        const fm_layer *L = &net->layers[l];
        if (L->kind == FM_LAYER_DROPOUT)
            continue;
        const FM_T *in = l ? t->a[l - 1] : x, *dz = t->dz[l];
        FM_T *dw = L->dw, *db = L->db;
        const ptrdiff_t zc = L->out * L->pieces;
        const param_part p = FM_P(part_of)(L, part, parts, share);
        /* dW = in^T dz, db = column sums of dz */
        FM_GEMM(p.r1 - p.r0, zc, rows, 1, in + p.r0, 1, L->in, dz, zc, 1, 0, dw + p.r0 * zc, zc,
                1);
        FM_P(column_sums)(rows, zc, p.c0, p.c1, dz, db);
        if (L->l1 != 0 || L->l2 != 0)
            FM_P(add_penalty_gradient)((p.r1 - p.r0) * zc, L->l1, L->l2,
                                       (const FM_T *)L->w + p.r0 * zc, dw + p.r0 * zc);
        finite = finite && FM_ALL_FINITE(dw + p.r0 * zc, (p.r1 - p.r0) * zc) &&
                 FM_ALL_FINITE(db + p.c0, p.c1 - p.c0);
    }
    return finite;
}

/* Sum over layers of l1 sum|W| + l2 sum W^2. */
static double FM_P(weight_penalty)(const fm_net *net)
{
    double penalty = 0;
    for (int l = 0; l < net->n_layers; ++l) {
        const fm_layer *L = &net->layers[l];
        if (L->kind != FM_LAYER_DROPOUT && (L->l1 != 0 || L->l2 != 0))
            penalty += FM_P(weight_penalty_sum)(L->in * L->out * L->pieces, L->l1, L->l2,
                                                (const FM_T *)L->w);
    }
    return penalty;
}

/* The loss of a batch of `rows` whose row losses are in t: their sum, with
 * the weight penalty counted once per row. */
static double FM_P(batch_loss)(const fm_net *net, const fm_trainer *t, ptrdiff_t rows)
{
    double loss = 0;
    for (ptrdiff_t i = 0; i < rows; ++i)
        loss += t->row_loss[i];
    return loss + FM_P(weight_penalty)(net) * rows;
}

/* One optimizer step, number `step`, on part `part` of `parts` of every
 * parameter. Returns 1 when the part's new values are finite. */
static int FM_P(update)(fm_net *net, long step, int part, int parts, const double *share)
{
    int finite = 1;
    for (int l = 0; l < net->n_layers; ++l) {
        const fm_layer *L = &net->layers[l];
        if (L->kind == FM_LAYER_DROPOUT)
            continue;
        const ptrdiff_t zc = L->out * L->pieces;
        const param_part p = FM_P(part_of)(L, part, parts, share);
        FM_T *w_state[3], *b_state[3];
        for (int s = 0; s < 3; ++s) {
            w_state[s] = L->w_state[s] ? (FM_T *)L->w_state[s] + p.r0 * zc : NULL;
            b_state[s] = L->b_state[s] ? (FM_T *)L->b_state[s] + p.c0 : NULL;
        }
        FM_T *w = (FM_T *)L->w + p.r0 * zc, *b = (FM_T *)L->b + p.c0;
        FM_OPT_STEP(&net->opt, step, (p.r1 - p.r0) * zc, w, (const FM_T *)L->dw + p.r0 * zc,
                    w_state);
        FM_OPT_STEP(&net->opt, step, p.c1 - p.c0, b, (const FM_T *)L->db + p.c0, b_state);
        /* max-norm keeps finite weights finite: checking before it is enough */
        finite = finite && FM_ALL_FINITE(w, (p.r1 - p.r0) * zc) && FM_ALL_FINITE(b, p.c1 - p.c0);
    }
    return finite;
}

static int FM_P(has_max_norm)(const fm_net *net)
{
    for (int l = 0; l < net->n_layers; ++l)
        if (net->layers[l].kind != FM_LAYER_DROPOUT && net->layers[l].max_norm > 0)
            return 1;
    return 0;
}

/* The max-norm constraints on part `part` of `parts` of the weight columns;
 * needs every row of W updated. */
static void FM_P(constrain)(fm_net *net, int part, int parts)
{
    for (int l = 0; l < net->n_layers; ++l) {
        const fm_layer *L = &net->layers[l];
        if (L->kind != FM_LAYER_DROPOUT && L->max_norm > 0) {
            const param_part p = FM_P(part_of)(L, part, parts, NULL);
            FM_P(apply_max_norm)(L->in, L->out * L->pieces, p.c0, p.c1, L->max_norm,
                                 (FM_T *)L->w);
        }
    }
}

/* Copies rows order[start + lo .. start + hi) of x, targets and weights
 * into rows lo..hi of t's batch buffers (order NULL: rows in sequence). */
static void FM_P(gather)(fm_trainer *t, const fm_net *net, const FM_T *x, const FM_T *targets,
                         const FM_T *weights, const ptrdiff_t *order, ptrdiff_t start,
                         ptrdiff_t lo, ptrdiff_t hi)
{
    const ptrdiff_t in = net->layers[0].in, out = net->layers[net->n_layers - 1].out;
    FM_T *xb = t->x, *tb = t->t, *wb = t->w;
    for (ptrdiff_t r = lo; r < hi; ++r) {
        const ptrdiff_t src = order ? order[start + r] : start + r;
        memcpy(xb + r * in, x + src * in, (size_t)in * sizeof(FM_T));
        if (targets)
            memcpy(tb + r * out, targets + src * out, (size_t)out * sizeof(FM_T));
        if (weights)
            wb[r] = weights[src];
    }
}

/* A training epoch as its threads share it (team_size decides how many).
 * With one (small batches, or a large layer and few rows per thread) every
 * GEMM and loop below uses all threads by itself. With a
 * team, each thread takes a part of each batch's rows through the forward
 * and backward passes, then a part of every parameter's gradient and
 * update; barriers separate the phases:
 *   rows: gather, forward, loss, backprop     (part of the rows)
 *   A     parameter gradients                  (part of each W's rows, b)
 *   B     update, if every gradient is finite  (the same parts)
 *   [max-norm: barrier, part of W's columns]
 *   C     every thread reads the outcome
 * Each shared value is written by one thread between two barriers and read
 * after the second; the parts follow the GEMM's cuts (fm_sgemm_row_range),
 * so every bit is the same for any number of threads, and however the rows
 * are shared out.
 *
 * A thread whose CPU is busy with another process falls behind the others,
 * for seconds at a time on a shared machine, and they would wait for it at
 * every barrier. So the parts are not even: each thread's share of the next
 * batch follows its speed (rows per second of its rows phase) over the
 * batches so far. */
typedef struct {
    int grad_bad, param_bad; /* this thread's part of the batch */
    double correct;
    ptrdiff_t rows; /* in its rows phase, */
    double busy;    /* which took this many seconds */
} __attribute__((aligned(64))) FM_P(part_report);

/* How much a batch's speeds move a thread's share: enough to follow a
 * change within a few batches, little enough to ride out one slow batch. */
#define SPEED_WEIGHT 0.25
/* Threads whose speeds differ by less than this share evenly: a part a few
 * rows longer can cost a row tile more than the difference. */
#define EVEN_SPEEDS 1.1

typedef struct {
    fm_net *net;
    fm_trainer *t;
    const FM_T *x, *targets, *weights;
    ptrdiff_t n, batch;
    long key;
    volatile const int *stop;
    volatile fm_epoch_stats *stats;
    FM_P(part_report) *reports; /* one per thread */
    double *shares;             /* batch b's in [(b % 2) * threads, ...) */
    double *speeds;             /* thread 0's estimate, rows per second */
    double loss;                /* the batch's, from thread 0 */
    int stop_after;             /* thread 0 saw the stop flag */
} FM_P(epoch_team);

/* Thread 0, once every thread has reported batch b: the shares of batch
 * b + 1. The other threads read them only after batch b's last barrier, and
 * the ones they replace were last read before its first. */
static void FM_P(reshare)(FM_P(epoch_team) *e, int parts, ptrdiff_t b)
{
    const double *now = e->shares + (b % 2) * parts;
    double *next = e->shares + ((b + 1) % 2) * parts, total = 0, slowest = 0, fastest = 0;
    for (int p = 0; p < parts; ++p) {
        const FM_P(part_report) *r = &e->reports[p];
        if (r->rows > 0 && r->busy > 0) {
            const double speed = (double)r->rows / r->busy, was = e->speeds[p];
            e->speeds[p] = was > 0 ? (1 - SPEED_WEIGHT) * was + SPEED_WEIGHT * speed : speed;
        }
        total += e->speeds[p];
        slowest = p == 0 || e->speeds[p] < slowest ? e->speeds[p] : slowest;
        fastest = e->speeds[p] > fastest ? e->speeds[p] : fastest;
    }
    for (int p = 0; p < parts; ++p) {
        if (!(slowest > 0)) /* a thread without a speed yet */
            next[p] = now[p];
        else
            next[p] = fastest < EVEN_SPEEDS * slowest ? 1.0 / parts : e->speeds[p] / total;
    }
}

static void FM_P(train_part)(const void *args)
{
    FM_P(epoch_team) *e = (FM_P(epoch_team) *)args;
    fm_net *net = e->net;
    fm_trainer *t = e->t;
    const int me = fm_thread_id(), parts = fm_team_size(), constrained = FM_P(has_max_norm)(net);
    FM_P(part_report) *mine = &e->reports[me];
    for (ptrdiff_t start = 0, b = 0; start < e->n; start += e->batch, ++b) {
        const ptrdiff_t rows = e->n - start < e->batch ? e->n - start : e->batch;
        const double *share = e->shares + (b % 2) * parts;
        const double began = fm_seconds();
        ptrdiff_t lo, hi;
        FM_GEMM_ROW_RANGE(rows, me, parts, share, &lo, &hi);
        FM_P(gather)(t, net, e->x, e->targets, e->weights, t->order, start, lo, hi);
        const double correct = FM_P(rows_gradients)(net, t, rows, lo, hi, FM_TRAIN, e->key, b);
        mine->rows = hi - lo;
        mine->busy = fm_seconds() - began;
        fm_barrier(); /* A */
        mine->correct = correct;
        mine->grad_bad = !FM_P(param_gradients)(net, t, t->x, rows, me, parts, share);
        if (me == 0) {
            e->loss = FM_P(batch_loss)(net, t, rows);
            e->stop_after = e->stop && *e->stop;
            FM_P(reshare)(e, parts, b);
        }
        fm_barrier(); /* B */
        int grad_bad = !isfinite(e->loss);
        for (int p = 0; p < parts; ++p)
            grad_bad |= e->reports[p].grad_bad;
        const int no_memory = __atomic_load_n(&t->out_of_memory, __ATOMIC_RELAXED);
        if (!grad_bad && !no_memory) {
            mine->param_bad = !FM_P(update)(net, net->step + 1, me, parts, share);
            if (constrained) {
                fm_barrier();
                FM_P(constrain)(net, me, parts);
            }
        }
        double batch_correct = 0;
        if (me == 0)
            for (int p = 0; p < parts; ++p)
                batch_correct += e->reports[p].correct;
        fm_barrier(); /* C */
        int param_bad = 0;
        for (int p = 0; p < parts; ++p)
            param_bad |= e->reports[p].param_bad;
        const int failed = no_memory || grad_bad || param_bad;
        if (me == 0) {
            if (no_memory) {
                e->stats->status = FM_NO_MEMORY;
            } else if (grad_bad || param_bad) {
                /* a bad gradient changed nothing: the weights are the last
                 * good; a bad update is undone by the caller */
                e->stats->status = FM_DIVERGED;
                e->stats->bad_batch = b;
            }
            if (!no_memory && !grad_bad)
                ++net->step;
            if (!failed) {
                e->stats->loss_sum += e->loss;
                e->stats->correct += batch_correct;
                e->stats->rows += rows;
                e->stats->batches += 1;
                if (e->stop_after && start + e->batch < e->n)
                    e->stats->status = FM_INTERRUPTED;
            }
        }
        if (failed || (e->stop_after && start + e->batch < e->n))
            return;
    }
}

/* Rows per thread below which a batch is not split between threads. */
#define MIN_ROWS_PER_PART 16
/* A layer with more weights than this costs each thread of a team a pass
 * over them (packing them for its GEMMs), which only LARGE_ROWS_PER_PART
 * rows per thread pay for; fewer rows leave one GEMM on all threads better. */
#define LARGE_LAYER_ELEMS 65536
#define LARGE_ROWS_PER_PART 64

/* The threads that split batches of `batch` rows between them (one: each
 * GEMM and loop uses all threads by itself). */
static int FM_P(team_size)(const fm_net *net, ptrdiff_t batch)
{
    const int threads = fm_get_num_threads();
    for (int l = 0; l < net->n_layers; ++l) {
        const fm_layer *L = &net->layers[l];
        if (L->kind != FM_LAYER_DROPOUT && L->in * L->out * L->pieces > LARGE_LAYER_ELEMS &&
            batch < LARGE_ROWS_PER_PART * threads)
            return 1;
    }
    const int most = fm_threads_for((double)batch, MIN_ROWS_PER_PART);
    int parts = 0;
    for (int p = 0; p < most; ++p) { /* the parts the batch's rows can be cut into */
        ptrdiff_t lo, hi;
        FM_GEMM_ROW_RANGE(batch, p, most, NULL, &lo, &hi);
        parts += lo < hi;
    }
    return parts;
}

static void FM_P(train_epoch)(fm_net *net, fm_trainer *t, const FM_T *x, const FM_T *targets,
                              const FM_T *weights, ptrdiff_t n, ptrdiff_t batch, long key,
                              int shuffle, volatile const int *stop,
                              volatile fm_epoch_stats *stats)
{
    ptrdiff_t *order = t->order;
    for (ptrdiff_t i = 0; i < n; ++i)
        order[i] = i;
    if (shuffle) /* Fisher-Yates, the i-th swap keyed by (seed, key, i) */
        for (ptrdiff_t i = n - 1; i > 0; --i) {
            const uint64_t r = fm_rand_bits(net->seed, fm_stream_shuffle((uint64_t)key),
                                            (uint64_t)i);
            const ptrdiff_t j = (ptrdiff_t)(r % (uint64_t)(i + 1)), tmp = order[i];
            order[i] = order[j], order[j] = tmp;
        }
    if (stop && *stop) {
        stats->status = FM_INTERRUPTED;
        return;
    }
    t->has_weights = weights != NULL;
    const int threads = FM_P(team_size)(net, n < batch ? n : batch);
    FM_P(part_report) reports[threads];
    double shares[2 * threads], speeds[threads];
    for (int p = 0; p < threads; ++p)
        shares[p] = 1.0 / threads, speeds[p] = 0;
    FM_P(epoch_team) team = {net, t, x, targets, weights, n, batch, key, stop, stats,
                             reports, shares, speeds, 0, 0};
    fm_parallel(FM_P(train_part), &team, threads);
}

/* Evaluation and batch prediction split each batch's rows between the
 * threads of a team the same way (team_size); a thread's rows pass through
 * the layers on their own. */
typedef struct {
    const fm_net *net;
    fm_trainer *t;
    const FM_T *x, *targets, *weights;
    ptrdiff_t n, batch;
    fm_epoch_stats *stats; /* evaluate */
    double *correct;       /* evaluate: per thread, the batch's count */
    FM_T *y;               /* predict */
} FM_P(inference_team);

static void FM_P(evaluate_part)(const void *args)
{
    const FM_P(inference_team) *e = args;
    const fm_net *net = e->net;
    fm_trainer *t = e->t;
    const int me = fm_thread_id(), parts = fm_team_size();
    for (ptrdiff_t start = 0; start < e->n; start += e->batch) {
        const ptrdiff_t rows = e->n - start < e->batch ? e->n - start : e->batch;
        ptrdiff_t lo, hi;
        FM_GEMM_ROW_RANGE(rows, me, parts, NULL, &lo, &hi);
        FM_P(gather)(t, net, e->x, e->targets, e->weights, NULL, start, lo, hi);
        const FM_T *out = FM_P(forward)(net, t, t->x, lo, hi, FM_INFER, 0, 0);
        e->correct[me] = FM_P(rows_loss)(net, t, rows, lo, hi, out); /* its gradient: unused */
        fm_barrier();
        if (me == 0) {
            for (ptrdiff_t i = 0; i < rows; ++i)
                e->stats->loss_sum += t->row_loss[i];
            for (int p = 0; p < parts; ++p)
                e->stats->correct += e->correct[p];
            e->stats->rows += rows;
            e->stats->batches += 1;
        }
        fm_barrier(); /* the batch buffers are refilled next */
    }
}

static void FM_P(evaluate)(const fm_net *net, fm_trainer *t, const FM_T *x, const FM_T *targets,
                           const FM_T *weights, ptrdiff_t n, ptrdiff_t batch,
                           fm_epoch_stats *stats)
{
    t->has_weights = weights != NULL;
    const int threads = FM_P(team_size)(net, n < batch ? n : batch);
    double correct[threads];
    const FM_P(inference_team) team = {net, t, x, targets, weights, n, batch, stats, correct, NULL};
    fm_parallel(FM_P(evaluate_part), &team, threads);
    /* As in training, the weight penalty counts once per row. */
    stats->loss_sum += FM_P(weight_penalty)(net) * n;
}

static void FM_P(predict_part)(const void *args)
{
    const FM_P(inference_team) *e = args;
    const int me = fm_thread_id(), parts = fm_team_size();
    const ptrdiff_t in_cols = e->net->layers[0].in;
    const ptrdiff_t out_cols = e->net->layers[e->net->n_layers - 1].out;
    for (ptrdiff_t start = 0; start < e->n; start += e->batch) {
        const ptrdiff_t rows = e->n - start < e->batch ? e->n - start : e->batch;
        if (rows < e->batch)
            fm_barrier(); /* a short last batch is cut elsewhere: others may still use its rows */
        ptrdiff_t lo, hi;
        FM_GEMM_ROW_RANGE(rows, me, parts, NULL, &lo, &hi);
        /* Rows of x are contiguous: the first layer reads them in place. */
        const FM_T *out = FM_P(forward)(e->net, e->t, e->x + start * in_cols, lo, hi, FM_INFER, 0, 0);
        memcpy(e->y + (start + lo) * out_cols, out + lo * out_cols,
               (size_t)((hi - lo) * out_cols) * sizeof(FM_T));
    }
}

/* Inference on one row with every layer in one parallel region: each
 * thread computes its columns of a layer's product (gemm_row.h) and applies
 * the element-wise activation to them; a barrier separates the layers.
 * Softmax and maxout need the whole row and run on one thread. The bits are
 * those of forward() on the row. */
typedef struct {
    const fm_net *net;
    fm_trainer *t;
    const FM_T *x;
} FM_P(row_args);

static void FM_P(infer_row)(const void *args)
{
    const FM_P(row_args) *r = args;
    const fm_net *net = r->net;
    const int tid = fm_thread_id();
    const FM_T *in = r->x;
    for (int l = 0; l < net->n_layers; ++l) {
        const fm_layer *L = &net->layers[l];
        if (L->kind == FM_LAYER_DROPOUT)
            continue;
        const ptrdiff_t zc = L->out * L->pieces;
        const int parts = FM_GEMM_ROW_THREADS(zc, L->in, fm_team_size());
        const int elementwise = L->kind == FM_LAYER_DENSE && L->act != FM_ACT_SOFTMAX;
        FM_P(rows_args) act = {.fn = FM_P(activation_fn)(L), .lo = 0, .hi = 1, .cols = L->out, .b = L->b,
                               .z = r->t->z[l], .a = r->t->a[l], .p = (FM_T)L->act_param,
                               .pieces = L->pieces};
        if (tid < parts) {
            ptrdiff_t lo = 0, hi = 0; /* left empty by a part that gets no workspace */
            if (FM_GEMM_ROW_PART(zc, L->in, in, L->w, act.z, tid, parts, &lo, &hi) != 0)
                __atomic_store_n(&r->t->out_of_memory, 1, __ATOMIC_RELAXED);
            if (elementwise && lo < hi) {
                /* on one row, a column range is a row of its own */
                act.cols = hi - lo, act.b += lo, act.z += lo, act.a += lo;
                act.fn(&act, 0, 1);
            }
        }
        fm_barrier();
        if (!elementwise) {
            if (tid == 0)
                act.fn(&act, 0, 1);
            fm_barrier();
        }
        in = r->t->a[l];
    }
}

static void FM_P(predict)(const fm_net *net, fm_trainer *t, const FM_T *x, ptrdiff_t n,
                          ptrdiff_t batch, FM_T *y)
{
    const ptrdiff_t out_cols = net->layers[net->n_layers - 1].out;
    if (n == 1) {
        /* the team: as many threads as the widest layer uses; the output:
         * the last layer with parameters (inference skips dropout) */
        const int available = fm_threads_available();
        int threads = 1;
        const FM_T *out = x;
        for (int l = 0; l < net->n_layers; ++l) {
            const fm_layer *L = &net->layers[l];
            if (L->kind == FM_LAYER_DROPOUT)
                continue;
            const int parts = FM_GEMM_ROW_THREADS(L->out * L->pieces, L->in, available);
            threads = parts > threads ? parts : threads;
            out = t->a[l];
        }
        const FM_P(row_args) r = {net, t, x};
        fm_parallel(FM_P(infer_row), &r, threads);
        memcpy(y, out, (size_t)out_cols * sizeof(FM_T));
        return;
    }
    const FM_P(inference_team) team = {net, t, x, NULL, NULL, n, batch, NULL, NULL, y};
    fm_parallel(FM_P(predict_part), &team, FM_P(team_size)(net, n < batch ? n : batch));
}

static double FM_P(loss_and_gradients)(fm_net *net, fm_trainer *t, const FM_T *x,
                                       const FM_T *targets, const FM_T *weights, ptrdiff_t n)
{
    t->has_weights = weights != NULL;
    FM_P(gather)(t, net, x, targets, weights, NULL, 0, 0, n);
    FM_P(rows_gradients)(net, t, n, 0, n, FM_TRAIN_NO_DROPOUT, 0, 0);
    FM_P(param_gradients)(net, t, t->x, n, 0, 1, NULL);
    return FM_P(batch_loss)(net, t, n) / n;
}

#undef SPEED_WEIGHT
#undef EVEN_SPEEDS
#undef MIN_ROWS_PER_PART
#undef LARGE_LAYER_ELEMS
#undef LARGE_ROWS_PER_PART
