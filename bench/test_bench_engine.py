"""pytest-benchmark cases for the network engine's hot spots outside the GEMM:
one optimizer step over a 784x256 weight matrix for each optimizer, one-row
prediction of the mnist network, and one training epoch of the tabular
workload. Not part of the normal test run (testpaths = ["tests"]):

    PYTHONPATH=. python -m pytest bench/test_bench_engine.py --benchmark-only
"""
import numpy as np
import pytest

import fastmlp as fm
from fastmlp import _core

OPTIMIZERS = {
    "sgd": fm.optim.SGD(lr=0.01), "sgd-momentum": fm.optim.SGD(lr=0.01, momentum=0.9),
    "adagrad": fm.optim.Adagrad(), "rmsprop": fm.optim.RMSprop(),
    "rmsprop-centered-momentum": fm.optim.RMSprop(momentum=0.9, centered=True),
    "adadelta": fm.optim.Adadelta(), "adam": fm.optim.Adam(),
    "adamw-amsgrad": fm.optim.AdamW(amsgrad=True),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_step(benchmark, name):
    rng = np.random.default_rng(0)
    opt = OPTIMIZERS[name]
    p = rng.standard_normal(784 * 256).astype(np.float32)
    g = (rng.standard_normal(p.size) * 1e-3).astype(np.float32)
    states = opt.init_state(p)
    benchmark.group = "optimizer step, 784x256 float32"
    # (The same gradient thousands of times over can drive centered RMSprop's
    # variance estimate below zero, as in PyTorch: the values are not checked.)
    benchmark(_core.optimizer_step, opt.config(), 2, p, g, states)


def test_predict_one_row(benchmark):
    model = fm.Sequential([fm.Dense(256, activation="relu"), fm.Dense(128, activation="relu"),
                           fm.Dense(10, activation="softmax")], input_dim=784, seed=0)
    x = np.random.default_rng(0).standard_normal((1, 784)).astype(np.float32)
    out = benchmark(model.predict, x)
    assert out.shape == (1, 10)


def test_tabular_epoch(benchmark):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100_000, 32)).astype(np.float32)
    y = np.tanh(X @ rng.standard_normal(32)).astype(np.float32)
    model = fm.Sequential([fm.Dense(64, activation="relu"), fm.Dense(64, activation="relu"),
                           fm.Dense(1)], input_dim=32, seed=0)
    model.compile(loss="mse", optimizer="adam")
    history = benchmark.pedantic(model.fit, args=(X, y), rounds=5, warmup_rounds=1,
                                 kwargs=dict(epochs=1, batch_size=64, verbose=0))
    assert np.isfinite(history.history["loss"][-1])
