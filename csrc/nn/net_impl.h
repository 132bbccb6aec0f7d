/* Forward, backward and the training loop for one data type. Included by
 * engine_impl.h with FM_T, FM_P(x), FM_GEMM, FM_GEMM_ROW_THREADS,
 * FM_GEMM_ROW_PART, FM_OPT_STEP, FM_ALL_FINITE and FM_T_IS_DOUBLE defined,
 * after layers_impl.h and losses_impl.h. */

/* The bias + activation kernel of a Dense or Maxout layer. */
static FM_P(rows_fn) FM_P(activation_fn)(const fm_layer *L)
{
    return L->kind == FM_LAYER_MAXOUT  ? FM_P(forward_maxout)
           : L->act == FM_ACT_SOFTMAX ? FM_P(forward_softmax)
                                      : FM_P(forward_table)[L->act];
}

/* The layers on `rows` rows of x; returns the network's output. */
static const FM_T *FM_P(forward)(const fm_net *net, fm_trainer *t, const FM_T *x,
                                 ptrdiff_t rows, fm_forward_mode mode, long epoch,
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
            FM_GEMM(rows, zc, L->in, 1, in, L->in, 1, (const FM_T *)L->w, zc, 1, 0, z, zc, 1);
            FM_P(over_rows)(&(FM_P(rows_args)){
                .fn = FM_P(activation_fn)(L), .rows = rows, .cols = L->out, .b = L->b, .z = z, .a = a,
                .p = (FM_T)L->act_param, .pieces = L->pieces});
            in = a;
            break;
        case FM_LAYER_DROPOUT:
            if (mode == FM_INFER)
                break; /* identity: the next layer reads this layer's input */
            FM_P(over_rows)(&(FM_P(rows_args)){
                .fn = FM_P(dropout), .rows = rows, .cols = L->out, .in = in, .out = a,
                .dz = t->mask[l], .rate = mode == FM_TRAIN ? L->rate : 0, .seed = net->seed,
                .stream = fm_stream_dropout((uint64_t)epoch, (uint64_t)batch, (uint64_t)l)});
            in = a;
            break;
        }
    }
    return in;
}

/* Gradients of every parameter from g, the gradient with respect to the last
 * layer's output (or its pre-activation when `g_is_dz`). Needs the training
 * forward pass of the same rows. g is overwritten. */
static void FM_P(backward)(const fm_net *net, fm_trainer *t, const FM_T *x, ptrdiff_t rows,
                           FM_T *g, int g_is_dz)
{
    FM_T *g_next = g == t->g[0] ? t->g[1] : t->g[0];
    for (int l = net->n_layers - 1; l >= 0; --l) {
        const fm_layer *L = &net->layers[l];
        const FM_T *in = l ? t->a[l - 1] : x;
        const ptrdiff_t zc = L->out * L->pieces;
        if (L->kind == FM_LAYER_DROPOUT) {
            FM_P(over_rows)(&(FM_P(rows_args)){.fn = FM_P(multiply), .rows = rows,
                                              .cols = L->out, .in = g, .mask = t->mask[l],
                                              .out = g_next});
        } else {
            FM_T *dz = t->dz;
            if (g_is_dz && l == net->n_layers - 1)
                dz = g;
            else
                FM_P(over_rows)(&(FM_P(rows_args)){
                    .fn = L->kind == FM_LAYER_MAXOUT ? FM_P(backward_maxout)
                          : L->act == FM_ACT_SOFTMAX ? FM_P(backward_softmax)
                                                     : FM_P(backward_table)[L->act],
                    .rows = rows, .cols = L->out, .z = t->z[l], .a = t->a[l], .g = g, .dz = dz,
                    .p = (FM_T)L->act_param, .pieces = L->pieces});
            /* dW = in^T dz, db = column sums of dz, g_in = dz W^T */
            FM_GEMM(L->in, zc, rows, 1, in, 1, L->in, dz, zc, 1, 0, (FM_T *)L->dw, zc, 1);
            FM_P(column_sums)(rows, zc, dz, (FM_T *)L->db);
            if (l == 0)
                break;
            FM_GEMM(rows, L->in, zc, 1, dz, zc, 1, (const FM_T *)L->w, 1, zc, 0, g_next, L->in,
                    1);
        }
        FM_T *swap = g;
        g = g_next, g_next = swap;
    }
}

/* Loss of the rows in t's batch buffers after a training forward pass, and
 * the parameter gradients, with the weight penalties. Returns the batch's
 * summed row losses (penalty included once per row). */
