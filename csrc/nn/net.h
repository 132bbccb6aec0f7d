/* A multilayer perceptron as the C code sees it: plain arrays owned by the
 * caller (the Python model's NumPy arrays), and the native training loop.
 *
 * A network is a list of layers; every parameter, gradient and optimizer
 * state array belongs to the caller. The training workspace (activations of
 * one batch, masks, the shuffled order) is allocated once per fit by
 * fm_trainer_create and reused for every batch. */
#ifndef FM_NET_H
#define FM_NET_H

#include <stddef.h>
#include <stdint.h>

#include "nn/optim.h"

typedef enum {
#define FM_ACT(id, name, f, df) FM_ACT_##id,
#include "nn/activations.def"
#undef FM_ACT
    FM_ACT_SOFTMAX, /* row-wise, output layer only */
    FM_ACT_COUNT
} fm_act;

typedef enum { FM_LAYER_DENSE, FM_LAYER_DROPOUT, FM_LAYER_MAXOUT } fm_layer_kind;

typedef enum {
    FM_LOSS_MSE,           /* mean (y - t)^2 */
    FM_LOSS_MAE,           /* mean |y - t| */
    FM_LOSS_HUBER,         /* mean huber_delta(y - t) */
    FM_LOSS_CROSS_ENTROPY, /* softmax output, one-hot or probability targets */
    FM_LOSS_BCE,           /* sigmoid output, targets in [0, 1] */
    FM_LOSS_KL,            /* softmax output, probability targets */
    FM_LOSS_HINGE,         /* mean max(0, 1 - t y), t in {-1, 1} */
    FM_LOSS_COUNT
} fm_loss;

/* One layer. Dense: y = act(x W + b), W is in x out (row-major), b is out.
 * Maxout: z = x W + b with W in x (out * pieces); y_j = max over the pieces
 * z[j*pieces .. j*pieces + pieces). Dropout: y = x * mask / (1 - rate) in
 * training, y = x otherwise; it has no parameters. */
typedef struct {
    fm_layer_kind kind;
    fm_act act;
    double act_param;
    ptrdiff_t in, out;
    int pieces;                 /* maxout; 1 otherwise */
    double l1, l2, max_norm;    /* regularisers on W; max_norm 0 means none */
    double rate;                /* dropout */
    void *w, *b, *dw, *db;      /* parameters and their gradients */
    void *w_state[3], *b_state[3]; /* optimizer state, fm_optimizer_state_count each */
} fm_layer;

/* What counts as a correct prediction for the accuracy metric. */
typedef enum {
    FM_ACCURACY_NONE,
    FM_ACCURACY_ARGMAX,  /* the row's largest output is the target's largest */
    FM_ACCURACY_SIGMOID, /* each output on the target's side of 0.5 */
    FM_ACCURACY_SIGN,    /* each output on the target's side of 0 (hinge) */
} fm_accuracy;

typedef struct {
    int is_double;
    fm_accuracy accuracy;
    int n_layers;
    fm_layer *layers;
    fm_loss loss;
    double huber_delta;
    fm_optimizer opt;
    long step; /* optimizer updates done so far */
    uint64_t seed;
} fm_net;

/* Names of activations and losses by id (NULL past the end), for the bindings. */
const char *fm_activation_name(int act);
const char *fm_loss_name(int loss);

typedef struct fm_trainer fm_trainer;

/* Workspace for batches of up to `batch` rows; NULL when out of memory. */
fm_trainer *fm_trainer_create(const fm_net *net, ptrdiff_t batch, ptrdiff_t n_rows);
void fm_trainer_destroy(fm_trainer *t);

typedef struct {
    double loss_sum;     /* sum over rows of each row's (weighted) loss */
    double correct;      /* rows (or elements, for sigmoid outputs) counted correct */
    ptrdiff_t rows;      /* rows processed */
    ptrdiff_t batches;   /* batches completed */
    int status;          /* FM_OK, FM_DIVERGED, FM_INTERRUPTED, FM_NO_MEMORY */
    ptrdiff_t bad_batch; /* with FM_DIVERGED: the batch whose loss or gradient was not finite */
} fm_epoch_stats;

enum { FM_OK = 0, FM_DIVERGED = 1, FM_INTERRUPTED = 2, FM_NO_MEMORY = 3 };

/* One epoch of mini-batch training over x (n x in) and targets t (n x out),
 * optional per-row weights w (NULL: all 1). Rows are visited in an order
 * shuffled by (seed, key) when `shuffle`; dropout masks are keyed by
 * (seed, key, batch, element). The caller picks a key per epoch that no other
 * epoch of the network uses (fastmlp: the optimizer's step count at the
 * epoch's start, so that one fit of n epochs and n fits of one epoch draw
 * alike). A batch whose loss or gradients are not finite stops the epoch
 * before its update (FM_DIVERGED, stats->bad_batch); so does an update that
 * leaves a parameter not finite, after it, with the step counted: the
 * caller restores the parameters it kept (fastmlp: the epoch's start).
 * `stop` is polled between batches: non-zero ends the epoch (FM_INTERRUPTED).
 * `stats` is updated after every batch, so another thread may watch it. */
void fm_train_epoch(fm_net *net, fm_trainer *t, const void *x, const void *targets,
                    const void *row_weights, ptrdiff_t n, ptrdiff_t batch, long key,
                    int shuffle, volatile const int *stop, volatile fm_epoch_stats *stats);

/* Loss and accuracy counts of the network in inference mode (no dropout).
 * Returns 0, or -1 when the workspace could not be allocated. */
int fm_evaluate(const fm_net *net, const void *x, const void *targets, const void *row_weights,
                ptrdiff_t n, ptrdiff_t batch, fm_epoch_stats *stats);

/* y (n x out) = the network's output for x (n x in), inference mode, in
 * batches of `batch` rows. Returns 0, or -1 when out of memory. Uses no
 * shared state: threads may predict with one network at once. */
int fm_predict(const fm_net *net, const void *x, ptrdiff_t n, ptrdiff_t batch, void *y);

/* Mean loss over x, t (n rows) and its gradients into each layer's dw, db,
 * dropout off: what gradient checking compares with finite differences.
 * Returns 0, or -1 when out of memory. */
int fm_loss_and_gradients(fm_net *net, const void *x, const void *targets,
                          const void *row_weights, ptrdiff_t n, double *loss);

#endif
