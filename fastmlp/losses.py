"""Losses (`fm.losses`): by name ("cross_entropy") or as objects (Huber(0.5)).

PyTorch's definitions, reduced as a mean over every element of a batch
(cross-entropy: a mean over rows of the sum over classes). The kernels are in
csrc/nn/losses_impl.h; each object here names one, says which output unit it
needs, and turns user targets into the (rows, outputs) matrix the kernels read.
"""
import numpy as np

from fastmlp import _core
from fastmlp._checks import finite_cast, in_range, lookup


class Loss:
    """A loss the kernels know by `name`.

    output: the output activation it needs (None: any); accuracy: how the
    accuracy metric counts a hit for it (None: no accuracy for this loss).
    """

    name = ""
    output = None
    accuracy = None
    delta = 0.0

    def targets(self, y, outputs, dtype):
        """y as a C-contiguous (rows, outputs) array of `dtype`: a 1-D y is a
        column when there is one output."""
        t = np.asarray(y)
        if t.ndim == 1 and outputs == 1:
            t = t[:, None]
        if t.ndim != 2 or t.shape[1] != outputs:
            raise ValueError(f"y has shape {np.shape(y)}; this model needs "
                             f"({len(t)}, {outputs})" + (" or a 1-D y" if outputs == 1 else ""))
        _check_numeric(t)
        return finite_cast(t, dtype, "y")

    def get_config(self):
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _check_numeric(t):
    if t.dtype.kind not in "biuf":
        raise TypeError(f"y must be numeric, not {t.dtype}")


class MSE(Loss):
    """mean((y - t)^2), no factor 1/2."""

    name = "mse"


class MAE(Loss):
    """mean(|y - t|)."""

    name = "mae"


class Huber(Loss):
    """mean of 0.5 d^2 where |d| < delta, delta (|d| - delta/2) elsewhere."""

    name = "huber"

    def __init__(self, delta=1.0):
        self.delta = in_range("delta", delta, low_open=True)

    def get_config(self):
        return {"delta": self.delta}


class _SoftmaxLoss(Loss):
    output = "softmax"
    accuracy = "argmax"

    def targets(self, y, outputs, dtype):
        """Integer class labels, shaped (rows,) or (rows, 1) as Keras's sparse
        cross-entropy takes them, become one-hot; a (rows, outputs) matrix of
        class probabilities (one-hot included) is taken as it is. A (rows, 1)
        y of non-integer values is refused (ValueError)."""
        t = np.asarray(y)
        if t.ndim == 2 and t.shape[1] == 1 and outputs > 1:
            # One column for several outputs can only hold class labels (a
            # softmax over one output is refused at compile).
            if t.dtype.kind == "f" and (t != np.round(t)).any():  # NaN included
                raise ValueError(
                    f"y has shape {t.shape} with non-integer values; for {outputs} outputs "
                    f"pass integer class labels, shaped ({len(t)},) or ({len(t)}, 1), or "
                    f"class probability rows, shaped ({len(t)}, {outputs})")
            t = t[:, 0]
        if t.ndim == 1:
            return _one_hot(t, outputs, dtype)
        t = super().targets(t, outputs, dtype)
        _check_probabilities(t)
        return t


def _one_hot(labels, outputs, dtype):
    """(rows, outputs) one-hot rows of `dtype` from class labels in [0, outputs)."""
    if labels.dtype.kind not in "biuf":
        raise TypeError(f"class labels must be integers, got {labels.dtype} values")
    if labels.dtype.kind == "f":
        fractional = np.flatnonzero(labels != np.round(labels))  # NaN included
        if fractional.size:
            row = fractional[0]
            raise TypeError(f"class labels must be integers, got {labels[row]} at row {row}")
    # Checked before the cast to int64, which would turn inf, 1e30 or a uint64
    # beyond 2**63 into other numbers.
    if labels.size and (labels.min() < 0 or labels.max() >= outputs):
        raise ValueError(f"class labels must be in [0, {outputs}) for {outputs} "
                         f"outputs; got labels from {labels.min()} to {labels.max()}")
    onehot = np.zeros((len(labels), outputs), dtype=dtype)
    onehot[np.arange(len(labels)), labels.astype(np.int64)] = 1
    return onehot


def _check_probabilities(t):
    """ValueError unless every row of t is >= 0 and not all zeros. Rows need not
    sum to 1, as in PyTorch (the gradient is p * sum(t) - t), but an all-zero
    row has no class at all: its loss and gradient are 0, so it would
    silently train nothing."""
    negative = np.flatnonzero((t < 0).any(axis=1))
    if negative.size:
        row = negative[0]
        raise ValueError(f"target probabilities must be >= 0; row {row} has {t[row].min():g}")
    empty = np.flatnonzero(~t.any(axis=1))
    if empty.size:
        raise ValueError(f"target row {empty[0]} is all zeros ({empty.size} of {len(t)} rows "
                         "are): a row needs a class probability > 0; pass class labels "
                         "(rows,) or probability rows")


class CrossEntropy(_SoftmaxLoss):
    """mean over rows of -sum_j t_j log softmax(z)_j; fused with a softmax output."""

    name = "cross_entropy"


class KLDivergence(_SoftmaxLoss):
    """mean over elements of t (log t - log softmax(z)) (PyTorch's 'mean')."""

    name = "kl_divergence"


class BinaryCrossEntropy(Loss):
    """mean over elements of -(t log p + (1 - t) log(1 - p)), p = sigmoid(z),
    fused with a sigmoid output; binary and multi-label targets in [0, 1]."""

    name = "binary_cross_entropy"
    output = "sigmoid"
    accuracy = "sigmoid"

    def targets(self, y, outputs, dtype):
        t = super().targets(y, outputs, dtype)
        if ((t < 0) | (t > 1)).any():
            raise ValueError("binary cross-entropy targets must lie in [0, 1]")
        return t


class Hinge(Loss):
    """mean(max(0, 1 - t y)) over elements, labels t in {-1, 1} (or {0, 1},
    read as -1 and 1), on a linear output."""

    name = "hinge"
    accuracy = "sign"

    def targets(self, y, outputs, dtype):
        t = super().targets(y, outputs, dtype)
        values = np.unique(t)
        if set(values.tolist()) <= {0.0, 1.0}:
            return np.ascontiguousarray(2 * t - 1)
        if not set(values.tolist()) <= {-1.0, 1.0}:
            raise ValueError(f"hinge labels must be -1/1 or 0/1, got values {values[:5]}")
        return t


_BY_NAME = {cls.name: cls for cls in (MSE, MAE, Huber, CrossEntropy, BinaryCrossEntropy,
                                      KLDivergence, Hinge)}
_ALIASES = {"mean_squared_error": "mse", "mean_absolute_error": "mae", "l1": "mae",
            "categorical_crossentropy": "cross_entropy", "crossentropy": "cross_entropy",
            "sparse_categorical_crossentropy": "cross_entropy",
            "binary_crossentropy": "binary_cross_entropy", "bce": "binary_cross_entropy",
            "kld": "kl_divergence", "kl_div": "kl_divergence"}
assert set(_BY_NAME) == set(_core.LOSSES), "csrc/nn/net.c and losses.py disagree"


def get(identifier):
    """A Loss from an instance or a name."""
    return lookup(identifier, Loss, _BY_NAME, _ALIASES, "loss", "losses")