static double FM_P(batch_gradients)(const fm_net *net, fm_trainer *t, ptrdiff_t rows,
                                    const FM_T *out, double *correct)
{
    const fm_layer *last = &net->layers[net->n_layers - 1];
    const FM_T *targets = t->t, *weights = t->has_weights ? t->w : NULL;
    const int fused = FM_P(loss_rows)(net->loss, net->huber_delta, rows, last->out, out,
                                      t->z[net->n_layers - 1], targets, weights, t->row_loss,
                                      t->g[0]);
    double loss_sum = 0;
    for (ptrdiff_t i = 0; i < rows; ++i)
        loss_sum += t->row_loss[i];
    if (correct && net->accuracy != FM_ACCURACY_NONE)
        *correct += FM_P(count_correct)(net->accuracy, rows, last->out, out, targets);
    FM_P(backward)(net, t, t->x, rows, t->g[0], fused);
    double penalty = 0;
    for (int l = 0; l < net->n_layers; ++l) {
        const fm_layer *L = &net->layers[l];
        if (L->kind != FM_LAYER_DROPOUT && (L->l1 != 0 || L->l2 != 0))
            penalty += FM_P(add_weight_penalty)(L->in * L->out * L->pieces, L->l1, L->l2,
                                                (const FM_T *)L->w, (FM_T *)L->dw);
    }
    return loss_sum + penalty * rows;
}

/* 1 when every gradient (which = 0) or every parameter (which = 1) is finite. */
static int FM_P(arrays_finite)(const fm_net *net, int which)
{
    for (int l = 0; l < net->n_layers; ++l) {
        const fm_layer *L = &net->layers[l];
        if (L->kind == FM_LAYER_DROPOUT)
            continue;
        const ptrdiff_t zc = L->out * L->pieces;
        if (!FM_ALL_FINITE((const FM_T *)(which ? L->w : L->dw), L->in * zc) ||
            !FM_ALL_FINITE((const FM_T *)(which ? L->b : L->db), zc))
            return 0;
    }
    return 1;
}

/* Sum over layers of l1 sum|W| + l2 sum W^2. */
static double FM_P(weight_penalty)(const fm_net *net)
{
    double penalty = 0;
    for (int l = 0; l < net->n_layers; ++l) {
        const fm_layer *L = &net->layers[l];
        if (L->kind != FM_LAYER_DROPOUT && (L->l1 != 0 || L->l2 != 0))
            penalty += FM_P(add_weight_penalty)(L->in * L->out * L->pieces, L->l1, L->l2,
                                                (const FM_T *)L->w, NULL);
    }
    return penalty;
}

/* One optimizer step on every parameter, then the max-norm constraints. */
static void FM_P(update)(fm_net *net)
{
    ++net->step;
    for (int l = 0; l < net->n_layers; ++l) {
        const fm_layer *L = &net->layers[l];
        if (L->kind == FM_LAYER_DROPOUT)
            continue;
        const ptrdiff_t zc = L->out * L->pieces;
        FM_OPT_STEP(&net->opt, net->step, L->in * zc, (FM_T *)L->w, (const FM_T *)L->dw,
                    (FM_T *const *)L->w_state);
        FM_OPT_STEP(&net->opt, net->step, zc, (FM_T *)L->b, (const FM_T *)L->db,
                    (FM_T *const *)L->b_state);
        if (L->max_norm > 0)
            FM_P(apply_max_norm)(L->in, zc, L->max_norm, (FM_T *)L->w);
    }
}

/* Copies rows order[start .. start+rows) of x, targets and weights into t's
 * batch buffers (order NULL: rows start.. in sequence). */
static void FM_P(gather)(fm_trainer *t, const fm_net *net, const FM_T *x, const FM_T *targets,
                         const FM_T *weights, const ptrdiff_t *order, ptrdiff_t start,
                         ptrdiff_t rows)
{
    const ptrdiff_t in = net->layers[0].in, out = net->layers[net->n_layers - 1].out;
    FM_T *xb = t->x, *tb = t->t, *wb = t->w;
    for (ptrdiff_t r = 0; r < rows; ++r) {
        const ptrdiff_t src = order ? order[start + r] : start + r;
        memcpy(xb + r * in, x + src * in, (size_t)in * sizeof(FM_T));
        if (targets)
            memcpy(tb + r * out, targets + src * out, (size_t)out * sizeof(FM_T));
        if (weights)
            wb[r] = weights[src];
    }
}

static void FM_P(train_epoch)(fm_net *net, fm_trainer *t, const FM_T *x, const FM_T *targets,
                              const FM_T *weights, ptrdiff_t n, ptrdiff_t batch, long epoch,
                              int shuffle, volatile const int *stop,
                              volatile fm_epoch_stats *stats)
{
    ptrdiff_t *order = t->order;
    for (ptrdiff_t i = 0; i < n; ++i)
        order[i] = i;
    if (shuffle) /* Fisher-Yates, the i-th swap keyed by (seed, epoch, i) */
        for (ptrdiff_t i = n - 1; i > 0; --i) {
            const uint64_t r = fm_rand_bits(net->seed, fm_stream_shuffle((uint64_t)epoch),
                                            (uint64_t)i);
            const ptrdiff_t j = (ptrdiff_t)(r % (uint64_t)(i + 1)), tmp = order[i];
            order[i] = order[j], order[j] = tmp;
        }
    t->has_weights = weights != NULL;
    for (ptrdiff_t start = 0, b = 0; start < n; start += batch, ++b) {
        if (stop && *stop) {
            stats->status = FM_INTERRUPTED;
            return;
        }
        const ptrdiff_t rows = n - start < batch ? n - start : batch;
        FM_P(gather)(t, net, x, targets, weights, order, start, rows);
        const FM_T *out = FM_P(forward)(net, t, t->x, rows, FM_TRAIN, epoch, b);
        double correct = 0;
        const double loss = FM_P(batch_gradients)(net, t, rows, out, &correct);
        if (t->out_of_memory) {
            stats->status = FM_NO_MEMORY;
            return;
        }
        if (!isfinite(loss) || !FM_P(arrays_finite)(net, 0)) {
            stats->status = FM_DIVERGED; /* nothing changed: the weights are the last good */
            stats->bad_batch = b;
            return;
        }
        FM_P(update)(net);
        if (!FM_P(arrays_finite)(net, 1)) {
            stats->status = FM_DIVERGED; /* the update overflowed: the caller restores */
            stats->bad_batch = b;
            return;
        }
        stats->loss_sum += loss;
        stats->correct += correct;
        stats->rows += rows;
        stats->batches += 1;
    }
}

