/* The network entry points of net.h: names, the training workspace, and
 * each computation handed to the active ISA's engine. */
#include <stdlib.h>
#include <string.h>

#include "arch/kernel_table.h"
#include "nn/net.h"
#include "nn/trainer.h"

static const char *const activation_names[FM_ACT_COUNT] = {
#define FM_ACT(id, name, f, df) [FM_ACT_##id] = name,
#include "nn/activations.def"
#undef FM_ACT
    [FM_ACT_SOFTMAX] = "softmax",
};

static const char *const loss_names[FM_LOSS_COUNT] = {
    [FM_LOSS_MSE] = "mse", [FM_LOSS_MAE] = "mae", [FM_LOSS_HUBER] = "huber",
    [FM_LOSS_CROSS_ENTROPY] = "cross_entropy", [FM_LOSS_BCE] = "binary_cross_entropy",
    [FM_LOSS_KL] = "kl_divergence", [FM_LOSS_HINGE] = "hinge",
};

const char *fm_activation_name(int act)
{
    return act >= 0 && act < FM_ACT_COUNT ? activation_names[act] : NULL;
}

const char *fm_loss_name(int loss)
{
    return loss >= 0 && loss < FM_LOSS_COUNT ? loss_names[loss] : NULL;
}

static ptrdiff_t z_cols(const fm_layer *L)
{
    return L->kind == FM_LAYER_DROPOUT ? 0 : L->out * L->pieces;
}

/* Carves 64-byte aligned pieces out of one block: a first pass with
 * base == NULL only counts. */
typedef struct { char *base; size_t used; } carver;

static void *carve(carver *c, size_t bytes)
{
    void *p = c->base ? c->base + c->used : NULL;
    c->used += (bytes + 63) / 64 * 64;
    return p;
}

static void lay_out(fm_trainer *t, carver *c, const fm_net *net, ptrdiff_t batch, ptrdiff_t n_rows)
{
    const size_t el = net->is_double ? sizeof(double) : sizeof(float);
    const fm_layer *first = &net->layers[0], *last = &net->layers[net->n_layers - 1];
    t->x = carve(c, el * batch * first->in);
    t->t = carve(c, el * batch * last->out);
    t->w = carve(c, el * batch);
    t->row_loss = carve(c, sizeof(double) * batch);
    t->order = carve(c, sizeof(ptrdiff_t) * n_rows);
    t->z = carve(c, sizeof(void *) * net->n_layers);
    t->a = carve(c, sizeof(void *) * net->n_layers);
    t->mask = carve(c, sizeof(void *) * net->n_layers);
    t->g = carve(c, sizeof(void *) * net->n_layers);
    t->dz = carve(c, sizeof(void *) * net->n_layers);
    for (int l = 0; l < net->n_layers; ++l) {
        const fm_layer *L = &net->layers[l];
        void *z = carve(c, el * batch * z_cols(L)), *a = carve(c, el * batch * L->out);
        void *mask = carve(c, L->kind == FM_LAYER_DROPOUT ? el * batch * L->out : 0);
        void *g = carve(c, el * batch * L->out), *dz = carve(c, el * batch * z_cols(L));
        if (c->base)
            t->z[l] = z, t->a[l] = a, t->mask[l] = mask, t->g[l] = g, t->dz[l] = dz;
    }
}

fm_trainer *fm_trainer_create(const fm_net *net, ptrdiff_t batch, ptrdiff_t n_rows)
{
    fm_trainer *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    batch = batch > 0 ? batch : 1;
    carver c = {NULL, 0};
    lay_out(t, &c, net, batch, n_rows);
    c.base = aligned_alloc(64, c.used);
    if (!c.base) {
        free(t);
        return NULL;
    }
    c.used = 0;
    lay_out(t, &c, net, batch, n_rows);
    t->block = c.base;
    return t;
}

void fm_trainer_destroy(fm_trainer *t)
{
    if (t)
        free(t->block);
    free(t);
}

/* The entry points: the active ISA's engine (engine.h) does the work. */
static const fm_engine *engine(void)
{
    return &fm_kernels()->engine;
}

void fm_train_epoch(fm_net *net, fm_trainer *t, const void *x, const void *targets,
                    const void *row_weights, ptrdiff_t n, ptrdiff_t batch, long key,
                    int shuffle, volatile const int *stop, volatile fm_epoch_stats *stats)
{
    stats->loss_sum = stats->correct = 0;
    stats->rows = stats->batches = stats->bad_batch = 0;
    stats->status = FM_OK;
    t->out_of_memory = 0;
    engine()->train_epoch(net, t, x, targets, row_weights, n, batch, key, shuffle, stop, stats);
}

int fm_evaluate(const fm_net *net, const void *x, const void *targets, const void *row_weights,
                ptrdiff_t n, ptrdiff_t batch, fm_epoch_stats *stats)
{
    fm_trainer *t = fm_trainer_create(net, n < batch ? n : batch, 0);
    if (!t)
        return -1;
    memset(stats, 0, sizeof *stats);
    engine()->evaluate(net, t, x, targets, row_weights, n, batch, stats);
    const int failed = t->out_of_memory;
    fm_trainer_destroy(t);
    return failed ? -1 : 0;
}

int fm_predict(const fm_net *net, const void *x, ptrdiff_t n, ptrdiff_t batch, void *y)
{
    fm_trainer *t = fm_trainer_create(net, n < batch ? n : batch, 0);
    if (!t)
        return -1;
    engine()->predict(net, t, x, n, batch, y);
    const int failed = t->out_of_memory;
    fm_trainer_destroy(t);
    return failed ? -1 : 0;
}

int fm_loss_and_gradients(fm_net *net, const void *x, const void *targets,
                          const void *row_weights, ptrdiff_t n, double *loss)
{
    fm_trainer *t = fm_trainer_create(net, n, 0);
    if (!t)
        return -1;
    *loss = engine()->loss_and_gradients(net, t, x, targets, row_weights, n);
    const int failed = t->out_of_memory;
    fm_trainer_destroy(t);
    return failed ? -1 : 0;
}
