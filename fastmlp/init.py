"""Weight initialisers (``fastmlp.init``).

An initialiser is an object called as ``init(shape, rng, dtype)``: it returns a
new array of that shape and dtype, drawn from ``rng`` (a
``numpy.random.Generator``). ``shape`` is ``(fan_in, fan_out)`` for a weight
matrix, stored (in, out), or ``(fan_out,)`` for a bias.

Values are drawn in float64 and then cast, so one seed gives the same weights,
up to rounding, in float32 and in float64.

Names accepted by :func:`get`::

    uniform, normal, zeros, constant,
    lecun_normal, lecun_uniform,
    glorot_normal, glorot_uniform   (aliases xavier_normal, xavier_uniform)
    he_normal, he_uniform           (aliases kaiming_normal, kaiming_uniform)
"""
import math
import operator

import numpy as np

from fastmlp._checks import finite as _finite

__all__ = [
    "Initializer", "Uniform", "Normal", "Zeros", "Constant",
    "LecunNormal", "LecunUniform", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform",
    "fans", "get", "default_for",
]


def fans(shape):
    """(fan_in, fan_out) of a weight shape (in, out), or (n, n) of a bias shape (n,)."""
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    raise ValueError(f"shape must have 1 or 2 dimensions, got {tuple(shape)!r}")


def _check_shape(shape):
    try:
        shape = tuple(operator.index(n) for n in shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of ints, got {shape!r}") from None
    if any(n < 0 for n in shape):
        raise ValueError(f"shape must not have negative sizes, got {shape!r}")
    fans(shape)  # checks the number of dimensions
    return shape


class Initializer:
    """Base class: ``init(shape, rng, dtype)`` -> ndarray of that shape and dtype.

    Subclasses implement ``sample(shape, rng)``, returning float64 values of
    `shape`; ``__call__`` checks the arguments and casts. Those with constructor
    arguments also override ``get_config``. Two initialisers are equal when of
    the same class with the same config.
    """

    def __call__(self, shape, rng, dtype):
        shape = _check_shape(shape)
        if not isinstance(rng, np.random.Generator):
            raise TypeError("rng must be a numpy.random.Generator (np.random.default_rng(seed)),"
                            f" got {type(rng).__name__}")
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"dtype must be a floating-point type, got {dtype}")
        return self.sample(shape, rng).astype(dtype, copy=False)

    def sample(self, shape, rng):
        raise NotImplementedError

    def get_config(self):
        """The constructor arguments: ``type(init)(**init.get_config())`` is a copy."""
        return {}

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self), tuple(self.get_config().items())))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Uniform(Initializer):
    """Uniform on [low, high)."""

    def __init__(self, low=-0.05, high=0.05):
        self.low = _finite("low", low)
        self.high = _finite("high", high)
        if not self.low < self.high:
            raise ValueError(f"low must be less than high, got low={low}, high={high}")

    def sample(self, shape, rng):
        return rng.uniform(self.low, self.high, shape)

    def get_config(self):
        return {"low": self.low, "high": self.high}


class Normal(Initializer):
    """Normal with the given mean and standard deviation (not truncated)."""

    def __init__(self, mean=0.0, std=0.05):
        self.mean = _finite("mean", mean)
        self.std = _finite("std", std)
        if self.std < 0:
            raise ValueError(f"std must be >= 0, got {std}")

    def sample(self, shape, rng):
        return rng.normal(self.mean, self.std, shape)

    def get_config(self):
        return {"mean": self.mean, "std": self.std}


class Constant(Initializer):
    """Every value equal to `value`."""

    def __init__(self, value=0.0):
        self.value = _finite("value", value)

    def sample(self, shape, rng):
        return np.full(shape, self.value)

    def get_config(self):
        return {"value": self.value}


class Zeros(Initializer):
    """All zeros (the usual bias initialiser)."""

    def sample(self, shape, rng):
        return np.zeros(shape)


