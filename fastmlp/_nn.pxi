# The network (csrc/nn/net.h): a C view of a model's arrays, and the native
# training loop, evaluation and prediction over it.

from libc.stdint cimport uint64_t
from libc.stdlib cimport calloc, free

cdef extern from "nn/net.h" nogil:
    ctypedef enum fm_layer_kind:
        FM_LAYER_DENSE
        FM_LAYER_DROPOUT
        FM_LAYER_MAXOUT
    ctypedef enum fm_accuracy:
        FM_ACCURACY_NONE
        FM_ACCURACY_ARGMAX
        FM_ACCURACY_SIGMOID
        FM_ACCURACY_SIGN
    ctypedef struct fm_layer:
        fm_layer_kind kind
        int act
        double act_param
        Py_ssize_t in_ "in"
        Py_ssize_t out
        int pieces
        double l1, l2, max_norm, rate
        void *w
        void *b
        void *dw
        void *db
        void *w_state[3]
        void *b_state[3]
    ctypedef struct fm_net:
        int is_double
        fm_accuracy accuracy
        int n_layers
        fm_layer *layers
        int loss
        double huber_delta
        fm_optimizer opt
        long step
        uint64_t seed
    ctypedef struct fm_trainer:
        pass
    ctypedef struct fm_epoch_stats:
        double loss_sum
        double correct
        Py_ssize_t rows
        Py_ssize_t batches
        int status
        Py_ssize_t bad_batch
    enum:
        FM_OK
        FM_DIVERGED
        FM_INTERRUPTED
        FM_NO_MEMORY
        FM_ACT_COUNT
        FM_LOSS_COUNT

    const char *fm_activation_name(int act)
    const char *fm_loss_name(int loss)
    fm_trainer *fm_trainer_create(const fm_net *net, Py_ssize_t batch, Py_ssize_t n_rows)
    void fm_trainer_destroy(fm_trainer *t)
    void fm_train_epoch(fm_net *net, fm_trainer *t, const void *x, const void *targets,
                        const void *row_weights, Py_ssize_t n, Py_ssize_t batch, long key,
                        int shuffle, const int *stop, fm_epoch_stats *stats)
    int fm_evaluate(const fm_net *net, const void *x, const void *targets,
                    const void *row_weights, Py_ssize_t n, Py_ssize_t batch,
                    fm_epoch_stats *stats)
    int fm_predict(const fm_net *net, const void *x, Py_ssize_t n, Py_ssize_t batch, void *y)
    int fm_loss_and_gradients(fm_net *net, const void *x, const void *targets,
                              const void *row_weights, Py_ssize_t n, double *loss)

ACTIVATIONS = tuple(fm_activation_name(i).decode() for i in range(FM_ACT_COUNT))
LOSSES = tuple(fm_loss_name(i).decode() for i in range(FM_LOSS_COUNT))
_LAYER_KINDS = {"dense": FM_LAYER_DENSE, "dropout": FM_LAYER_DROPOUT, "maxout": FM_LAYER_MAXOUT}
_ACCURACY = {None: FM_ACCURACY_NONE, "argmax": FM_ACCURACY_ARGMAX,
             "sigmoid": FM_ACCURACY_SIGMOID, "sign": FM_ACCURACY_SIGN}
STATUS = {FM_OK: "ok", FM_DIVERGED: "diverged", FM_INTERRUPTED: "interrupted",
          FM_NO_MEMORY: "no memory"}


cdef void *_data(cnp.ndarray x, int typenum, Py_ssize_t size, str what) except NULL:
    """x's buffer, after checking it is what the C side will read or write."""
    if (cnp.PyArray_TYPE(x) != typenum or cnp.PyArray_SIZE(x) != size
            or not cnp.PyArray_IS_C_CONTIGUOUS(x) or not cnp.PyArray_ISWRITEABLE(x)):
        raise ValueError(f"internal: {what} must be a writable C-contiguous array of "
                         f"{size} elements of the network's dtype")
    return cnp.PyArray_DATA(x) if size else <void *>x  # never NULL, even when empty


cdef void *_rows(x, int typenum, Py_ssize_t n, Py_ssize_t cols, str what) except NULL:
    """x's buffer, after checking it is C-contiguous (n, cols) of the network's dtype;
    the C side only reads it."""
    cdef cnp.ndarray arr = <cnp.ndarray?>x
    if (cnp.PyArray_TYPE(arr) != typenum or cnp.PyArray_NDIM(arr) != 2
            or arr.shape[0] != n or arr.shape[1] != cols
            or not cnp.PyArray_IS_C_CONTIGUOUS(arr)):
        raise ValueError(f"internal: {what} must be C-contiguous ({n}, {cols}) of the "
                         f"network's dtype")
    return cnp.PyArray_DATA(arr) if n * cols else <void *>arr


