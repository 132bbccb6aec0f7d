"""Argument checks shared by the public constructors: each returns the value
in its canonical type or raises TypeError (wrong kind) / ValueError (wrong
value) naming the argument."""
import math
import numbers
import operator

import numpy as np

from fastmlp import _core


def finite(name, value):
    """`value` as a float; TypeError unless a real number, ValueError unless finite."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    try:
        value = float(value)
    except OverflowError:  # an int beyond the float range
        value = math.inf if value > 0 else -math.inf
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def finite_array(x, name):
    """Raise ValueError when the float32/float64 array x holds NaN or infinity."""
    if not _core.all_finite(np.ascontiguousarray(x)):
        raise ValueError(f"{name} contains NaN or infinity")


def finite_cast(x, dtype, name):
    """The numeric array x as a C-contiguous, aligned array of `dtype`;
    ValueError naming `name` if it holds NaN or infinity, or values beyond
    the range of `dtype` (which the cast makes infinite)."""
    with np.errstate(over="ignore"):  # reported below, in words
        cast = np.require(x, dtype=dtype, requirements=["C", "A"])  # "A": aligned
    if not _core.all_finite(cast):
        if np.isfinite(x).all():
            raise ValueError(f"{name} holds values beyond the range of {np.dtype(dtype)}")
        raise ValueError(f"{name} contains NaN or infinity")
    return cast


def count(name, value, minimum):
    """`value` as an int; TypeError unless an integer, ValueError if below `minimum`."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got bool")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def in_range(name, value, low=0.0, high=math.inf, *, low_open=False):
    """finite(value), in [low, high) (or (low, high) when low_open)."""
    value = finite(name, value)
    if value < low or (low_open and value == low) or value >= high:
        interval = f"{'(' if low_open else '['}{low}, {high})"
        raise ValueError(f"{name} must be in {interval}, got {value}")
    return value


def lookup(identifier, base, by_name, aliases, what, module):
    """An instance of `base` from an instance or a case-insensitive name (or
    alias) in `by_name`, constructed with its defaults."""
    if isinstance(identifier, base):
        return identifier
    if isinstance(identifier, str):
        name = aliases.get(identifier.lower(), identifier.lower())
        if name not in by_name:
            raise ValueError(f"unknown {what} {identifier!r}; expected one of "
                             f"{', '.join(sorted(by_name) + sorted(aliases))}")
        return by_name[name]()
    raise TypeError(f"{what} must be a name or an fm.{module} object, "
                    f"not {type(identifier).__name__}")
