"""Backpropagation: fm.check_gradients (the engine against its own central
differences) on small nets with every activation, loss and layer kind, and
the engine's gradients against the NumPy reference's analytic gradients,
themselves checked against the reference's finite differences."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastmlp as fm
from fastmlp import activations

import reference_mlp as ref

TOL = 1e-6
KINKED = {"relu", "leaky_relu", "elu"}  # not differentiable at 0: keep z away from it


def _data(rng, rows=7, features=4):
    return rng.standard_normal((rows, features))


def _targets_for(loss, rng, rows, outputs):
    if loss in ("cross_entropy",):
        return rng.integers(0, outputs, rows)
    if loss == "kl_divergence":
        t = rng.random((rows, outputs)) + 0.05
        return t / t.sum(axis=1, keepdims=True)
    if loss == "binary_cross_entropy":
        return (rng.random((rows, outputs)) < 0.5).astype(np.float64)
    if loss == "hinge":
        return rng.choice([-1.0, 1.0], (rows, outputs))
    return rng.standard_normal((rows, outputs))


def _assert_away_from_kinks(model, X, margin=1e-3):
    """Every pre-activation of a kinked hidden unit is at least `margin` from 0,
    so central differences with eps 1e-6 never straddle the kink."""
    net = ref.from_model(model)
    _, cache = ref.forward(net, X)
    for layer, (_, z, _) in zip(net, cache):
        if layer["kind"] == "dense" and layer["act"] in KINKED:
            assert np.abs(z).min() > margin, "choose other data: a unit sits on its kink"


def _check(model, X, y, sample_weight=None, tol=TOL, **kw):
    errors = fm.check_gradients(model, X, y, sample_weight=sample_weight, **kw)
    assert len(errors) == len(model.get_weights())
    assert all(type(e) is float for e in errors)
    assert max(errors) < tol, errors
    return errors


HIDDEN = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", activations.LeakyReLU(0.3), "elu",
          activations.ELU(0.7), "softplus", "gelu", "silu"]


@pytest.mark.parametrize("act", HIDDEN, ids=lambda a: a if isinstance(a, str) else repr(a))
def test_every_hidden_activation(act):
    rng = np.random.default_rng(1)
    X = _data(rng)
    model = fm.Sequential([fm.Dense(5, activation=act, bias_initializer=fm.init.Uniform(-.5, .5)),
                           fm.Dense(2)], input_dim=4, seed=3)
    model.compile(loss="mse", optimizer="sgd")
    _assert_away_from_kinks(model, X)
    _check(model, X, rng.standard_normal((7, 2)))


@pytest.mark.parametrize("act", HIDDEN, ids=lambda a: a if isinstance(a, str) else repr(a))
def test_every_hidden_activation_in_float32(act):
    """The float32 kernels' gradients (their own derivative code) against the
    float64 reference at the model's float32 weights: one SGD step (lr = 1)
    of a float32 model moves W by its gradient, to float32 rounding."""
    rng = np.random.default_rng(1)
    X, y = _data(rng).astype(np.float32), rng.standard_normal((7, 2))
    model = fm.Sequential([fm.Dense(5, activation=act, bias_initializer=fm.init.Uniform(-.5, .5)),
                           fm.Dense(2)], input_dim=4, dtype="float32", seed=3)
    model.compile(loss="mse", optimizer=fm.optim.SGD(lr=1.0))
    _assert_away_from_kinks(model, X)
    net = ref.from_model(model)
    _, expected = ref.loss_and_gradients(net, X.astype(np.float64), y, "mse")
    before = model.get_weights()
    model.fit(X, y, epochs=1, batch_size=len(X), shuffle=False, verbose=0)
    for b, a, want in zip(before, model.get_weights(), expected):
        got = b.astype(np.float64) - a
        # float32 rounding of the step and of W: ~1e-7 of |W| ~ 1, against
        # gradients of ~1e-1 (this uses a tenth of the tolerance); a
        # derivative 0.01% off shows
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())


def test_softplus_on_both_sides_of_its_threshold():
    """Pre-activations around 20 where softplus turns linear."""
    rng = np.random.default_rng(2)
    X = np.abs(_data(rng)) + 1
    model = fm.Sequential([fm.Dense(3, activation="softplus"), fm.Dense(1)], input_dim=4, seed=0)
    W = np.full((4, 3), 1.0)
    model.set_weights([W, np.array([-5.0, 10.0, 30.0]), np.ones((3, 1)), np.zeros(1)])
    model.compile(loss="mse", optimizer="sgd")
    _check(model, X, rng.standard_normal(7), tol=1e-6)


LOSSES = [
    ("mse", "linear"), ("mse", "sigmoid"), ("mse", "softmax"), ("mae", "linear"),
    ("huber", "linear"), (fm.losses.Huber(0.3), "tanh"), ("cross_entropy", "softmax"),
    ("binary_cross_entropy", "sigmoid"), ("kl_divergence", "softmax"), ("hinge", "linear"),
]


@pytest.mark.parametrize("loss, out", LOSSES, ids=[f"{l}-{o}" for l, o in LOSSES])
def test_every_loss_with_its_output(loss, out):
    rng = np.random.default_rng(4)
    X = _data(rng)
    model = fm.Sequential([fm.Dense(5, activation="tanh"), fm.Dense(3, activation=out)],
                          input_dim=4, seed=5)
    model.compile(loss=loss, optimizer="sgd")
    _check(model, X, _targets_for(getattr(loss, "name", loss), rng, 7, 3))


def test_cross_entropy_with_soft_targets():
    rng = np.random.default_rng(6)
    X = _data(rng)
    model = fm.Sequential([fm.Dense(5, activation="gelu"), fm.Dense(3, activation="softmax")],
                          input_dim=4, seed=1)
    model.compile(loss="cross_entropy", optimizer="sgd")
    _check(model, X, _targets_for("kl_divergence", rng, 7, 3))


def test_maxout():
    rng = np.random.default_rng(7)
    X = _data(rng)
    model = fm.Sequential([fm.Maxout(4, pieces=3), fm.Maxout(3, pieces=2),
                           fm.Dense(2, activation="softmax")], input_dim=4, seed=2)
    model.compile(loss="cross_entropy", optimizer="sgd")
    _check(model, X, rng.integers(0, 2, 7))


def test_maxout_as_output_layer():
    rng = np.random.default_rng(8)
    X = _data(rng)
    model = fm.Sequential([fm.Dense(5, activation="silu"), fm.Maxout(2, pieces=4)],
                          input_dim=4, seed=4)
    model.compile(loss="huber", optimizer="sgd")
    _check(model, X, rng.standard_normal((7, 2)))


def test_dropout_layers_present():
    """check_gradients runs with dropout off: the gradients are those of the
    net without the Dropout layers (first, middle and before the output)."""
    rng = np.random.default_rng(9)
    X = _data(rng)
    model = fm.Sequential([fm.Dropout(0.3), fm.Dense(6, activation="tanh"), fm.Dropout(0.5),
                           fm.Dense(5, activation="sigmoid"), fm.Dropout(0.9),
                           fm.Dense(3, activation="softmax")], input_dim=4, seed=6)
    model.compile(loss="cross_entropy", optimizer="sgd")
    _check(model, X, rng.integers(0, 3, 7))


def test_l1_l2_penalties():
    rng = np.random.default_rng(10)
    X = _data(rng)
    model = fm.Sequential([fm.Dense(5, activation="tanh", l1=0.01, l2=0.02),
                           fm.Maxout(3, pieces=2, l2=0.05, l1=0.03),
                           fm.Dense(2, activation="sigmoid", l1=0.1)], input_dim=4, seed=7)
    assert all(np.abs(w).min() > 1e-4 for w in model.get_weights()[::2])  # L1's kink
    model.compile(loss="binary_cross_entropy", optimizer="sgd")
    _check(model, X, _targets_for("binary_cross_entropy", rng, 7, 2))


def test_sample_weights():
    rng = np.random.default_rng(11)
    X = _data(rng)
    model = fm.Sequential([fm.Dense(5, activation="elu"), fm.Dense(3, activation="softmax")],
                          input_dim=4, seed=8)
    model.compile(loss="cross_entropy", optimizer="sgd")
    _assert_away_from_kinks(model, X)
    _check(model, X, rng.integers(0, 3, 7), sample_weight=rng.random(7) * 3)


def test_float64_model_and_max_checks():
    rng = np.random.default_rng(12)
    X = rng.standard_normal((20, 30))
    model = fm.Sequential([fm.Dense(40, activation="tanh"), fm.Dense(4, activation="softmax")],
                          input_dim=30, dtype="float64", seed=9)
    model.compile(loss="cross_entropy", optimizer="adam")
    _check(model, X, rng.integers(0, 4, 20), max_checks=25)


def test_check_gradients_is_not_vacuous():
    """At a ReLU kink the backprop derivative (0, PyTorch's convention) and the
    central difference (1/2) disagree, and check_gradients says so."""
    model = fm.Sequential([fm.Dense(1, activation="relu")], input_dim=2, dtype="float64")
    model.set_weights([np.array([[1.0], [2.0]]), np.zeros(1)])
    model.compile(loss="mse", optimizer="sgd")
    errors = fm.check_gradients(model, np.zeros((3, 2)), np.ones(3))
    assert errors[1] == pytest.approx(1.0)  # b: |0 - g/2| / (0 + |g/2|)


# ---- the engine's gradients against the reference's -------------------------

def engine_gradients(model, X, y, sample_weight=None):
    """The engine's gradient of the batch loss, read from one full-batch SGD
    step with lr = 1 on a float64 copy: g = W_before - W_after."""
    copy = fm.Sequential([type(l)(**l.get_config()) for l in model.layers],
                         input_dim=model.input_dim, dtype="float64", seed=model.seed)
    copy.set_weights(model.get_weights())
    copy.compile(loss=model.loss, optimizer=fm.optim.SGD(lr=1.0))
    before = copy.get_weights()
    copy.fit(X, y, epochs=1, batch_size=len(X), shuffle=False, sample_weight=sample_weight,
             verbose=0)
    return [b - a for b, a in zip(before, copy.get_weights())]


REFERENCE_NETS = {
    "tanh-softmax-ce": (lambda: [fm.Dense(5, activation="tanh"),
                                 fm.Dense(3, activation="softmax")], "cross_entropy"),
    "relu-leaky-linear-mse": (lambda: [fm.Dense(6, activation="relu",
                                                bias_initializer=fm.init.Constant(0.1)),
                                       fm.Dense(4, activation=activations.LeakyReLU(0.2)),
                                       fm.Dense(2)], "mse"),
    "gelu-silu-sigmoid-bce": (lambda: [fm.Dense(5, activation="gelu"),
                                       fm.Dense(4, activation="silu"),
                                       fm.Dense(3, activation="sigmoid")],
                              "binary_cross_entropy"),
    "elu-softplus-huber": (lambda: [fm.Dense(5, activation=activations.ELU(0.5)),
                                    fm.Dense(4, activation="softplus"), fm.Dense(2)],
                           fm.losses.Huber(0.4)),
    "maxout-dropout-kl": (lambda: [fm.Maxout(4, pieces=3), fm.Dropout(0.0),
                                   fm.Dense(3, activation="softmax")], "kl_divergence"),
    "sigmoid-softmax-mse": (lambda: [fm.Dense(5, activation="sigmoid"),
                                     fm.Dense(3, activation="softmax")], "mse"),
    "linear-mae": (lambda: [fm.Dense(4, activation="linear"), fm.Dense(2)], "mae"),
    "tanh-hinge": (lambda: [fm.Dense(4, activation="tanh"), fm.Dense(2)], "hinge"),
    "penalties": (lambda: [fm.Dense(5, activation="tanh", l1=0.01, l2=0.03),
                           fm.Maxout(3, pieces=2, l1=0.02),
                           fm.Dense(2, activation="softmax", l2=0.1)], "cross_entropy"),
}


@pytest.mark.parametrize("name", list(REFERENCE_NETS))
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_engine_gradients_match_reference(name, weighted):
    make_layers, loss = REFERENCE_NETS[name]
    rng = np.random.default_rng(20)
    X = _data(rng, rows=9)
    model = fm.Sequential(make_layers(), input_dim=4, dtype="float64", seed=21)
    model.compile(loss=loss, optimizer="sgd")
    loss_name = model.loss.name
    outputs = model.output_dim
    y = _targets_for(loss_name, rng, 9, outputs)
    t = ref.one_hot(y, outputs) if loss_name == "cross_entropy" else np.asarray(y, float)
    sw = rng.random(9) * 2 if weighted else None
    _assert_away_from_kinks(model, X)

    net = ref.from_model(model)
    value, analytic = ref.loss_and_gradients(net, X, t, loss_name, sw, model.loss.delta)
    # the reference's analytic gradient is right: its own finite differences
    numeric = ref.numeric_gradients(net, X, t, loss_name, sw, model.loss.delta)
    for a, n in zip(analytic, numeric):
        np.testing.assert_allclose(a, n, rtol=1e-5, atol=1e-8)
    # and the engine's is the same
    for e, a in zip(engine_gradients(model, X, y, sw), analytic):
        np.testing.assert_allclose(e, a, rtol=1e-9, atol=1e-13)


def test_dropout_is_inverted_dropout():
    """In training each input is kept with probability 1 - rate and scaled by
    1 / (1 - rate): through a fixed identity layer (lr = 0), the epoch's mean
    of out^2 is E[mask^2] = 1 / (1 - rate), and the mean of |out| is 1."""
    n = 20000
    X = np.ones((n, 1))
    for rate in (0.2, 0.5):
        for loss, expected in (("mse", 1 / (1 - rate)), ("mae", 1.0)):
            model = fm.Sequential([fm.Dropout(rate), fm.Dense(1)], input_dim=1,
                                  dtype="float64", seed=1)
            model.set_weights([np.ones((1, 1)), np.zeros(1)])
            model.compile(loss=loss, optimizer=fm.optim.SGD(lr=0.0))
            hist = model.fit(X, np.zeros(n), epochs=1, batch_size=500, verbose=0)
            # binomial noise: std of the kept fraction is sqrt(r (1-r) / n) < 0.004
            assert hist.history["loss"][0] == pytest.approx(expected, rel=0.03)
            # inference: the identity
            assert np.array_equal(model.predict(X[:5]), np.ones((5, 1)))


def _dropout_mask(width, rate, seed):
    """The mask a fresh model with this seed draws for a one-row batch at a
    Dropout of `width` units in position 1 of its layers (masks are keyed by
    seed, step, batch, layer and element, not by the other layers): read
    from one SGD step (lr = 1) of identity layers around it, on ones, under
    MSE against 0, where the last bias moves by -2 mask / width."""
    probe = fm.Sequential([fm.Dense(width), fm.Dropout(rate), fm.Dense(width)], input_dim=width,
                          dtype="float64", seed=seed)
    probe.set_weights([np.eye(width), np.zeros(width)] * 2)
    probe.compile(loss="mse", optimizer=fm.optim.SGD(lr=1.0))
    probe.fit(np.ones((1, width)), np.zeros((1, width)), epochs=1, verbose=0)
    return -probe.get_weights()[3] * width / 2


def test_dropout_backward_uses_the_forward_mask_and_scale():
    """One training step through Dense(tanh) -> Dropout(0.4) -> Dense
    against NumPy with the same mask: the gradient passes only where the
    forward pass kept a unit, scaled by the same 1 / (1 - rate)."""
    width, rate, seed = 12, 0.4, 5
    mask = _dropout_mask(width, rate, seed)
    assert set(np.round(mask, 12)) == {0.0, round(1 / (1 - rate), 12)}  # some of each
    rng = np.random.default_rng(6)
    x, t = rng.standard_normal((1, 3)), rng.standard_normal((1, 1))
    W1, b1, W2, b2 = (rng.standard_normal(s) for s in ((3, width), width, (width, 1), 1))
    model = fm.Sequential([fm.Dense(width, activation="tanh"), fm.Dropout(rate), fm.Dense(1)],
                          input_dim=3, dtype="float64", seed=seed)
    model.set_weights([W1, b1, W2, b2])
    model.compile(loss="mse", optimizer=fm.optim.SGD(lr=1.0))
    model.fit(x, t, epochs=1, verbose=0)
    h = np.tanh(x @ W1 + b1)
    d = h * mask
    g_out = 2 * (d @ W2 + b2 - t)  # d(mse)/d(out), one element
    g_h = (g_out @ W2.T) * mask
    g_z = g_h * (1 - h * h)
    expected = [W1 - x.T @ g_z, b1 - g_z[0], W2 - d.T @ g_out, b2 - g_out[0]]
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


# ---- random architectures against the reference (property test) ----------------

HIDDEN_NAMES = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu",
                "silu"]
OUTPUTS = {"mse": ["linear", "sigmoid", "tanh", "softmax", "gelu"], "mae": ["linear", "tanh"],
           "huber": ["linear", "softplus"], "hinge": ["linear", "tanh"],
           "cross_entropy": ["softmax"], "kl_divergence": ["softmax"],
           "binary_cross_entropy": ["sigmoid"]}

hidden_layer = st.one_of(
    st.tuples(st.just("dense"), st.integers(1, 7), st.sampled_from(HIDDEN_NAMES)),
    st.tuples(st.just("maxout"), st.integers(1, 4), st.integers(1, 3)),
    # rate 0: engine_gradients trains, and a real rate would drop units
    st.tuples(st.just("dropout"), st.just(0), st.just(0.0)))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(hidden=st.lists(hidden_layer, max_size=3), loss=st.sampled_from(sorted(OUTPUTS)),
       out_index=st.integers(0, 4), outputs=st.integers(1, 4), rows=st.integers(1, 9),
       features=st.integers(1, 6), weighted=st.booleans(), penalised=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_random_nets_match_reference(hidden, loss, out_index, outputs, rows, features, weighted,
                                     penalised, seed):
    """Any stack of Dense/Maxout/Dropout layers with any loss: the engine's
    gradient (one SGD step) is the reference's analytic gradient."""
    rng = np.random.default_rng(seed)
    pen = dict(l1=0.01, l2=0.02) if penalised else {}
    layers = []
    for kind, width, extra in hidden:
        if kind == "dense":
            layers.append(fm.Dense(width, activation=extra,
                                   bias_initializer=fm.init.Uniform(-0.3, 0.3), **pen))
        elif kind == "maxout":
            layers.append(fm.Maxout(width, pieces=extra,
                                    bias_initializer=fm.init.Uniform(-0.3, 0.3), **pen))
        else:
            layers.append(fm.Dropout(extra))
    out_act = OUTPUTS[loss][out_index % len(OUTPUTS[loss])]
    if out_act == "softmax":
        outputs = max(outputs, 2)
    layers.append(fm.Dense(outputs, activation=out_act, **pen))
    model = fm.Sequential(layers, input_dim=features, dtype="float64", seed=seed % 1000)
    model.compile(loss=loss, optimizer="sgd")
    X = rng.standard_normal((rows, features))
    y = _targets_for(loss, rng, rows, outputs)
    t = ref.one_hot(y, outputs) if loss == "cross_entropy" else np.asarray(y, float)
    sw = rng.random(rows) * 2 if weighted else None

    net = ref.from_model(model)
    _, analytic = ref.loss_and_gradients(net, X, t, loss, sw)
    for e, a in zip(engine_gradients(model, X, y, sw), analytic):
        np.testing.assert_allclose(e, a, rtol=1e-8, atol=1e-12)


# ---- derivatives at the kinks: PyTorch's conventions ----------------------------

def _bias_step(act, z0, target):
    """b after one SGD step (lr = 1) of a one-unit layer at pre-activation z0
    under MSE: b0 - 2 (f(z0) - target) f'(z0)."""
    model = fm.Sequential([fm.Dense(1, activation=act)], input_dim=1, dtype="float64", seed=0)
    model.set_weights([np.ones((1, 1)), np.array([z0])])
    model.compile(loss="mse", optimizer=fm.optim.SGD(lr=1.0))
    f0 = model.predict(np.zeros((1, 1)))[0, 0]
    model.fit(np.zeros((1, 1)), np.array([target]), epochs=1, batch_size=1, verbose=0)
    return f0, model.get_weights()[1][0]


@pytest.mark.parametrize("act, slope_at_zero", [
    ("relu", 0.0), (activations.LeakyReLU(0.2), 0.2), (activations.ELU(0.5), 0.5),
    ("sigmoid", 0.25), ("tanh", 1.0), ("softplus", 0.5), ("gelu", 0.5), ("silu", 0.5),
    ("linear", 1.0)], ids=lambda v: v if isinstance(v, str) else repr(v))
def test_derivative_at_zero(act, slope_at_zero):
    """f'(0) as PyTorch's autograd gives it: relu 0, leaky_relu its slope,
    ELU alpha (x <= 0 branch)."""
    f0, b1 = _bias_step(act, 0.0, target=1.0)
    assert b1 == pytest.approx(-2 * (f0 - 1.0) * slope_at_zero, rel=1e-15, abs=1e-300)


@pytest.mark.parametrize("dtype, z0, lr, rtol", [("float32", -20.0, 1e8, 1e-4),
                                                 ("float64", -40.0, 1e17, 1e-12)])
def test_elu_derivative_far_below_zero_keeps_its_precision(dtype, z0, lr, rtol):
    """ELU'(z) = alpha e^z for z <= 0, as PyTorch computes it. From the output,
    alpha (expm1(z) + 1), it would be 0 wherever expm1(z) rounds to -1. One
    SGD step under loss f^2 moves b by lr 2 f f'(z0), scaled up by lr to
    stand out of b's rounding."""
    model = fm.Sequential([fm.Dense(1, activation=activations.ELU(0.5))], input_dim=1,
                          dtype=dtype, seed=0)
    model.set_weights([np.ones((1, 1)), np.array([z0])])
    model.compile(loss="mse", optimizer=fm.optim.SGD(lr=lr))
    f0 = float(model.predict(np.zeros((1, 1)))[0, 0])
    model.fit(np.zeros((1, 1)), np.zeros(1), epochs=1, batch_size=1, verbose=0)
    slope = (z0 - float(model.get_weights()[1][0])) / (lr * 2 * f0)
    assert slope == pytest.approx(0.5 * np.exp(z0), rel=rtol, abs=0)


def test_softplus_derivative_above_threshold_is_one():
    f0, b1 = _bias_step("softplus", 20.5, target=19.5)
    assert f0 == 20.5
    assert 20.5 - b1 == 2.0  # 2 (f - t) f' with f' = 1
