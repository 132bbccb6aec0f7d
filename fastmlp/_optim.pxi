# Optimizer updates (csrc/nn/optim.c), for fastmlp.optim and the tests; the
# training loop calls the C functions directly.

from libc.string cimport memset

cdef extern from "nn/optim.h" nogil:
    ctypedef enum fm_opt_kind:
        FM_OPT_SGD
        FM_OPT_ADAGRAD
        FM_OPT_RMSPROP
        FM_OPT_ADADELTA
        FM_OPT_ADAM
        FM_OPT_ADAMW
        FM_OPT_COUNT

    ctypedef struct fm_optimizer:
        fm_opt_kind kind
        double lr, weight_decay, eps
        double momentum, dampening
        int nesterov
        double alpha
        int centered
        double rho
        double lr_decay
        double beta1, beta2
        int amsgrad

    int fm_optimizer_state_count(const fm_optimizer *opt)
    void fm_s_optimizer_step(const fm_optimizer *opt, long step, Py_ssize_t n, float *p,
                             const float *g, float **state)
    void fm_d_optimizer_step(const fm_optimizer *opt, long step, Py_ssize_t n, double *p,
                             const double *g, double **state)

# The names of fm_opt_kind, in its order.
OPTIMIZERS = ("sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw")
_OPTIMIZER_FIELDS = frozenset({
    "kind", "lr", "weight_decay", "eps", "momentum", "dampening", "nesterov", "alpha",
    "centered", "rho", "lr_decay", "beta1", "beta2", "amsgrad"})
# The most state arrays an optimizer keeps (Adam with amsgrad; RMSprop centered
# with momentum).
cdef enum:
    _MAX_STATES = 3


cdef int _optimizer_from(dict config, fm_optimizer *opt) except -1:
    """opt from config: "kind", a name in OPTIMIZERS, and fm_optimizer's other
    fields by name, 0 (False) where left out. The values themselves are trusted:
    fastmlp.optim validates them."""
    unknown = config.keys() - _OPTIMIZER_FIELDS
    if unknown:
        raise ValueError(f"unknown optimizer config field(s): {', '.join(sorted(unknown))}")
    kind = config.get("kind")
    if kind not in OPTIMIZERS:
        raise ValueError(f"config['kind'] must be one of {', '.join(OPTIMIZERS)}, got {kind!r}")
    memset(opt, 0, sizeof(fm_optimizer))
    opt.kind = <fm_opt_kind><int>OPTIMIZERS.index(kind)
    opt.lr = config.get("lr", 0.0)
    opt.weight_decay = config.get("weight_decay", 0.0)
    opt.eps = config.get("eps", 0.0)
    opt.momentum = config.get("momentum", 0.0)
    opt.dampening = config.get("dampening", 0.0)
    opt.nesterov = bool(config.get("nesterov", False))
    opt.alpha = config.get("alpha", 0.0)
    opt.centered = bool(config.get("centered", False))
    opt.rho = config.get("rho", 0.0)
    opt.lr_decay = config.get("lr_decay", 0.0)
    opt.beta1 = config.get("beta1", 0.0)
    opt.beta2 = config.get("beta2", 0.0)
    opt.amsgrad = bool(config.get("amsgrad", False))
    return 0


def optimizer_state_count(dict config):
    """How many arrays of a parameter's size the optimizer keeps as state."""
    cdef fm_optimizer opt
    _optimizer_from(config, &opt)
    return fm_optimizer_state_count(&opt)


cdef cnp.ndarray _optim_array(x, str name, dtype, Py_ssize_t n, bint writable):
    """x, checked to be a C-contiguous, aligned 1-D array of n elements of
    `dtype` (and writable when `writable`)."""
    if not isinstance(x, cnp.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, not {type(x).__name__}")
    cdef cnp.ndarray a = <cnp.ndarray>x
    if a.dtype != dtype:
        raise TypeError(f"{name} has dtype {a.dtype}; p has {dtype}")
    if cnp.PyArray_NDIM(a) != 1:
        raise ValueError(f"{name} must be 1-D, got shape {np.shape(a)}")
    if cnp.PyArray_DIM(a, 0) != n:
        raise ValueError(f"{name} has {cnp.PyArray_DIM(a, 0)} elements; p has {n}")
    if not cnp.PyArray_ISCARRAY_RO(a):  # (byte order: the dtype is native)
        raise ValueError(f"{name} must be C-contiguous and aligned")
    if writable and not cnp.PyArray_ISWRITEABLE(a):
        raise ValueError(f"{name} is read-only")
    return a


def optimizer_step(dict config, long step, p, g, list states):
    """One update of p (in place) from its gradient g, and of the optimizer's
    state arrays (in place); `step` counts updates from 1.

    p, g and each state: C-contiguous 1-D float32 or float64 arrays, of one
    dtype and length, sharing no memory. states: optimizer_state_count(config)
    arrays, zeros before the first step (Adagrad's sum: its initial value).
    """
    cdef fm_optimizer opt
    _optimizer_from(config, &opt)
    if step < 1:
        raise ValueError(f"step counts updates from 1, got {step}")
    if not isinstance(p, cnp.ndarray):
        raise TypeError(f"p must be a numpy.ndarray, not {type(p).__name__}")
    dtype = (<cnp.ndarray>p).dtype
    if dtype != np.float32 and dtype != np.float64:
        raise TypeError(f"p must hold float32 or float64, not {dtype}")
    cdef Py_ssize_t n = cnp.PyArray_SIZE(<cnp.ndarray>p)
    cdef int count = fm_optimizer_state_count(&opt)
    if count > _MAX_STATES:
        raise RuntimeError(f"{count} state arrays: raise _MAX_STATES in _optim.pxi")
    if len(states) != count:
        raise ValueError(f"{config['kind']} with this config keeps {count} state array(s), "
                         f"got {len(states)}")
    names = ["p", "g"] + [f"states[{k}]" for k in range(count)]
    arrays = [_optim_array(x, name, dtype, n, name != "g")
              for x, name in zip([p, g] + states, names)]

    # The update writes p and the states while it reads all of them: any
    # overlap would make the result depend on the order of the elements.
    cdef Py_ssize_t nbytes = n * cnp.PyArray_ITEMSIZE(<cnp.ndarray>p), i, j
    cdef char *data[2 + _MAX_STATES]
    for i in range(2 + count):
        data[i] = <char *>cnp.PyArray_DATA(<cnp.ndarray>arrays[i])
        for j in range(i):
            if nbytes > 0 and data[i] < data[j] + nbytes and data[j] < data[i] + nbytes:
                raise ValueError(f"{names[j]} and {names[i]} share memory")

    cdef float *s_state[_MAX_STATES]
    cdef double *d_state[_MAX_STATES]
    for i in range(count):
        s_state[i], d_state[i] = <float *>data[2 + i], <double *>data[2 + i]
    cdef bint single = dtype == np.float32
    with nogil:
        if single:
            fm_s_optimizer_step(&opt, step, n, <float *>data[0], <const float *>data[1], s_state)
        else:
            fm_d_optimizer_step(&opt, step, n, <double *>data[0], <const double *>data[1],
                                d_state)