cdef dict _stats_dict(const fm_epoch_stats *s):
    return {"loss_sum": s.loss_sum, "correct": s.correct, "rows": s.rows,
            "batches": s.batches, "status": STATUS[s.status], "bad_batch": s.bad_batch}


cdef class NativeNet:
    """The C network over a model's parameter, gradient and optimizer-state
    arrays, which it keeps alive. Built by fastmlp.model; not public.

    layers: dicts with kind ("dense", "dropout", "maxout"), act, act_param, in,
    out, pieces, l1, l2, max_norm, rate and, for layers with parameters, the
    arrays w, b and, to train, dw, db and the lists w_state, b_state.
    """
    cdef fm_net net
    cdef fm_layer *layers
    cdef fm_trainer *trainer
    cdef int typenum
    cdef int stop_flag
    cdef fm_epoch_stats stats
    cdef list keep  # every array the C structs point into

    def __cinit__(self):
        self.layers = NULL
        self.trainer = NULL

    def __init__(self, list layers, str loss, double huber_delta, accuracy, dtype,
                 unsigned long long seed):
        cdef int i, s
        cdef fm_layer *L
        self.typenum = cnp.NPY_FLOAT64 if np.dtype(dtype) == np.float64 else cnp.NPY_FLOAT32
        self.layers = <fm_layer *>calloc(max(len(layers), 1), sizeof(fm_layer))
        if self.layers == NULL:
            raise MemoryError()
        self.keep = []
        for i, spec in enumerate(layers):
            L = &self.layers[i]
            L.kind = _LAYER_KINDS[spec["kind"]]
            L.act = ACTIVATIONS.index(spec.get("act", "linear"))
            L.act_param = spec.get("act_param", 0.0)
            L.in_, L.out, L.pieces = spec["in"], spec["out"], spec.get("pieces", 1)
            L.l1, L.l2 = spec.get("l1", 0.0), spec.get("l2", 0.0)
            L.max_norm, L.rate = spec.get("max_norm", 0.0), spec.get("rate", 0.0)
            if L.kind == FM_LAYER_DROPOUT:
                continue
            size_w, size_b = L.in_ * L.out * L.pieces, L.out * L.pieces
            L.w = _data(spec["w"], self.typenum, size_w, "w")
            L.b = _data(spec["b"], self.typenum, size_b, "b")
            self.keep.append(spec)
            if "dw" not in spec:  # an inference-only network: no gradients, no optimizer
                continue
            L.dw = _data(spec["dw"], self.typenum, size_w, "dw")
            L.db = _data(spec["db"], self.typenum, size_b, "db")
            for s, arr in enumerate(spec["w_state"]):
                L.w_state[s] = _data(arr, self.typenum, size_w, "w_state")
            for s, arr in enumerate(spec["b_state"]):
                L.b_state[s] = _data(arr, self.typenum, size_b, "b_state")
        self.net.is_double = self.typenum == cnp.NPY_FLOAT64
        self.net.accuracy = _ACCURACY[accuracy]
        self.net.n_layers = len(layers)
        self.net.layers = self.layers
        self.net.loss = LOSSES.index(loss)
        self.net.huber_delta = huber_delta
        self.net.seed = seed

    def __dealloc__(self):
        fm_trainer_destroy(self.trainer)
        free(self.layers)

    def set_optimizer(self, dict config, long step):
        """Use the optimizer `config` (see optimizer_step), `step` updates done."""
        _optimizer_from(config, &self.net.opt)
        self.net.step = step

    @property
    def step(self):
        return self.net.step

    @property
    def in_features(self):
        return self.layers[0].in_

    @property
    def out_features(self):
        return self.layers[self.net.n_layers - 1].out

    def begin_fit(self, Py_ssize_t batch, Py_ssize_t n_rows):
        """Allocate the training workspace, once per fit."""
        fm_trainer_destroy(self.trainer)
        self.trainer = fm_trainer_create(&self.net, batch, n_rows)
        if self.trainer == NULL:
            raise MemoryError(f"no memory for the training workspace (batch {batch})")

    def end_fit(self):
        fm_trainer_destroy(self.trainer)
        self.trainer = NULL

    def train_epoch(self, x, t, w, Py_ssize_t batch, long key, bint shuffle):
        """One epoch of the native loop, without the GIL; returns its stats.
        `key` keys the epoch's shuffle and dropout masks (fm_train_epoch)."""
        if self.trainer == NULL:
            raise RuntimeError("internal: train_epoch before begin_fit")
        cdef const void *px
        cdef const void *pt
        cdef const void *pw
        cdef Py_ssize_t n = self._examples(x, t, w, &px, &pt, &pw)
        with nogil:
            fm_train_epoch(&self.net, self.trainer, px, pt, pw, n, batch, key, shuffle,
                           &self.stop_flag, &self.stats)
        return self._stats()

    def progress(self):
        """The running epoch's (batches, rows, loss_sum), for a progress line
        drawn by another thread while train_epoch runs."""
        return self.stats.batches, self.stats.rows, self.stats.loss_sum

    def request_stop(self):
        """Ask the running (or the next) epoch to stop at the next batch boundary."""
        self.stop_flag = 1

    def clear_stop(self):
        """Forget a stop asked for before: called before an epoch is handed to
        the worker thread, not by the epoch itself, so that a stop asked for
        between the two is not lost."""
        self.stop_flag = 0

    cdef dict _stats(self):
        return _stats_dict(&self.stats)

    cdef Py_ssize_t _examples(self, x, t, w, const void **px, const void **pt,
                              const void **pw) except -1:
        """The rows of x, with pointers to x, t and w (NULL when w is None),
        each checked against the network's widths."""
        cdef Py_ssize_t n = (<cnp.ndarray?>x).shape[0]
        px[0] = _rows(x, self.typenum, n, self.in_features, "x")
        pt[0] = _rows(t, self.typenum, n, self.out_features, "targets")
        pw[0] = NULL if w is None else _rows(w, self.typenum, n, 1, "weights")
        return n

    def evaluate(self, x, t, w, Py_ssize_t batch):
        # per call, not self.stats: several threads may evaluate at once
        cdef fm_epoch_stats stats
        cdef const void *px
        cdef const void *pt
        cdef const void *pw
        cdef Py_ssize_t n = self._examples(x, t, w, &px, &pt, &pw)
        cdef int status
        with nogil:
            status = fm_evaluate(&self.net, px, pt, pw, n, batch, &stats)
        if status != 0:
            raise MemoryError("no memory to evaluate")
        return _stats_dict(&stats)

    def predict_checked(self, x, Py_ssize_t batch):
        """predict(x, batch) when x is an aligned, native-endian, C-contiguous
        (n >= 1, in_features) array of the network's dtype with no NaN or inf;
        None for anything else, which the caller then checks and converts. The
        common case of model.predict in one call and one pass over x."""
        if type(x) is not np.ndarray:
            return None
        cdef cnp.ndarray arr = <cnp.ndarray>x
        if (cnp.PyArray_TYPE(arr) != self.typenum or cnp.PyArray_NDIM(arr) != 2
                or arr.shape[0] == 0 or arr.shape[1] != self.in_features
                or not cnp.PyArray_IS_C_CONTIGUOUS(arr) or not cnp.PyArray_ISALIGNED(arr)
                or not cnp.PyArray_ISNOTSWAPPED(arr)):
            return None
        return self.predict(arr, min(batch, arr.shape[0])) if _all_finite(arr) else None

    def predict(self, x, Py_ssize_t batch):
        cdef Py_ssize_t n = (<cnp.ndarray?>x).shape[0]
        cdef const void *px = _rows(x, self.typenum, n, self.in_features, "x")
        cdef cnp.npy_intp dims[2]
        dims[0], dims[1] = n, self.out_features
        cdef cnp.ndarray y = cnp.PyArray_EMPTY(2, dims, self.typenum, 0)
        cdef void *py = cnp.PyArray_DATA(y)
        cdef int status = 0
        if n:
            with nogil:
                status = fm_predict(&self.net, px, n, batch, py)
        if status != 0:
            raise MemoryError("no memory to predict")
        return y

    def loss_and_gradients(self, x, t, w):
        """Mean loss over all rows, gradients into the dw, db arrays."""
        cdef const void *px
        cdef const void *pt
        cdef const void *pw
        cdef Py_ssize_t n = self._examples(x, t, w, &px, &pt, &pw)
        cdef double loss
        cdef int status
        with nogil:
            status = fm_loss_and_gradients(&self.net, px, pt, pw, n, &loss)
        if status != 0:
            raise MemoryError("no memory for the gradients")
        return loss
