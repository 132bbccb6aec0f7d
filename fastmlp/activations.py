"""Activations (`fm.activations`): by name ("relu") or as objects (LeakyReLU(0.2)).

Each activation is computed by the C kernels of csrc/nn/activations.def; the
objects here only name one and carry its parameter. PyTorch's definitions and
defaults: LeakyReLU(alpha=0.01) (PyTorch's negative_slope), ELU(alpha=1.0),
Softplus linear above 20, GELU in its exact erf form.
"""
from fastmlp import _core
from fastmlp._checks import finite, lookup


class Activation:
    """An activation the kernels know by `name`, with parameter `param`."""

    name = "linear"

    def __init__(self):
        self.param = 0.0

    def get_config(self):
        return {}

    def __eq__(self, other):
        return type(self) is type(other) and self.param == other.param

    def __hash__(self):
        return hash((self.name, self.param))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _simple(class_name, kernel_name, doc):
    return type(class_name, (Activation,), {"name": kernel_name, "__doc__": doc})


Linear = _simple("Linear", "linear", "f(x) = x.")
Sigmoid = _simple("Sigmoid", "sigmoid", "f(x) = 1 / (1 + exp(-x)).")
Tanh = _simple("Tanh", "tanh", "f(x) = tanh(x).")
ReLU = _simple("ReLU", "relu", "f(x) = max(x, 0).")
Softplus = _simple("Softplus", "softplus", "f(x) = log(1 + exp(x)), x above 20.")
GELU = _simple("GELU", "gelu", "f(x) = x * Phi(x), Phi the standard normal CDF (erf form).")
SiLU = _simple("SiLU", "silu", "f(x) = x * sigmoid(x).")
Softmax = _simple("Softmax", "softmax", "Row-wise exp(x) / sum(exp(x)); output layers only.")


class _Parametrised(Activation):
    _param_name = ""

    def __init__(self, value, given_as=None):
        super().__init__()
        self.param = finite(given_as or self._param_name, value)

    def get_config(self):
        return {self._param_name: self.param}


class LeakyReLU(_Parametrised):
    """f(x) = x for x > 0, alpha * x otherwise; alpha is 0.01 unless given.
    PyTorch calls alpha negative_slope, which is accepted too and is the name
    model files keep."""

    name, _param_name = "leaky_relu", "negative_slope"

    def __init__(self, alpha=None, *, negative_slope=None):
        if alpha is not None and negative_slope is not None:
            raise TypeError("LeakyReLU takes alpha or negative_slope (PyTorch's name for "
                            "it), not both")
        if negative_slope is not None:
            super().__init__(negative_slope)
        else:
            super().__init__(0.01 if alpha is None else alpha, given_as="alpha")


class ELU(_Parametrised):
    """f(x) = x for x > 0, alpha * (exp(x) - 1) otherwise."""

    name, _param_name = "elu", "alpha"

    def __init__(self, alpha=1.0):
        super().__init__(alpha)


_BY_NAME = {cls.name: cls for cls in (Linear, Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softplus,
                                      GELU, SiLU, Softmax)}
_ALIASES = {"identity": "linear", "swish": "silu"}
assert set(_BY_NAME) == set(_core.ACTIVATIONS), "activations.def and activations.py disagree"


def get(identifier):
    """An Activation from an instance, a name, or None (linear)."""
    if identifier is None:
        return Linear()
    return lookup(identifier, Activation, _BY_NAME, _ALIASES, "activation", "activations")
