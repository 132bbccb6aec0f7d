"""Learning-rate schedules (``fastmlp.schedules``), applied once per epoch.

A schedule is called as ``schedule(epoch, base_lr)`` and returns the learning
rate to use during `epoch` (counted from 0). It is a pure function of its two
arguments, so training resumed at some epoch uses the rate it would have used
had it never stopped. Pass one to ``callbacks.LearningRateScheduler``. (A
plain function given to that callback is called as Keras calls it,
``f(epoch, lr)`` with the optimizer's current rate; wrap it in
:class:`LambdaSchedule` to have it called with the base rate instead.)

The classes follow PyTorch's schedulers where PyTorch has one. Schedules have no
names to look up: each needs an argument (a step size, a rate, a period), so
:func:`get` takes only a Schedule or a function ``f(epoch, base_lr) -> lr``.
"""
import math

from fastmlp._checks import count as _int_at_least, finite as _finite

__all__ = ["Schedule", "StepDecay", "ExponentialDecay", "InverseTimeDecay", "CosineDecay",
           "LambdaSchedule", "get"]


def _learning_rate(name, value):
    """value as a float, finite and >= 0, else an error naming it."""
    value = _finite(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def _decay_factor(name, value):
    value = _finite(name, value)
    if not 0 < value <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {value}")
    return value


class Schedule:
    """Base class: ``schedule(epoch, base_lr)`` -> learning rate for that epoch.

    Subclasses implement ``lr_at(epoch, base_lr)``; ``__call__`` checks the
    arguments (epoch an int >= 0, base_lr finite and >= 0) and returns a float.
    Those with constructor arguments also override ``get_config``.
    """

    def __call__(self, epoch, base_lr):
        epoch = _int_at_least("epoch", epoch, 0)
        base_lr = _learning_rate("base_lr", base_lr)
        return float(self.lr_at(epoch, base_lr))

    def lr_at(self, epoch, base_lr):
        raise NotImplementedError

    def get_config(self):
        """The constructor arguments: ``type(s)(**s.get_config())`` is a copy."""
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class StepDecay(Schedule):
    """``base_lr * gamma ** (epoch // step_size)``: multiplied by `gamma` every
    `step_size` epochs (PyTorch's StepLR)."""

    def __init__(self, step_size, gamma=0.1):
        self.step_size = _int_at_least("step_size", step_size, 1)
        self.gamma = _decay_factor("gamma", gamma)

    def lr_at(self, epoch, base_lr):
        return base_lr * self.gamma ** (epoch // self.step_size)

    def get_config(self):
        return {"step_size": self.step_size, "gamma": self.gamma}


class ExponentialDecay(Schedule):
    """``base_lr * gamma ** epoch`` (PyTorch's ExponentialLR)."""

    def __init__(self, gamma):
        self.gamma = _decay_factor("gamma", gamma)

    def lr_at(self, epoch, base_lr):
        return base_lr * self.gamma ** epoch

    def get_config(self):
        return {"gamma": self.gamma}


class InverseTimeDecay(Schedule):
    """``base_lr / (1 + decay_rate * epoch / decay_steps)``: the 1/t schedule
    (Keras's InverseTimeDecay, counted in epochs, without staircase)."""

    def __init__(self, decay_rate, decay_steps=1):
        self.decay_rate = _finite("decay_rate", decay_rate)
        if self.decay_rate < 0:
            raise ValueError(f"decay_rate must be >= 0, got {decay_rate}")
        self.decay_steps = _finite("decay_steps", decay_steps)
        if self.decay_steps <= 0:
            raise ValueError(f"decay_steps must be > 0, got {decay_steps}")

    def lr_at(self, epoch, base_lr):
        return base_lr / (1.0 + self.decay_rate * epoch / self.decay_steps)

    def get_config(self):
        return {"decay_rate": self.decay_rate, "decay_steps": self.decay_steps}


class CosineDecay(Schedule):
    """Cosine annealing from base_lr to `eta_min` over `T_max` epochs (PyTorch's
    CosineAnnealingLR, without restarts)::

        eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / T_max)) / 2

    After T_max the same formula goes on, as PyTorch's does: the rate climbs
    back to base_lr at 2 T_max, and so on. Set T_max to the number of epochs to
    end training at eta_min.
    """

    def __init__(self, T_max, eta_min=0.0):  # noqa: N803 (PyTorch's name)
        self.T_max = _int_at_least("T_max", T_max, 1)
        self.eta_min = _learning_rate("eta_min", eta_min)

    def lr_at(self, epoch, base_lr):
        cosine = (1.0 + math.cos(math.pi * epoch / self.T_max)) / 2.0
        return self.eta_min + (base_lr - self.eta_min) * cosine

    def get_config(self):
        return {"T_max": self.T_max, "eta_min": self.eta_min}


class LambdaSchedule(Schedule):
    """A function ``fn(epoch, base_lr) -> lr`` as a Schedule; the rate it returns
    must be a real number (not a bool or a str), finite and >= 0.

    ``callbacks.LearningRateScheduler(LambdaSchedule(fn))`` calls `fn` with the
    base rate; ``LearningRateScheduler(fn)`` would call it with the current
    rate, as Keras does."""

    def __init__(self, fn):
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        self.fn = fn

    def lr_at(self, epoch, base_lr):
        return _learning_rate(f"the lr returned by the schedule function at epoch {epoch}",
                              self.fn(epoch, base_lr))

    def get_config(self):
        return {"fn": self.fn}


def get(identifier, function="f(epoch, base_lr) -> lr"):
    """A Schedule from an instance (returned as is) or a function
    ``f(epoch, base_lr) -> lr`` (wrapped in a LambdaSchedule). Names are not
    accepted, since every schedule needs an argument. `function`: how the
    errors name the function a caller takes."""
    if isinstance(identifier, Schedule):
        return identifier
    if isinstance(identifier, str):
        raise ValueError(
            f"schedules are not looked up by name ({identifier!r}): each needs arguments; "
            "pass an instance such as StepDecay(step_size=10), ExponentialDecay(gamma=0.95), "
            f"InverseTimeDecay(decay_rate=0.5) or CosineDecay(T_max=epochs), or {function}")
    if isinstance(identifier, type) and issubclass(identifier, Schedule):
        raise TypeError(f"pass an instance of {identifier.__name__}, not the class")
    if callable(identifier):
        return LambdaSchedule(identifier)
    raise TypeError(f"schedule must be a Schedule or a function {function}, got "
                    f"{type(identifier).__name__}")
