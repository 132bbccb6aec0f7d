"""Small problems a working MLP learns: XOR, separable classes (multi-class,
binary, multi-label) and a smooth regression. Seeded, hence deterministic."""
import numpy as np
import pytest

import fastmlp as fm

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
XOR_Y = np.array([0, 1, 1, 0], dtype=np.float64)


def _xor_model(hidden, seed):
    model = fm.Sequential([fm.Dense(hidden, activation="tanh"),
                           fm.Dense(1, activation="sigmoid")], input_dim=2, seed=seed)
    model.compile(loss="binary_cross_entropy", optimizer=fm.optim.Adam(lr=0.05),
                  metrics=["accuracy"])
    return model


def test_xor_with_two_hidden_units():
    """A 2-2-1 net has local minima on XOR: with Adam(0.05) and 500 epochs
    about half the seeds end in one (loss log(2)/2 ~ 0.347: one input pair
    left at 0.5). Seed 0 is one that reaches the global minimum."""
    model = _xor_model(2, seed=0)
    hist = model.fit(XOR_X, XOR_Y, epochs=500, batch_size=4, verbose=0)
    pred = model.predict(XOR_X)[:, 0]
    np.testing.assert_array_equal(np.round(pred), XOR_Y)
    assert hist.history["loss"][-1] < 0.05 < hist.history["loss"][0]
    assert hist.history["accuracy"][-1] == 1.0


@pytest.mark.parametrize("seed", range(4))
def test_xor_with_eight_hidden_units_for_every_seed(seed):
    """Wider, the local minima are gone in practice."""
    model = _xor_model(8, seed)
    model.fit(XOR_X, XOR_Y, epochs=300, batch_size=4, verbose=0)
    np.testing.assert_array_equal(np.round(model.predict(XOR_X)[:, 0]), XOR_Y)


def _blobs(rng, n_per_class, centers, spread=0.5):
    X = np.concatenate([c + spread * rng.standard_normal((n_per_class, len(c)))
                        for c in centers])
    y = np.repeat(np.arange(len(centers)), n_per_class)
    return X, y


def test_multiclass_softmax_on_blobs():
    rng = np.random.default_rng(0)
    centers = 3 * rng.standard_normal((4, 5))
    X, y = _blobs(rng, 60, centers)
    Xt, yt = _blobs(rng, 30, centers)
    model = fm.Sequential([fm.Dense(16, activation="relu"), fm.Dropout(0.1),
                           fm.Dense(4, activation="softmax")], input_dim=5, seed=1)
    model.compile(loss="cross_entropy", optimizer=fm.optim.Adam(lr=0.01), metrics=["accuracy"])
    hist = model.fit(X, y, epochs=30, batch_size=16, validation_split=0.2, verbose=0)
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    assert model.evaluate(Xt, yt)["accuracy"] > 0.9
    assert (model.predict(Xt).argmax(axis=1) == yt).mean() > 0.9


def test_binary_classification():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 3))
    y = (X[:, 0] - 0.5 * X[:, 1] + 0.2 > 0).astype(np.float64)
    model = fm.Sequential([fm.Dense(8, activation="tanh"), fm.Dense(1, activation="sigmoid")],
                          input_dim=3, seed=2)
    model.compile(loss="bce", optimizer=fm.optim.Adam(lr=0.02), metrics=["accuracy"])
    model.fit(X[:200], y[:200], epochs=40, batch_size=20, verbose=0)
    assert model.evaluate(X[200:], y[200:])["accuracy"] > 0.9
    assert ((model.predict(X[200:])[:, 0] > 0.5) == y[200:]).mean() > 0.9


def test_multilabel_sigmoid():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((400, 6))
    W = rng.standard_normal((6, 3))
    Y = (X @ W > 0).astype(np.float64)  # three independent labels per row
    model = fm.Sequential([fm.Dense(16, activation="relu"), fm.Dense(3, activation="sigmoid")],
                          input_dim=6, seed=3)
    model.compile(loss="binary_cross_entropy", optimizer=fm.optim.Adam(lr=0.01),
                  metrics=["accuracy"])
    model.fit(X[:300], Y[:300], epochs=40, batch_size=25, verbose=0)
    logs = model.evaluate(X[300:], Y[300:])
    assert logs["accuracy"] > 0.9
    assert ((model.predict(X[300:]) > 0.5) == Y[300:]).mean() == pytest.approx(logs["accuracy"])


def test_hinge_classifier():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((300, 4))
    y = np.where(X[:, 0] + X[:, 2] > 0, 1.0, -1.0)
    model = fm.Sequential([fm.Dense(8, activation="tanh"), fm.Dense(1)], input_dim=4, seed=5)
    model.compile(loss="hinge", optimizer=fm.optim.Adam(lr=0.02), metrics=["accuracy"])
    model.fit(X[:200], y[:200], epochs=40, batch_size=20, verbose=0)
    assert model.evaluate(X[200:], y[200:])["accuracy"] > 0.9


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_regression_tanh_of_linear(dtype):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((400, 4))
    w = np.array([0.8, -0.5, 0.3, 0.1])
    y = np.tanh(X @ w)
    model = fm.Sequential([fm.Dense(16, activation="tanh"), fm.Dense(1)], input_dim=4,
                          dtype=dtype, seed=4)
    model.compile(loss="mse", optimizer=fm.optim.Adam(lr=0.01))
    initial = model.evaluate(X, y)["loss"]
    hist = model.fit(X, y, epochs=60, batch_size=32, verbose=0)
    final = model.evaluate(X, y)["loss"]
    assert final < initial / 20
    assert final < 1e-3
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_regression_with_maxout_and_sgd_momentum():
    rng = np.random.default_rng(5)
    X = rng.uniform(-1, 1, (300, 2))
    y = np.abs(X[:, 0]) + np.abs(X[:, 1])  # piecewise linear: maxout fits it
    model = fm.Sequential([fm.Maxout(8, pieces=2), fm.Dense(1)], input_dim=2, seed=6)
    model.compile(loss="mse", optimizer=fm.optim.SGD(lr=0.05, momentum=0.9))
    initial = model.evaluate(X, y)["loss"]
    model.fit(X, y, epochs=60, batch_size=20, verbose=0)
    assert model.evaluate(X, y)["loss"] < min(initial / 20, 0.01)
