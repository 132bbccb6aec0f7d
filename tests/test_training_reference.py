"""Whole training runs against the NumPy reference: fit with shuffle=False
and no dropout, then the weights (float64, rtol 1e-9) and each epoch's loss
must be the reference's after the same mini-batch steps."""
import numpy as np
import pytest

import fastmlp as fm
from fastmlp import activations

import reference_mlp as ref

ROWS, FEATURES = 23, 4  # batches of 8, 8 and 7: the last one is short


def _problem(seed=0, classes=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((ROWS, FEATURES))
    y = rng.integers(0, classes, ROWS)
    return X, y


def _run(layers, loss, engine_opt, ref_opt, *, epochs=2, batch_size=8, sample_weight=None,
         y=None, seed=0, dtype="float64"):
    X, labels = _problem(seed)
    model = fm.Sequential(layers, input_dim=FEATURES, dtype=dtype, seed=seed + 100)
    model.compile(loss=loss, optimizer=engine_opt)
    y = labels if y is None else y
    name = model.loss.name
    t = np.asarray(y, float)
    if name == "cross_entropy" and t.ndim == 1:
        t = ref.one_hot(y, model.output_dim)
    if t.ndim == 1:
        t = t[:, None]
    net = ref.from_model(model)
    expected_loss = ref.train(net, X, t, name, ref_opt, batch_size, epochs, sample_weight,
                              model.loss.delta)
    hist = model.fit(X, y, epochs=epochs, batch_size=batch_size, shuffle=False,
                     sample_weight=sample_weight, verbose=0)
    return model, net, hist, expected_loss


def _assert_same(model, net, hist, expected_loss, rtol=1e-9):
    for got, want in zip(model.get_weights(), ref.weights(net)):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 1e-3)
    np.testing.assert_allclose(hist.history["loss"], expected_loss, rtol=rtol)


def _mlp():
    return [fm.Dense(6, activation="tanh"), fm.Dense(3, activation="softmax")]


