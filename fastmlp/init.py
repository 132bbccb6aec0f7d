"""Weight initialisers (``fastmlp.init``).

An initialiser is an object called as ``init(shape, rng, dtype)``: it returns a
new array of that shape and dtype, drawn from ``rng`` (a
``numpy.random.Generator``). ``shape`` is ``(fan_in, fan_out)`` for a weight
matrix, stored (in, out), or ``(fan_out,)`` for a bias.

Values are drawn in float64 and then cast, so one seed gives the same weights,
up to rounding, in float32 and in float64.

Names accepted by :func:`get`, in any case::

    uniform, normal, zeros, constant,
    lecun_normal, lecun_uniform,
    glorot_normal, glorot_uniform   (aliases xavier_normal, xavier_uniform)
    he_normal, he_uniform           (aliases kaiming_normal, kaiming_uniform)
"""
import math
import operator

import numpy as np

from fastmlp import activations
from fastmlp._checks import finite as _finite, lookup

__all__ = [
    "Initializer", "Uniform", "Normal", "Zeros", "Constant",
    "LecunNormal", "LecunUniform", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform",
    "calculate_gain", "fans", "get", "default_for",
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
        # Arguments checked finite can still give inf: in float32 (Constant(1e39)),
        # or past the float64 range (Normal(std=1e308), GlorotUniform(gain=1e308)).
        try:
            with np.errstate(over="ignore"):  # an overflow is the error raised below
                values = self.sample(shape, rng).astype(dtype, copy=False)
        except OverflowError:  # numpy's, for an infinite range
            values = None
        if values is None or not np.isfinite(values).all():
            raise ValueError(f"{self!r} gives values that are not finite in {dtype}")
        return values

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
    """Uniform on [a, b); PyTorch's ``uniform_`` and its defaults."""

    def __init__(self, a=0.0, b=1.0):
        self.a = _finite("a", a)
        self.b = _finite("b", b)
        if not self.a < self.b:
            raise ValueError(f"a must be less than b, got a={a}, b={b}")
        if not math.isfinite(self.b - self.a):
            raise ValueError(f"b - a must be a finite float64, got a={a}, b={b}")

    def sample(self, shape, rng):
        return rng.uniform(self.a, self.b, shape)

    def get_config(self):
        return {"a": self.a, "b": self.b}


class Normal(Initializer):
    """Normal with the given mean and standard deviation, not truncated;
    PyTorch's ``normal_`` and its defaults."""

    def __init__(self, mean=0.0, std=1.0):
        self.mean = _finite("mean", mean)
        self.std = _finite("std", std)
        if self.std < 0:
            raise ValueError(f"std must be >= 0, got {std}")

    def sample(self, shape, rng):
        return rng.normal(self.mean, self.std, shape)

    def get_config(self):
        return {"mean": self.mean, "std": self.std}


class Constant(Initializer):
    """Every value equal to `val` (PyTorch's ``constant_``, which has no
    default; 0 here, so that the name "constant" builds one)."""

    def __init__(self, val=0.0):
        self.val = _finite("val", val)

    def sample(self, shape, rng):
        return np.full(shape, self.val)

    def get_config(self):
        return {"val": self.val}


class Zeros(Initializer):
    """All zeros (the usual bias initialiser)."""

    def sample(self, shape, rng):
        return np.zeros(shape)


_GAINS = {"linear": 1.0, "identity": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0,
          "relu": math.sqrt(2.0), "selu": 0.75,
          # PyTorch's names for its convolutions, linear too, so that its init code runs
          **{f"conv{kind}{d}d": 1.0 for kind in ("", "_transpose") for d in (1, 2, 3)}}


def calculate_gain(nonlinearity, param=None):
    """PyTorch's recommended gain for a nonlinearity: 1 for linear (and
    PyTorch's conv1d, ..., conv_transpose3d) and sigmoid, 5/3 for tanh,
    sqrt(2) for relu, 3/4 for selu, and sqrt(2 / (1 + slope**2)) for
    leaky_relu (slope `param`, 0.01 if None)."""
    if not isinstance(nonlinearity, str):
        raise TypeError(f"nonlinearity must be a name, got {type(nonlinearity).__name__}")
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else _finite("param", param)
        return math.sqrt(2.0) / math.hypot(1.0, slope)  # hypot: no overflow
    if nonlinearity not in _GAINS:
        raise ValueError(f"unknown nonlinearity {nonlinearity!r}; expected one of "
                         f"{', '.join(sorted([*_GAINS, 'leaky_relu']))}")
    return _GAINS[nonlinearity]


class _VarianceScaling(Initializer):
    """Zero-mean values with variance ``gain**2 / fan``, where fan is fan_in,
    fan_out or their mean (`mode`): uniform on [-sqrt(3 var), sqrt(3 var)) if
    `uniform`, else normal N(0, var), not truncated. Subclasses set `uniform`
    and give each instance a `gain` and a `mode`."""

    uniform = False

    def sample(self, shape, rng):
        fan_in, fan_out = fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        # A zero fan comes only with an empty shape, whose variance does not matter.
        std = self.gain / math.sqrt(max(fan, 1))  # gain**2 could overflow
        if self.uniform:
            limit = math.sqrt(3.0) * std
            return rng.uniform(-limit, limit, shape)
        return rng.normal(0.0, std, shape)


class _Lecun(_VarianceScaling):
    gain, mode = 1.0, "fan_in"


class LecunNormal(_Lecun):
    """Normal N(0, 1/fan_in), not truncated (LeCun et al. 1998; suits SELU, tanh)."""


class LecunUniform(_Lecun):
    """Uniform with variance 1/fan_in: U(-sqrt(3/fan_in), sqrt(3/fan_in))."""

    uniform = True


class _Glorot(_VarianceScaling):
    mode = "fan_avg"

    def __init__(self, gain=1.0):
        self.gain = _finite("gain", gain)

    def get_config(self):
        return {"gain": self.gain}


class GlorotNormal(_Glorot):
    """Normal N(0, gain**2 * 2/(fan_in + fan_out)), not truncated (Glorot &
    Bengio 2010); PyTorch's ``xavier_normal_``."""


class GlorotUniform(_Glorot):
    """Uniform with variance gain**2 * 2/(fan_in + fan_out), on
    +-gain * sqrt(6/(fan_in + fan_out)); PyTorch's ``xavier_uniform_``."""

    uniform = True


class _He(_VarianceScaling):
    def __init__(self, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
        self.a = _finite("a", a)
        if mode not in ("fan_in", "fan_out"):
            raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
        self.mode = mode
        self.nonlinearity = nonlinearity
        self.gain = calculate_gain(nonlinearity, self.a)

    def get_config(self):
        return {"a": self.a, "mode": self.mode, "nonlinearity": self.nonlinearity}


class HeNormal(_He):
    """Normal N(0, gain**2 / fan), not truncated (He et al. 2015), with
    PyTorch's ``kaiming_normal_`` arguments: gain from `nonlinearity` and the
    negative slope `a` (sqrt(2) by default, as for ReLU), fan from `mode`."""


class HeUniform(_He):
    """Uniform with variance gain**2 / fan, on +-gain * sqrt(3 / fan); PyTorch's
    ``kaiming_uniform_`` arguments (see HeNormal)."""

    uniform = True


_BY_NAME = {
    "uniform": Uniform,
    "normal": Normal,
    "zeros": Zeros,
    "constant": Constant,
    "lecun_normal": LecunNormal,
    "lecun_uniform": LecunUniform,
    "glorot_normal": GlorotNormal,
    "glorot_uniform": GlorotUniform,
    "he_normal": HeNormal,
    "he_uniform": HeUniform,
}
_ALIASES = {"xavier_normal": "glorot_normal", "xavier_uniform": "glorot_uniform",
            "kaiming_normal": "he_normal", "kaiming_uniform": "he_uniform"}

# Activations whose output is not symmetric about zero (ReLU-like): He keeps the
# variance of the activations from shrinking layer after layer. (leaky_relu is
# one too, with a gain of its own: default_for's own case.)
_HE_ACTIVATIONS = {"relu", "elu", "gelu", "silu", "softplus"}


def get(identifier):
    """An Initializer from an instance (returned as is) or a name, any case (its defaults)."""
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        raise TypeError(f"pass an instance, {identifier.__name__}(), not the class")
    return lookup(identifier, Initializer, _BY_NAME, _ALIASES, "initialiser", "init")


def default_for(activation):
    """The default kernel initialiser for a layer with this activation (an
    fm.activations object, a name, or None for linear): HeUniform for the
    ReLU family (with the negative slope of a LeakyReLU), GlorotUniform
    otherwise."""
    activation = activations.get(activation)
    if activation.name == "leaky_relu":
        return HeUniform(a=activation.param)
    if activation.name in _HE_ACTIVATIONS:
        return HeUniform()
    return GlorotUniform()
