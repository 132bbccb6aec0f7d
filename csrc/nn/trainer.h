/* The workspace behind fm_trainer: one batch's buffers, laid out by net.c
 * and used by the engine's templates (the nn/..._impl.h files). */
#ifndef FM_TRAINER_H
#define FM_TRAINER_H

#include <stddef.h>

struct fm_trainer {
    void *x, *t, *w;         /* the batch's inputs, targets, row weights */
    void **z, **a, **mask;   /* per layer: pre-activations, outputs, dropout masks */
    void **g, **dz;          /* per layer: the loss's gradients with respect to a and z
                              * (each layer its own, so threads that own different
                              * rows never share memory) */
    double *row_loss;        /* per row of the batch */
    ptrdiff_t *order;        /* the epoch's row order */
    int has_weights;
    int out_of_memory;       /* a GEMM could not get its workspace */
    void *block;             /* the one allocation all of the above live in */
};

/* How a forward pass treats dropout: off (inference), on (training, masks
 * keyed by the epoch's key and batch), or kept as a layer with an all-ones mask (exact
 * gradients for checking). The last two keep every layer's output in a[]. */
typedef enum { FM_INFER, FM_TRAIN, FM_TRAIN_NO_DROPOUT } fm_forward_mode;

#endif