OPTIMIZERS = {
    "sgd": (lambda: fm.optim.SGD(lr=0.3), lambda: ref.SGD(lr=0.3)),
    "sgd-momentum": (lambda: fm.optim.SGD(lr=0.1, momentum=0.9),
                     lambda: ref.SGD(lr=0.1, momentum=0.9)),
    "sgd-nesterov-wd": (lambda: fm.optim.SGD(lr=0.1, momentum=0.8, nesterov=True,
                                             weight_decay=0.01),
                        lambda: ref.SGD(lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.01)),
    "sgd-dampening": (lambda: fm.optim.SGD(lr=0.1, momentum=0.5, dampening=0.3),
                      lambda: ref.SGD(lr=0.1, momentum=0.5, dampening=0.3)),
    "adam": (lambda: fm.optim.Adam(lr=0.01), lambda: ref.Adam(lr=0.01)),
    "adam-betas-wd": (lambda: fm.optim.Adam(lr=0.05, betas=(0.8, 0.99), eps=1e-6,
                                            weight_decay=0.1),
                      lambda: ref.Adam(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
}


@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_optimizers(opt):
    engine, reference = OPTIMIZERS[opt]
    _assert_same(*_run(_mlp(), "cross_entropy", engine(), reference()))


def test_sgd_default_lr_is_1e_3():
    assert fm.optim.SGD().lr == 1e-3
    _assert_same(*_run(_mlp(), "cross_entropy", "sgd", ref.SGD(lr=1e-3)))


@pytest.mark.parametrize("opt", ["sgd-momentum", "adam"])
def test_sample_weight(opt):
    engine, reference = OPTIMIZERS[opt]
    sw = np.random.default_rng(5).random(ROWS) * 2
    _assert_same(*_run(_mlp(), "cross_entropy", engine(), reference(), sample_weight=sw))


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_l1_l2_penalties(opt):
    engine, reference = OPTIMIZERS[opt]
    layers = [fm.Dense(6, activation="tanh", l1=0.01, l2=0.02),
              fm.Dense(3, activation="softmax", l2=0.05)]
    _assert_same(*_run(layers, "cross_entropy", engine(), reference()))


@pytest.mark.parametrize("opt", ["sgd-momentum", "adam"])
def test_max_norm(opt):
    engine, reference = OPTIMIZERS[opt]
    layers = [fm.Dense(6, activation="relu", max_norm=0.6),
              fm.Dense(3, activation="softmax", max_norm=1.0)]
    model, net, hist, expected = _run(layers, "cross_entropy", engine(), reference())
    _assert_same(model, net, hist, expected)
    norms = np.linalg.norm(model.get_weights()[0], axis=0)
    assert norms.max() <= 0.6 * (1 + 1e-12)
    assert np.isclose(norms, 0.6).any()  # the constraint was active


def test_maxout_dropout_zero_and_every_feature_together():
    """Maxout, a Dropout(0) (the identity), penalties, max_norm, sample
    weights and momentum in one run."""
    layers = [fm.Maxout(5, pieces=3, l2=0.01, max_norm=1.5), fm.Dropout(0.0),
              fm.Dense(4, activation="gelu", l1=0.005),
              fm.Dense(3, activation="softmax")]
    sw = np.random.default_rng(6).random(ROWS)
    _assert_same(*_run(layers, "cross_entropy", fm.optim.SGD(lr=0.2, momentum=0.7),
                       ref.SGD(lr=0.2, momentum=0.7), sample_weight=sw, epochs=3))


REGRESSION = {
    "mse": ("mse", "linear"), "mae": ("mae", "linear"), "huber": (fm.losses.Huber(0.5), "tanh"),
    "bce": ("binary_cross_entropy", "sigmoid"), "kl": ("kl_divergence", "softmax"),
    "hinge": ("hinge", "linear"),
}


@pytest.mark.parametrize("case", list(REGRESSION))
def test_other_losses(case):
    loss, out = REGRESSION[case]
    rng = np.random.default_rng(9)
    name = fm.losses.get(loss).name
    if name == "binary_cross_entropy":
        y = (rng.random((ROWS, 3)) < 0.5).astype(float)
    elif name == "kl_divergence":
        y = rng.random((ROWS, 3)) + 0.1
        y /= y.sum(axis=1, keepdims=True)
    elif name == "hinge":
        y = rng.choice([-1.0, 1.0], (ROWS, 3))
    else:
        y = rng.standard_normal((ROWS, 3))
    layers = [fm.Dense(5, activation=activations.ELU(0.8)), fm.Dense(3, activation=out)]
    _assert_same(*_run(layers, loss, fm.optim.Adam(lr=0.02), ref.Adam(lr=0.02), y=y))


@pytest.mark.parametrize("batch_size", [1, 5, 22, 23, 100])
def test_batch_sizes(batch_size):
    """Batches of one row, a short last batch, one short last row, and a
    batch larger than the data."""
    _assert_same(*_run(_mlp(), "cross_entropy", fm.optim.SGD(lr=0.1, momentum=0.9),
                       ref.SGD(lr=0.1, momentum=0.9), batch_size=batch_size, epochs=1))


def test_step_counter_continues_across_fits():
    """Adam's bias corrections count batches over successive fit calls."""
    X, y = _problem(3)
    model = fm.Sequential(_mlp(), input_dim=FEATURES, dtype="float64", seed=4)
    model.compile(loss="cross_entropy", optimizer=fm.optim.Adam(lr=0.02))
    net = ref.from_model(model)
    ref.train(net, X, ref.one_hot(y, 3), "cross_entropy", ref.Adam(lr=0.02), 8, epochs=3)
    for _ in range(3):
        model.fit(X, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), ref.weights(net)):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_validation_split_trains_on_the_first_rows_only():
    X, y = _problem(4)
    model = fm.Sequential(_mlp(), input_dim=FEATURES, dtype="float64", seed=8)
    model.compile(loss="cross_entropy", optimizer=fm.optim.SGD(lr=0.2))
    net = ref.from_model(model)
    held = ROWS - int(ROWS * 0.7)  # Keras's split: floor(n (1 - split)) rows train
    ref.train(net, X[:-held], ref.one_hot(y[:-held], 3), "cross_entropy", ref.SGD(lr=0.2), 4,
              epochs=2)
    hist = model.fit(X, y, epochs=2, batch_size=4, shuffle=False, validation_split=0.3,
                     verbose=0)
    for got, want in zip(model.get_weights(), ref.weights(net)):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    val = ref.loss_value(net, X[-held:], ref.one_hot(y[-held:], 3), "cross_entropy")
    assert hist.history["val_loss"][-1] == pytest.approx(val, rel=1e-9)


def test_float32_training_tracks_the_reference():
    """float32 arithmetic drifts from the float64 reference only by rounding."""
    model, net, hist, expected = _run(_mlp(), "cross_entropy", fm.optim.Adam(lr=0.01),
                                      ref.Adam(lr=0.01), dtype="float32")
    for got, want in zip(model.get_weights(), ref.weights(net)):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(hist.history["loss"], expected, rtol=1e-5)


@pytest.mark.parametrize("shape", [(29, 13, 11), (300, 70, 128)], ids=["primes", "larger"])
def test_awkward_and_larger_shapes_on_every_isa(isa, shape):
    """Shapes that are not multiples of any GEMM tile (primes), and batches
    big enough for the blocked and threaded GEMM paths, with every kernel set
    this CPU supports."""
    rows, features, batch_size = shape
    rng = np.random.default_rng(rows)
    X = rng.standard_normal((rows, features))
    y = rng.integers(0, 7, rows)
    model = fm.Sequential([fm.Dense(17, activation="tanh"), fm.Maxout(5, pieces=3),
                           fm.Dense(90, activation="relu"), fm.Dense(7, activation="softmax")],
                          input_dim=features, dtype="float64", seed=1)
    model.compile(loss="cross_entropy", optimizer=fm.optim.SGD(lr=0.05, momentum=0.9))
    net = ref.from_model(model)
    expected = ref.train(net, X, ref.one_hot(y, 7), "cross_entropy",
                         ref.SGD(lr=0.05, momentum=0.9), batch_size, epochs=2)
    hist = model.fit(X, y, epochs=2, batch_size=batch_size, shuffle=False, verbose=0)
    _assert_same(model, net, hist, expected)
    out, _ = ref.forward(net, X)
    np.testing.assert_allclose(model.predict(X), out, rtol=1e-9, atol=1e-15)


def test_unnormalised_probability_targets():
    """Cross-entropy with target rows that do not sum to 1 (PyTorch allows
    it): the gradient is p * sum(t) - t."""
    X, _ = _problem(7)
    t = np.random.default_rng(7).random((ROWS, 3)) * 2
    _assert_same(*_run(_mlp(), "cross_entropy", fm.optim.SGD(lr=0.1), ref.SGD(lr=0.1), y=t))


def test_initial_epoch_resumes_the_same_run():
    """Shuffling and dropout are keyed by the epoch index: fit(3) is fit(1)
    followed by fit(3, initial_epoch=1), bit for bit."""
    X, y = _problem(8)

    def model():
        m = fm.Sequential([fm.Dense(8, activation="relu"), fm.Dropout(0.3),
                           fm.Dense(3, activation="softmax")], input_dim=FEATURES, seed=0)
        m.compile(loss="cross_entropy", optimizer=fm.optim.Adam(lr=0.01))
        return m

    a, b = model(), model()
    a.fit(X, y, epochs=3, batch_size=8, verbose=0)
    b.fit(X, y, epochs=1, batch_size=8, verbose=0)
    b.fit(X, y, epochs=3, initial_epoch=1, batch_size=8, verbose=0)
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(p, q)


def test_shuffled_epoch_visits_every_row_once():
    """With lr = 0 and no dropout the epoch loss is the mean row loss over
    the data whatever the order: a shuffle that repeated or skipped rows
    would change it."""
    X, y = _problem(9)
    model = fm.Sequential(_mlp(), input_dim=FEATURES, dtype="float64", seed=3)
    model.compile(loss="cross_entropy", optimizer=fm.optim.SGD(lr=0.0))
    hist = model.fit(X, y, epochs=3, batch_size=5, shuffle=True, verbose=0)
    expected = ref.loss_value(ref.from_model(model), X, ref.one_hot(y, 3), "cross_entropy")
    np.testing.assert_allclose(hist.history["loss"], expected, rtol=1e-12)


@pytest.mark.parametrize("threads", [1, 2])
def test_parallel_layer_kernels_match_reference(restore_threads, threads):
    """Batches of 256 rows x 160 units (> 32768 elements): the element-wise
    and row-wise layer kernels run on several threads."""
    fm.set_num_threads(threads)
    rng = np.random.default_rng(11)
    X = rng.standard_normal((512, 20))
    y = rng.integers(0, 10, 512)
    model = fm.Sequential([fm.Dense(160, activation="gelu"), fm.Dropout(0.0),
                           fm.Maxout(64, pieces=3), fm.Dense(160, activation="softmax"),
                           fm.Dense(10, activation="softmax")],
                          input_dim=20, dtype="float64", seed=2)
    model.compile(loss="cross_entropy", optimizer=fm.optim.Adam(lr=1e-3))
    net = ref.from_model(model)
    expected = ref.train(net, X, ref.one_hot(y, 10), "cross_entropy", ref.Adam(lr=1e-3), 256)
    hist = model.fit(X, y, epochs=1, batch_size=256, shuffle=False, verbose=0)
    _assert_same(model, net, hist, expected)