static void FM_P(evaluate)(const fm_net *net, fm_trainer *t, const FM_T *x, const FM_T *targets,
                           const FM_T *weights, ptrdiff_t n, ptrdiff_t batch,
                           fm_epoch_stats *stats)
{
    const fm_layer *last = &net->layers[net->n_layers - 1];
    t->has_weights = weights != NULL;
    for (ptrdiff_t start = 0; start < n; start += batch) {
        const ptrdiff_t rows = n - start < batch ? n - start : batch;
        FM_P(gather)(t, net, x, targets, weights, NULL, start, rows);
        const FM_T *out = FM_P(forward)(net, t, t->x, rows, FM_INFER, 0, 0);
        FM_P(loss_rows)(net->loss, net->huber_delta, rows, last->out, out,
                        t->z[net->n_layers - 1], t->t, t->has_weights ? t->w : NULL,
                        t->row_loss, t->g[0]);
        for (ptrdiff_t i = 0; i < rows; ++i)
            stats->loss_sum += t->row_loss[i];
        if (net->accuracy != FM_ACCURACY_NONE)
            stats->correct += FM_P(count_correct)(net->accuracy, rows, last->out, out, t->t);
        stats->rows += rows;
        stats->batches += 1;
    }
    /* As in training, the weight penalty counts once per row. */
    stats->loss_sum += FM_P(weight_penalty)(net) * n;
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
        const int parts = FM_GEMM_ROW_THREADS(zc, L->in);
        const int elementwise = L->kind == FM_LAYER_DENSE && L->act != FM_ACT_SOFTMAX;
        FM_P(rows_args) act = {.fn = FM_P(activation_fn)(L), .rows = 1, .cols = L->out, .b = L->b,
                               .z = r->t->z[l], .a = r->t->a[l], .p = (FM_T)L->act_param,
                               .pieces = L->pieces};
        if (tid < parts) {
            ptrdiff_t lo, hi;
            if (FM_GEMM_ROW_PART(zc, L->in, in, L->w, act.z, tid, parts, &lo, &hi) != 0)
                __atomic_store_n(&r->t->out_of_memory, 1, __ATOMIC_RELAXED);
            if (elementwise && lo < hi) {
                /* on one row, a column range is a row of its own */
                act.cols = hi - lo, act.b += lo, act.z += lo, act.a += lo;
                act.fn(&act, 0, 1);
            }
        }
#pragma omp barrier
        if (!elementwise) {
            if (tid == 0)
                act.fn(&act, 0, 1);
#pragma omp barrier
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
        int threads = 1;
        const FM_T *out = x;
        for (int l = 0; l < net->n_layers; ++l) {
            const fm_layer *L = &net->layers[l];
            if (L->kind == FM_LAYER_DROPOUT)
                continue;
            const int parts = FM_GEMM_ROW_THREADS(L->out * L->pieces, L->in);
            threads = parts > threads ? parts : threads;
            out = t->a[l];
        }
        const FM_P(row_args) r = {net, t, x};
        fm_parallel(FM_P(infer_row), &r, threads);
        memcpy(y, out, (size_t)out_cols * sizeof(FM_T));
        return;
    }
    for (ptrdiff_t start = 0; start < n; start += batch) {
        const ptrdiff_t rows = n - start < batch ? n - start : batch;
        /* Rows of x are contiguous: the first layer reads them in place. */
        const FM_T *out = FM_P(forward)(net, t, x + start * net->layers[0].in, rows, FM_INFER, 0, 0);
        memcpy(y + start * out_cols, out, (size_t)(rows * out_cols) * sizeof(FM_T));
    }
}

static double FM_P(loss_and_gradients)(fm_net *net, fm_trainer *t, const FM_T *x,
                                       const FM_T *targets, const FM_T *weights, ptrdiff_t n)
{
    t->has_weights = weights != NULL;
    FM_P(gather)(t, net, x, targets, weights, NULL, 0, n);
    const FM_T *out = FM_P(forward)(net, t, t->x, n, FM_TRAIN_NO_DROPOUT, 0, 0);
    return FM_P(batch_gradients)(net, t, n, out, NULL) / n;
}
