"""Layers of a Sequential model: Dense, Dropout and Maxout.

A layer validates its settings, creates its parameters when the model is
built, and describes itself to the C network (`spec`). The computation is in
csrc/nn.
"""
import math
import numbers

import numpy as np

from fastmlp import activations, init


def _count(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _real(name, value, *, low=0.0, high=math.inf, low_open=False, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < low or (low_open and value == low) or value >= high:
        interval = f"{'(' if low_open else '['}{low}, {high})"
        raise ValueError(f"{name} must be a finite number in {interval}, got {value}")
    return value


class Layer:
    """Base of the layers; `kind` names the C layer type."""

    kind = ""
    weights = ()  # the parameter arrays once built: [W, b] or ()

    def build(self, input_dim, dtype, rng):
        """Create the parameters for `input_dim` inputs; returns the output width."""
        raise NotImplementedError

    def spec(self):
        """The settings the C network reads (see fastmlp._core.NativeNet)."""
        return {"kind": self.kind, "in": self.input_dim, "out": self.units}

    def get_config(self):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _Weighted(Layer):
    """A layer z = x W + b with regularisers on W."""

    pieces = 1

    def __init__(self, units, kernel_initializer, bias_initializer, l1, l2, max_norm):
        self.units = _count("units", units, 1)
        self.kernel_initializer = init.get(kernel_initializer)
        self.bias_initializer = init.get(bias_initializer)
        self.l1 = _real("l1", l1)
        self.l2 = _real("l2", l2)
        self.max_norm = _real("max_norm", max_norm, low_open=True, allow_none=True)
        self.weights = ()

    def build(self, input_dim, dtype, rng):
        self.input_dim = input_dim
        cols = self.units * self.pieces
        self.weights = [
            np.ascontiguousarray(self.kernel_initializer((input_dim, cols), rng, dtype)),
            np.ascontiguousarray(self.bias_initializer((cols,), rng, dtype)),
        ]
        return self.units

    def spec(self):
        return dict(super().spec(), pieces=self.pieces, l1=self.l1, l2=self.l2,
                    max_norm=self.max_norm or 0.0)

    def get_config(self):
        return {"units": self.units, "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer, "l1": self.l1, "l2": self.l2,
                "max_norm": self.max_norm}


class Dense(_Weighted):
    """y = activation(x W + b), W of shape (inputs, units).

    kernel_initializer defaults by activation (He for the ReLU family, Glorot
    otherwise); l1, l2 add l1 sum|W| + l2 sum W^2 to the loss; max_norm caps
    the norm of each unit's incoming weights after every update."""

    kind = "dense"

    def __init__(self, units, activation=None, kernel_initializer=None,
                 bias_initializer="zeros", l1=0.0, l2=0.0, max_norm=None):
        self.activation = activations.get(activation)
        if kernel_initializer is None:
            kernel_initializer = init.default_for(self.activation.name)
        super().__init__(units, kernel_initializer, bias_initializer, l1, l2, max_norm)

    def spec(self):
        return dict(super().spec(), act=self.activation.name, act_param=self.activation.param)

    def get_config(self):
        return dict(super().get_config(), activation=self.activation)


class Maxout(_Weighted):
    """y_j = max over p < pieces of (x W + b)[j * pieces + p]: `units` outputs
    from units * pieces linear pieces (Goodfellow et al., 2013). W has shape
    (inputs, units * pieces), the pieces of unit j in adjacent columns."""

    kind = "maxout"

    def __init__(self, units, pieces=2, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", l1=0.0, l2=0.0, max_norm=None):
        super().__init__(units, kernel_initializer, bias_initializer, l1, l2, max_norm)
        self.pieces = _count("pieces", pieces, 1)

    def get_config(self):
        return dict(super().get_config(), pieces=self.pieces)


class Dropout(Layer):
    """Inverted dropout: in training each input is zeroed with probability
    `rate` and the rest scaled by 1 / (1 - rate); at inference, the identity."""

    kind = "dropout"

    def __init__(self, rate):
        self.rate = _real("rate", rate, high=1.0)

    def build(self, input_dim, dtype, rng):
        self.input_dim = self.units = input_dim
        return input_dim

    def spec(self):
        return dict(super().spec(), rate=self.rate)

    def get_config(self):
        return {"rate": self.rate}
