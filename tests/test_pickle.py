"""Pickling and copying a Sequential: pickle, copy.deepcopy, joblib, and a
spawned multiprocessing Pool (the model pickled to and from the workers).
Compiled C handles are dropped and rebuilt on use; predictions are bitwise
equal, and a copy of a fitted model trains on exactly like the original."""
import copy
import multiprocessing
import pickle

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import optim


def _data(rows=64, features=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((rows, features)), rng.integers(0, 4, rows)


def _model(dtype="float32", compiled=True, seed=3):
    model = fm.Sequential([fm.Dense(12, fm.activations.GELU()), fm.Dropout(0.2),
                           fm.Maxout(5, pieces=3), fm.Dense(4, "softmax")],
                          input_dim=6, dtype=dtype, seed=seed)
    if compiled:
        model.compile("cross_entropy", optim.RMSprop(lr=0.01, momentum=0.5, centered=True),
                      metrics=["accuracy"])
    return model


def _fitted(dtype="float32"):
    X, y = _data()
    model = _model(dtype)
    model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    model.predict(X)  # the inference handle exists too
    return model


def _same(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(x.dtype == y.dtype and np.array_equal(x, y)
                                      for x, y in zip(wa, wb))


def _pickled(model, protocol=pickle.HIGHEST_PROTOCOL):
    return pickle.loads(pickle.dumps(model, protocol))


# Run in the worker processes: module-level, so that they can import it.
def predict(model_and_rows):
    model, X = model_and_rows
    return model.predict(X)


def fit_more(model_and_data):
    model, X, y = model_and_data
    model.fit(X, y, epochs=4, initial_epoch=2, batch_size=8, verbose=0)
    return model


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pickle_round_trip(protocol, dtype):
    X, _ = _data()
    model = _fitted(dtype)
    copied = _pickled(model, protocol)
    assert _same(model, copied) and copied._step == model._step
    assert copied._net is None and copied._inference_net is None
    assert np.array_equal(copied.predict(X), model.predict(X))
    assert copied.evaluate(*_data()) == model.evaluate(*_data())


@pytest.mark.parametrize("make", [lambda: _model(compiled=False), _model,
                                  lambda: fm.Sequential([fm.Dense(2)], seed=1)],
                         ids=["uncompiled", "compiled", "unbuilt"])
def test_pickle_before_training(make):
    model = make()
    copied = _pickled(model)
    assert copied.built == model.built and type(copied.loss) is type(model.loss)
    if model.built:
        X, _ = _data()
        assert _same(model, copied)
        assert np.array_equal(copied.predict(X), model.predict(X))


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_copy_of_fitted_model_trains_on_identically(how):
    X, y = _data()
    model = _fitted()
    copied = _pickled(model) if how == "pickle" else copy.deepcopy(model)
    for m in (model, copied):
        m.fit(X, y, epochs=4, initial_epoch=2, batch_size=8, verbose=0)
    assert _same(model, copied) and copied._step == model._step
    assert np.array_equal(copied.predict(X), model.predict(X))


def test_deepcopy_is_independent():
    X, y = _data()
    model = _fitted()
    before = model.get_weights()
    copied = copy.deepcopy(model)
    assert np.array_equal(copied.predict(X), model.predict(X))
    copied.fit(X, y, epochs=1, verbose=0)
    assert not _same(copied, model)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))
    assert copied.optimizer is not model.optimizer
    assert copied.layers[0].weights[0] is not model.layers[0].weights[0]


def test_pickle_keeps_history():
    model = _fitted()
    copied = _pickled(model)
    assert copied.history.history == model.history.history


def test_spawned_pool_predicts_and_trains_like_this_process():
    """Models cross process boundaries both ways, as with joblib or a Pool."""
    X, y = _data()
    model = _fitted()
    chunks = np.array_split(X, 3)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        predictions = pool.map(predict, [(model, chunk) for chunk in chunks])
        trained = pool.apply(fit_more, ((model, X, y),))
    assert np.array_equal(np.concatenate(predictions), model.predict(X))
    fit_more((model, X, y))
    assert _same(trained, model) and trained._step == model._step
    assert np.array_equal(trained.predict(X), model.predict(X))


def test_joblib_dump_and_load(tmp_path):
    joblib = pytest.importorskip("joblib")
    X, _ = _data()
    model = _fitted()
    joblib.dump(model, tmp_path / "m.joblib")
    copied = joblib.load(tmp_path / "m.joblib")
    assert _same(model, copied)
    assert np.array_equal(copied.predict(X), model.predict(X))
