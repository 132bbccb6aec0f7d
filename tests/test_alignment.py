"""A model's parameters, gradients and optimizer state start on a 64-byte
cache line however the model came to be: built, fitted, loaded from a file,
unpickled or deep-copied (NumPy alone aligns to 16 bytes, and the kernels
that stream weights run measurably slower on a row straddling two lines)."""
import copy
import pickle

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import _aligned, optim


def _fitted(dtype, optimizer):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 7)), rng.integers(0, 3, 40)
    model = fm.Sequential([fm.Dense(13, "relu"), fm.Dropout(0.1), fm.Maxout(5, pieces=3),
                           fm.Dense(3, "softmax")], input_dim=7, dtype=dtype, seed=1)
    model.compile("cross_entropy", optimizer)
    model.fit(X, y, epochs=1, batch_size=8, verbose=0)
    return model


def _arrays(model):
    """Every array the C network reads or updates, by name."""
    named = {}
    for i, layer in enumerate(model.layers):
        for p, w in zip("Wb", layer.weights):
            named[f"layers.{i}.{p}"] = w
            for k, state in enumerate(model._optimizer_state[i]["Wb".index(p)]):
                named[f"layers.{i}.{p}.state.{k}"] = state
    for k, g in enumerate(model._gradients or ()):
        named[f"gradient {k}"] = g
    return named


def _misaligned(model):
    return {name: a.ctypes.data % _aligned.LINE for name, a in _arrays(model).items()
            if a.ctypes.data % _aligned.LINE}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", [optim.Adam(amsgrad=True), optim.Adagrad(),
                                       optim.SGD(lr=0.1, momentum=0.9)],
                         ids=["adam-amsgrad", "adagrad", "sgd-momentum"])
def test_fitted_model(dtype, optimizer):
    model = _fitted(dtype, optimizer)
    assert len(_arrays(model)) > 12
    assert _misaligned(model) == {}


@pytest.mark.parametrize("how", ["pickle", "deepcopy", "file"])
def test_restored_model(how, tmp_path):
    model = _fitted("float32", optim.Adam())
    if how == "pickle":
        restored = pickle.loads(pickle.dumps(model))
    elif how == "deepcopy":
        restored = copy.deepcopy(model)
    else:
        model.save(tmp_path / "m.fmlp")
        restored = fm.load(tmp_path / "m.fmlp")
    assert _misaligned(restored) == {}
    for mine, theirs in zip(_arrays(restored).values(), _arrays(model).values()):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize("shape", [(0,), (3, 0), (1,), (5, 7), (2, 3, 4)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_full_and_copy(shape, dtype):
    filled = _aligned.full(shape, dtype, 2.5)
    assert filled.shape == shape and filled.dtype == dtype and filled.flags.c_contiguous
    assert (filled == 2.5).all()
    source = np.arange(np.prod(shape), dtype=dtype).reshape(shape)
    copied = _aligned.copy(source[...])
    np.testing.assert_array_equal(copied, source)
    assert not np.shares_memory(copied, source)
    if filled.size:
        assert filled.ctypes.data % _aligned.LINE == copied.ctypes.data % _aligned.LINE == 0
