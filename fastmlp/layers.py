"""Layers of a Sequential model: Dense, Dropout and Maxout.

A layer validates its settings, creates its parameters when the model is
built, and describes itself to the C network (`spec`). The computation is in
csrc/nn.
"""
import weakref

import numpy as np

from fastmlp import _aligned, activations, init
from fastmlp._checks import count, in_range


class Layer:
    """Base of the layers; `kind` names the C layer type."""

    kind = ""
    weights = ()  # the parameter arrays once built: [W, b] or ()
    _model = None  # a weak reference to the model that holds the layer

    def attach(self, model):
        """Record that `model` holds this layer. A layer belongs to one model:
        building another would replace the parameters the first one uses."""
        owner = self._model() if self._model is not None else None
        if owner is not None and owner is not model:
            raise ValueError(f"this {type(self).__name__} layer already belongs to another model;"
                             " give each model layers of its own (copy.deepcopy(layer) makes one)")
        self._model = weakref.ref(model)

    def detach(self):
        """Free the layer for another model (after a model could not be made)."""
        self._model = None

    def __getstate__(self):
        # A copy or an unpickled layer belongs to no model until one takes it.
        state = self.__dict__.copy()
        state.pop("_model", None)
        return state

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
        self.units = count("units", units, 1)
        self.kernel_initializer = init.get(kernel_initializer)
        self.bias_initializer = init.get(bias_initializer)
        self.l1 = in_range("l1", l1)
        self.l2 = in_range("l2", l2)
        self.max_norm = None if max_norm is None else in_range("max_norm", max_norm, low_open=True)

    def build(self, input_dim, dtype, rng):
        self.input_dim = input_dim
        cols = self.units * self.pieces
        self.weights = [
            _aligned.copy(self.kernel_initializer((input_dim, cols), rng, dtype)),
            _aligned.copy(self.bias_initializer((cols,), rng, dtype)),
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
            kernel_initializer = init.default_for(self.activation)
        super().__init__(units, kernel_initializer, bias_initializer, l1, l2, max_norm)

    def build(self, input_dim, dtype, rng):
        # The kernels take the activation's parameter in the model's dtype.
        if abs(self.activation.param) > np.finfo(dtype).max:
            raise ValueError(f"{self.activation!r} is beyond the range of {np.dtype(dtype)}")
        return super().build(input_dim, dtype, rng)

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
        self.pieces = count("pieces", pieces, 1)

    def get_config(self):
        return dict(super().get_config(), pieces=self.pieces)


class Dropout(Layer):
    """Inverted dropout: in training each input is zeroed with probability
    `rate` and the rest scaled by 1 / (1 - rate); at inference, the identity."""

    kind = "dropout"

    def __init__(self, rate):
        self.rate = in_range("rate", rate, high=1.0)

    def build(self, input_dim, dtype, rng):
        self.input_dim = self.units = input_dim
        return input_dim

    def spec(self):
        return dict(super().spec(), rate=self.rate)

    def get_config(self):
        return {"rate": self.rate}
