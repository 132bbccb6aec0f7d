"""fm.check_gradients: backpropagation against central finite differences."""
import copy

import numpy as np

from fastmlp import optim
from fastmlp._checks import count as _count, finite as _finite
from fastmlp.model import Sequential


def check_gradients(model, X, y, sample_weight=None, eps=1e-6, max_checks=None, seed=0):
    """The worst relative error between backprop and central differences
    (L(w + eps) - L(w - eps)) / 2 eps, per parameter array, in get_weights
    order. Computed in float64 on a copy of the model, dropout off, weight
    penalties included. max_checks: check at most that many elements of each
    array (chosen at random with `seed`); None checks them all.
    """
    eps = _finite("eps", eps)
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    if max_checks is not None:
        max_checks = _count("max_checks", max_checks, 1)
    model._require_compiled()
    model._require_built()
    clone = Sequential(copy.deepcopy(model.layers), input_dim=model.input_dim,
                       dtype="float64", seed=model.seed)
    clone.set_weights(model.get_weights())
    clone.compile(model.loss, optimizer=optim.SGD())
    X = clone._inputs(X)
    T = clone._targets(y, len(X))
    W = clone._row_weights(sample_weight, len(X))
    net = clone._native(training=True)
    net.loss_and_gradients(X, T, W)
    backprop = [g.copy() for g in clone._gradients]
    params = [w for layer in clone.layers for w in layer.weights]
    rng = np.random.default_rng(seed)
    worst = []
    for param, grad in zip(params, backprop):
        flat = param.reshape(-1)
        picks = np.arange(flat.size)
        if max_checks is not None and flat.size > max_checks:
            picks = rng.choice(flat.size, size=max_checks, replace=False)
        error = 0.0
        for e in picks:
            saved = flat[e]
            flat[e] = saved + eps
            up = net.loss_and_gradients(X, T, W)
            flat[e] = saved - eps
            down = net.loss_and_gradients(X, T, W)
            flat[e] = saved
            numeric, analytic = (up - down) / (2 * eps), grad.reshape(-1)[e]
            scale = max(abs(numeric) + abs(analytic), 1e-8)
            relative = abs(numeric - analytic) / scale
            if not relative <= error:  # NaN included: max() would drop it
                error = relative
        worst.append(float(error))
    return worst
