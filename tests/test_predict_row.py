"""Prediction of one row, which runs every layer in one parallel region
(csrc/nn/net_impl.h, infer_row), and model.predict's fast path for inputs that
need no conversion (NativeNet.predict_checked)."""
import numpy as np
import pytest

import fastmlp as fm

THREADS = (1, 2, 3)


@pytest.fixture
def threads_restored():
    yield
    fm.set_num_threads(None)


def _model(layers, inputs, dtype, seed=3):
    model = fm.Sequential(layers, input_dim=inputs, dtype=dtype, seed=seed)
    model.build(inputs)
    rng = np.random.default_rng(seed)
    # biases away from zero, so a wrong column offset in the bias shows
    model.set_weights([w if w.ndim == 2 else rng.standard_normal(w.shape)
                       for w in model.get_weights()])
    return model


# Widths cut into ragged wide blocks and tiles, with more threads than blocks
# in the narrow layers.
WIDTHS = [(784, 256, 128, 10), (37, 100, 70, 3), (5, 1, 300, 1), (200, 129, 65, 17)]


@pytest.mark.parametrize("widths", WIDTHS, ids=lambda w: "-".join(map(str, w)))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_row_is_gemm_plus_bias_then_relu_bitwise(isa, dtype, widths, threads_restored):
    """Each layer's product comes from the same kernels and column blocks as
    fm.gemm on that row, so the bits are exactly those of the composition."""
    inputs, *units = widths
    model = _model([fm.Dense(u, activation="relu") for u in units[:-1]] + [fm.Dense(units[-1])],
                   inputs, dtype)
    x = np.random.default_rng(0).standard_normal((1, inputs)).astype(dtype)
    params = model.get_weights()
    want = x
    for i in range(0, len(params), 2):
        want = fm.gemm(want, params[i]) + params[i + 1]
        if i + 2 < len(params):
            want = np.maximum(want, 0)
    for threads in THREADS:
        fm.set_num_threads(threads)
        got = model.predict(x)
        assert got.dtype == dtype and got.shape == (1, units[-1])
        assert got.tobytes() == want.tobytes(), f"{threads} threads"


def _mixed(inputs, dtype):
    """Every layer kind and the activations that need the whole row."""
    return _model([fm.Dense(300, activation="tanh"), fm.Dropout(0.5), fm.Maxout(40, pieces=3),
                   fm.Dense(150, activation=fm.activations.LeakyReLU(0.1)),
                   fm.Dense(6, activation="softmax")], inputs, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_row_matches_the_batched_forward_pass(isa, dtype):
    model = _mixed(50, dtype)
    X = np.random.default_rng(1).standard_normal((9, 50)).astype(dtype)
    batched = model.predict(X)
    rows = np.concatenate([model.predict(X[i:i + 1]) for i in range(len(X))])
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(rows, batched, rtol=tol, atol=tol)
    np.testing.assert_allclose(rows.sum(axis=1), 1, rtol=tol)  # softmax ran on the whole row


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_row_same_bits_for_any_thread_count(isa, dtype, threads_restored):
    model = _mixed(784, dtype)
    x = np.random.default_rng(2).standard_normal((1, 784)).astype(dtype)
    results = []
    for threads in THREADS:
        fm.set_num_threads(threads)
        results.append(model.predict(x).tobytes())
    assert results[1:] == results[:-1]


def test_dropout_only_network_returns_its_input():
    model = fm.Sequential([fm.Dropout(0.5)], input_dim=4)
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    assert np.array_equal(model.predict(x), x)


# ---- the fast path and what falls back to the checked one ----------------------

@pytest.fixture
def warm_model():
    """A model whose inference network exists already, so predict takes its
    fast path first."""
    model = _model([fm.Dense(7, activation="relu"), fm.Dense(2)], 5, "float32")
    model.predict(np.zeros((1, 5), np.float32))
    return model


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("rows", [1, 3])
def test_fast_path_still_rejects_non_finite_input(warm_model, bad, rows):
    x = np.ones((rows, 5), np.float32)
    x[-1, 2] = bad
    with pytest.raises(ValueError, match="NaN or infinity"):
        warm_model.predict(x)


@pytest.mark.parametrize("shape", [(1, 4), (1, 6), (5,), (1, 1, 5), (0, 5)])
def test_fast_path_still_rejects_bad_shapes(warm_model, shape):
    with pytest.raises(ValueError):
        warm_model.predict(np.ones(shape, np.float32))


def test_inputs_needing_conversion_give_the_same_bits(warm_model):
    x = np.random.default_rng(4).standard_normal((6, 5)).astype(np.float32)
    want = warm_model.predict(x).tobytes()
    strided = np.zeros((12, 5), np.float32)
    strided[::2] = x
    unaligned = np.frombuffer(b"\0" + x.tobytes(), np.float32, count=x.size, offset=1)
    for variant in (x.astype(">f4"), np.asfortranarray(x), strided[::2], x.astype(np.float64),
                    x.tolist(), unaligned.reshape(6, 5)):
        assert warm_model.predict(variant).tobytes() == want


def test_set_weights_reaches_the_fast_path(warm_model):
    x = np.ones((1, 5), np.float32)
    before = warm_model.predict(x)
    warm_model.set_weights([w + 1 for w in warm_model.get_weights()])
    assert not np.array_equal(warm_model.predict(x), before)