class _VarianceScaling(Initializer):
    """Zero-mean values with variance ``scale / fan``, where fan is fan_in
    (`mode` "fan_in") or (fan_in + fan_out) / 2 ("fan_avg"): uniform on
    [-sqrt(3 var), sqrt(3 var)) if `uniform`, else normal N(0, var), not truncated.
    Subclasses set the three class attributes."""

    def sample(self, shape, rng):
        fan_in, fan_out = fans(shape)
        fan = fan_in if self.mode == "fan_in" else (fan_in + fan_out) / 2
        # A zero fan comes only with an empty shape, whose variance does not matter.
        var = self.scale / max(fan, 1)
        if self.uniform:
            limit = math.sqrt(3.0 * var)
            return rng.uniform(-limit, limit, shape)
        return rng.normal(0.0, math.sqrt(var), shape)


class LecunNormal(_VarianceScaling):
    """Normal N(0, 1/fan_in), not truncated (LeCun et al. 1998; suits SELU, tanh)."""

    scale, mode, uniform = 1.0, "fan_in", False


class LecunUniform(_VarianceScaling):
    """Uniform with variance 1/fan_in: U(-sqrt(3/fan_in), sqrt(3/fan_in))."""

    scale, mode, uniform = 1.0, "fan_in", True


class GlorotNormal(_VarianceScaling):
    """Normal N(0, 2/(fan_in + fan_out)), not truncated (Glorot & Bengio 2010);
    PyTorch's ``xavier_normal_`` with gain 1."""

    scale, mode, uniform = 1.0, "fan_avg", False


class GlorotUniform(_VarianceScaling):
    """Uniform with variance 2/(fan_in + fan_out): U(-sqrt(6/(fan_in + fan_out)),
    sqrt(6/(fan_in + fan_out))); PyTorch's ``xavier_uniform_`` with gain 1."""

    scale, mode, uniform = 1.0, "fan_avg", True


class HeNormal(_VarianceScaling):
    """Normal N(0, 2/fan_in), not truncated (He et al. 2015; suits ReLU);
    PyTorch's ``kaiming_normal_(nonlinearity="relu")``."""

    scale, mode, uniform = 2.0, "fan_in", False


class HeUniform(_VarianceScaling):
    """Uniform with variance 2/fan_in: U(-sqrt(6/fan_in), sqrt(6/fan_in));
    PyTorch's ``kaiming_uniform_(nonlinearity="relu")``."""

    scale, mode, uniform = 2.0, "fan_in", True


_BY_NAME = {
    "uniform": Uniform,
    "normal": Normal,
    "zeros": Zeros,
    "constant": Constant,
    "lecun_normal": LecunNormal,
    "lecun_uniform": LecunUniform,
    "glorot_normal": GlorotNormal,
    "glorot_uniform": GlorotUniform,
    "xavier_normal": GlorotNormal,
    "xavier_uniform": GlorotUniform,
    "he_normal": HeNormal,
    "he_uniform": HeUniform,
    "kaiming_normal": HeNormal,
    "kaiming_uniform": HeUniform,
}

# Activations whose output is not symmetric about zero (ReLU-like): He keeps the
# variance of the activations from shrinking layer after layer.
_HE_ACTIVATIONS = {"relu", "leaky_relu", "elu", "gelu", "silu", "softplus"}


def get(identifier):
    """An Initializer from an instance (returned as is) or a name (its defaults)."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier]()
        except KeyError:
            raise ValueError(f"unknown initialiser {identifier!r}; valid names: "
                             f"{', '.join(sorted(_BY_NAME))}") from None
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        raise TypeError(f"pass an instance, {identifier.__name__}(), not the class")
    raise TypeError("initialiser must be an Initializer or a name, got "
                    f"{type(identifier).__name__}")


def default_for(activation_name):
    """The default kernel initialiser for a layer with this activation: HeUniform
    for ReLU-like activations, GlorotUniform otherwise (None means linear)."""
    if activation_name in _HE_ACTIVATIONS:
        return HeUniform()
    return GlorotUniform()
