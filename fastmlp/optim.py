"""Optimizers: PyTorch's update rules (torch.optim, maximize=False), run by
the compiled core (csrc/nn/optim.c). PyTorch's keyword arguments about how
its update runs (foreach, fused, ...) are accepted where fastmlp's update
does what they ask, and raise NotImplementedError where it does not.

An optimizer here holds hyper-parameters only, validated whenever they are
set; the training loop keeps, for each parameter array, the state arrays of
`init_state`, in this order:

    SGD       momentum_buffer (only when momentum != 0)
    Adagrad   sum (starts at initial_accumulator_value)
    RMSprop   square_avg, momentum_buffer (when momentum > 0), grad_avg (when centered)
    Adadelta  square_avg, acc_delta
    Adam(W)   exp_avg, exp_avg_sq, max_exp_avg_sq (when amsgrad)
"""
import math
import numbers

import numpy as np

from fastmlp import _aligned, _core

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "get"]


def _real(name, value, upper=math.inf, upper_open=False):
    """value as a float in [0, upper] (or [0, upper)), else an error naming it."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, not {type(value).__name__}")
    try:
        v = float(value)
    except OverflowError:  # an int too large for a float
        v = math.inf
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if v < 0 or v > upper or (upper_open and v == upper):
        bound = ">= 0" if upper == math.inf else f"in [0, {upper:g}{')' if upper_open else ']'}"
        raise ValueError(f"{name} must be {bound}, got {v}")
    return v


def _nonnegative(name, value):
    return _real(name, value)


def _fraction(name, value):
    return _real(name, value, 1.0)


def _eps(name, value):
    """A denominator's guard, > 0."""
    v = _real(name, value)
    if v == 0:
        raise ValueError(f"{name} must be > 0: {name} = 0 divides 0 by 0 wherever a "
                         "gradient is 0, and training stops with a non-finite update")
    return v


def _flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return bool(value)


def _betas(name, value):
    try:
        beta1, beta2 = value
    except TypeError:
        raise TypeError(f"{name} must be a pair of real numbers, not {type(value).__name__}") from None
    except ValueError:
        raise ValueError(f"{name} must be a pair of real numbers, got {value!r}") from None
    return (_real(f"{name}[0]", beta1, 1.0, upper_open=True),
            _real(f"{name}[1]", beta2, 1.0, upper_open=True))


# PyTorch's keyword arguments about how its update runs rather than what it
# computes, with the values fastmlp's update amounts to. foreach and fused
# choose between PyTorch's implementations of one formula: fastmlp has one
# (a fused loop), so any value is accepted. The others change what is
# computed, or serve autograd and CUDA graphs; only their defaults are taken.
_TORCH_HINTS = ("foreach", "fused")
_TORCH_UNSUPPORTED = {"maximize": "fastmlp's optimizers minimise the loss",
                      "capturable": "it serves CUDA graphs",
                      "differentiable": "it serves autograd through the step"}


def _torch_options(cls_name, options):
    """Accept PyTorch's options with a value fastmlp follows; a TypeError for
    an unknown name, NotImplementedError for a value it does not."""
    for name, value in options.items():
        if name in _TORCH_HINTS:
            if value is not None and not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name} must be None or a bool, not {type(value).__name__}")
        elif name in _TORCH_UNSUPPORTED:
            if not (isinstance(value, (bool, np.bool_)) and not value):  # False only
                raise NotImplementedError(f"{cls_name}({name}={value!r}) is not implemented: "
                                          f"{_TORCH_UNSUPPORTED[name]}")
        elif name == "decoupled_weight_decay" and cls_name in ("Adam", "AdamW"):
            if bool(value) != (cls_name == "AdamW"):  # AdamW is Adam with it on
                raise NotImplementedError(
                    f"{cls_name}(decoupled_weight_decay={value!r}) is not implemented under "
                    f"that name: it is fm.optim.{'AdamW' if value else 'Adam'}")
        else:
            raise TypeError(f"{cls_name}() got an unexpected keyword argument {name!r}")


class Optimizer:
    """An update rule and its hyper-parameters.

    Subclasses give `kind`, the C core's name for the rule, and `_checks`: each
    hyper-parameter's validator, in the constructor's order. Setting a
    hyper-parameter validates it (a schedule may change `lr` between epochs);
    setting any other public attribute is an AttributeError, so that a
    misspelt name (Keras's `learning_rate`) is not silently ignored.

    One more attribute is not a hyper-parameter: `initial_lr`, the base rate
    a ``callbacks.LearningRateScheduler`` decays from (PyTorch keeps it in its
    param groups under that name). It is None until such a scheduler starts,
    and model files keep it, so that a fit resumed at a later epoch, from a
    checkpoint or not, continues the schedule instead of decaying the
    already decayed rate.
    """

    kind = None
    _checks = {}
    initial_lr = None

    def __init__(self, torch_options=None, **hyper):
        _torch_options(type(self).__name__, torch_options or {})
        checked = {name: self._checks[name](name, value) for name, value in hyper.items()}
        self._check_together(checked)
        self.__dict__.update(checked)

    def __setattr__(self, name, value):
        check = self._checks.get(name)
        if check is not None:
            value = check(name, value)
            self._check_together({**self.get_config(), name: value})
        elif name == "initial_lr":
            value = None if value is None else _real(name, value)
        elif not name.startswith("_"):
            raise AttributeError(f"{type(self).__name__} has no hyper-parameter {name!r}; "
                                 f"its hyper-parameters are {', '.join(self._checks)}")
        object.__setattr__(self, name, value)

    @staticmethod
    def _check_together(hyper):
        """Raises ValueError when hyper-parameters valid one by one conflict."""

    def get_config(self):
        """The constructor's keyword arguments: type(self)(**get_config()) is an equal optimizer."""
        return {name: getattr(self, name) for name in self._checks}

    def config(self):
        """The fields of the C core's fm_optimizer, by name, for _core.optimizer_step."""
        return {"kind": self.kind, **self.get_config()}

    def state_count(self):
        """How many state arrays each parameter needs (the C core's count)."""
        return _core.optimizer_state_count(self.config())

    def state_names(self):
        """PyTorch's names of the state arrays each parameter needs, in order:
        what the current settings make the update read."""
        raise NotImplementedError

    def init_state(self, param):
        """The state arrays of parameter `param` before the first step: zeros
        of its shape and dtype."""
        return [_aligned.full(param.shape, param.dtype) for _ in range(self.state_count())]

    def step(self, params, grads, states, step):
        """Updates each parameter and its states in place; `step` counts updates from 1.

        params, grads: sequences of C-contiguous float32 or float64 arrays of
        matching shapes and one dtype; states: for each parameter, the list
        from init_state, kept from one step to the next.
        """
        if not len(params) == len(grads) == len(states):
            raise ValueError(f"got {len(params)} params, {len(grads)} grads and "
                             f"{len(states)} state lists; expected one of each per parameter")
        config = self.config()
        for p, g, s in zip(params, grads, states):
            _core.optimizer_step(config, step, _flat(p, "param"), _flat(g, "grad"),
                                 [_flat(x, "state") for x in s])

    def __repr__(self):
        args = ", ".join(f"{name}={value!r}" for name, value in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _flat(a, name):
    """a as a 1-D view, so the update writes through to a; the binding checks
    the rest."""
    if isinstance(a, np.ndarray) and a.ndim != 1:
        if not a.flags.c_contiguous:
            raise ValueError(f"each {name} must be C-contiguous")
        return a.reshape(-1)
    return a


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum and L2
    weight decay, as torch.optim.SGD."""

    kind = "sgd"
    _checks = {"lr": _nonnegative, "momentum": _nonnegative, "dampening": _fraction,
               "weight_decay": _nonnegative, "nesterov": _flag}

    def __init__(self, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 **torch_options):
        super().__init__(torch_options, lr=lr, momentum=momentum, dampening=dampening,
                         weight_decay=weight_decay, nesterov=nesterov)

    @staticmethod
    def _check_together(hyper):
        if hyper["nesterov"] and (hyper["momentum"] <= 0 or hyper["dampening"] != 0):
            raise ValueError("nesterov=True requires momentum > 0 and dampening == 0")

    def state_names(self):
        return ("momentum_buffer",) if self.momentum != 0 else ()


class Adagrad(Optimizer):
    """Adagrad, as torch.optim.Adagrad."""

    kind = "adagrad"
    _checks = {"lr": _nonnegative, "lr_decay": _nonnegative, "weight_decay": _nonnegative,
               "initial_accumulator_value": _nonnegative, "eps": _eps}

    def __init__(self, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, **torch_options):
        super().__init__(torch_options, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                         initial_accumulator_value=initial_accumulator_value, eps=eps)

    def config(self):
        config = super().config()
        del config["initial_accumulator_value"]  # the state's start, not part of the update
        return config

    def init_state(self, param):
        """[sum], filled with initial_accumulator_value."""
        return [_aligned.full(param.shape, param.dtype, self.initial_accumulator_value)]

    def state_names(self):
        return ("sum",)


class RMSprop(Optimizer):
    """RMSprop, optionally centered and with momentum, as torch.optim.RMSprop."""

    kind = "rmsprop"
    _checks = {"lr": _nonnegative, "alpha": _fraction, "eps": _eps,
               "weight_decay": _nonnegative, "momentum": _nonnegative, "centered": _flag}

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, **torch_options):
        super().__init__(torch_options, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                         momentum=momentum, centered=centered)

    def state_names(self):
        return (("square_avg",) + (("momentum_buffer",) if self.momentum > 0 else ())
                + (("grad_avg",) if self.centered else ()))


class Adadelta(Optimizer):
    """Adadelta, as torch.optim.Adadelta."""

    kind = "adadelta"
    _checks = {"lr": _nonnegative, "rho": _fraction, "eps": _eps,
               "weight_decay": _nonnegative}

    def __init__(self, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, **torch_options):
        super().__init__(torch_options, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)

    def state_names(self):
        return ("square_avg", "acc_delta")


class Adam(Optimizer):
    """Adam (AMSGrad optionally) with L2 weight decay, as torch.optim.Adam."""

    kind = "adam"
    _checks = {"lr": _nonnegative, "betas": _betas, "eps": _eps,
               "weight_decay": _nonnegative, "amsgrad": _flag}

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
                 **torch_options):
        super().__init__(torch_options, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)

    def config(self):
        config = super().config()
        config["beta1"], config["beta2"] = config.pop("betas")
        return config

    def state_names(self):
        return ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if self.amsgrad else ())


class AdamW(Adam):
    """Adam with decoupled weight decay (the parameters shrink by
    1 - lr * weight_decay each step), as torch.optim.AdamW."""

    kind = "adamw"

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, **torch_options):
        super().__init__(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, **torch_options)


_BY_NAME = {cls.kind: cls for cls in (SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW)}


def get(identifier):
    """An optimizer from an Optimizer (returned as is) or a name, any case
    ("adam"), which gives one with the default hyper-parameters."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown optimizer {identifier!r}; expected one of "
                             f"{', '.join(_BY_NAME)} or an Optimizer")
        return cls()
    raise TypeError(f"an optimizer must be a name or an Optimizer, not {type(identifier).__name__}")
