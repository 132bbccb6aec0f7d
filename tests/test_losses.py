"""Every loss's value, through model.evaluate, against the float64 NumPy
reference (tests/reference_mlp.py): outputs given directly by a one-layer
model with W = I, b = 0, so the logits are the inputs."""
import re
import warnings
import zlib

import numpy as np
import pytest

import fastmlp as fm

import reference_mlp as ref

ROWS, COLS = 11, 4


def identity_model(act, width, dtype, loss, metrics=None):
    model = fm.Sequential([fm.Dense(width, activation=act)], input_dim=width, dtype=dtype, seed=0)
    model.set_weights([np.eye(width), np.zeros(width)])
    model.compile(loss=loss, optimizer="sgd", metrics=metrics)
    return model


def _targets(loss, rng):
    """(y as given to evaluate, the reference's (rows, cols) target matrix)."""
    if loss in ("cross_entropy",):
        y = rng.integers(0, COLS, ROWS)
        return y, ref.one_hot(y, COLS)
    if loss == "kl_divergence":
        t = rng.random((ROWS, COLS)) ** 3
        t[:, 0] = 0  # zero targets contribute 0 (t log t -> 0)
        t /= t.sum(axis=1, keepdims=True)
        return t, t
    if loss == "binary_cross_entropy":
        y = (rng.random((ROWS, COLS)) < 0.4).astype(np.float64)
        return y, y
    if loss == "hinge":
        y = rng.choice([-1.0, 1.0], (ROWS, COLS))
        return y, y
    t = rng.standard_normal((ROWS, COLS))
    return t, t


# (loss as given to compile, reference name, output activation, Huber delta)
CASES = [
    ("mse", "mse", "linear", 1.0),
    ("mse", "mse", "sigmoid", 1.0),
    ("mae", "mae", "linear", 1.0),
    ("huber", "huber", "linear", 1.0),
    (fm.losses.Huber(0.3), "huber", "linear", 0.3),
    (fm.losses.Huber(2.5), "huber", "tanh", 2.5),
    ("cross_entropy", "cross_entropy", "softmax", 1.0),
    ("binary_cross_entropy", "binary_cross_entropy", "sigmoid", 1.0),
    ("kl_divergence", "kl_divergence", "softmax", 1.0),
    ("hinge", "hinge", "linear", 1.0),
]
IDS = ["mse", "mse-sigmoid", "mae", "huber", "huber0.3", "huber2.5-tanh", "cross_entropy",
       "bce", "kl", "hinge"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_loss_value_matches_reference(case, dtype, weighted):
    loss, name, act, delta = case
    rng = np.random.default_rng(zlib.crc32(repr((name, act, delta)).encode()))
    z = 2 * rng.standard_normal((ROWS, COLS))
    y, t = _targets(name, rng)
    sw = rng.random(ROWS) * 2 if weighted else None
    model = identity_model(act, COLS, dtype, loss)
    zq = z.astype(dtype).astype(np.float64)
    a = ref.activation(act, zq)
    rows = ref.row_losses(name, zq, a, t, delta)
    expected = np.mean(rows * (1 if sw is None else sw.astype(dtype)))
    got = model.evaluate(z, y, sample_weight=sw)["loss"]
    rtol = 1e-12 if dtype == "float64" else 2e-6
    assert got == pytest.approx(expected, rel=rtol)
    # the same over several batches (the sum over batches, divided by all rows)
    assert model.evaluate(z, y, sample_weight=sw, batch_size=3)["loss"] == \
        pytest.approx(expected, rel=rtol)


def test_formulas_spelled_out():
    """The definitions on numbers worked by hand (PyTorch's reductions)."""
    z = np.array([[1.0, -2.0], [0.5, 3.0]])
    t = np.array([[0.0, 1.0], [2.0, 3.0]])
    d = z - t
    assert identity_model("linear", 2, "float64", "mse").evaluate(z, t)["loss"] == \
        pytest.approx((d ** 2).mean())  # no factor 1/2
    assert identity_model("linear", 2, "float64", "mae").evaluate(z, t)["loss"] == \
        pytest.approx(np.abs(d).mean())
    # Huber delta=1: |d| = 1, 3, 1.5, 0 -> 0.5, 2.5, 1.0, 0
    assert identity_model("linear", 2, "float64", "huber").evaluate(z, t)["loss"] == \
        pytest.approx((1.0 * (1 - 0.5) + 2.5 + 1.0 + 0.0) / 4)
    # cross-entropy: mean over rows of the sum over classes
    logits = np.array([[0.0, 0.0, 0.0], [np.log(2.0), 0.0, 0.0]])
    ce = identity_model("softmax", 3, "float64", "cross_entropy").evaluate(logits, [0, 0])
    assert ce["loss"] == pytest.approx((np.log(3) + np.log(2)) / 2)
    # hinge: mean(max(0, 1 - t y))
    hinge = identity_model("linear", 2, "float64", "hinge").evaluate(
        np.array([[0.5, -2.0]]), np.array([[1.0, -1.0]]))
    assert hinge["loss"] == pytest.approx((0.5 + 0.0) / 2)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_with_huge_logits_is_finite(dtype):
    model = identity_model("softmax", 3, dtype, "cross_entropy")
    z = np.array([[1e3, -1e3, 0.0], [1e3, -1e3, 0.0], [-1e3, -1e3, -1e3], [3e4, 0.0, -3e4]])
    y = np.array([0, 1, 2, 2])
    # row losses: 0, 2000, log 3, 60000
    got = model.evaluate(z, y)["loss"]
    assert np.isfinite(got)
    assert got == pytest.approx((0 + 2000 + np.log(3) + 60000) / 4, rel=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_cross_entropy_with_huge_logits_is_finite(dtype):
    model = identity_model("sigmoid", 2, dtype, "binary_cross_entropy")
    z = np.array([[1e3, -1e3], [1e3, -1e3], [50.0, -50.0]])
    y = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    # element losses: 0, 0 | 1000, 1000 | 50, ~0
    got = model.evaluate(z, y)["loss"]
    assert np.isfinite(got)
    assert got == pytest.approx((2000 + 50 + np.log1p(np.exp(-50))) / 6, rel=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kl_divergence_with_huge_logits_is_finite(dtype):
    model = identity_model("softmax", 2, dtype, "kl_divergence")
    z = np.array([[1e3, -1e3]])
    t = np.array([[0.5, 0.5]])
    # 0.5 (log .5 - 0) + 0.5 (log .5 + 2000), averaged over 2 elements
    got = model.evaluate(z, t)["loss"]
    assert np.isfinite(got) and got == pytest.approx((2 * 0.5 * np.log(0.5) + 1000) / 2, rel=1e-6)


def test_cross_entropy_labels_one_hot_and_soft_targets():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((9, 3))
    labels = rng.integers(0, 3, 9)
    model = identity_model("softmax", 3, "float64", "cross_entropy")
    by_label = model.evaluate(z, labels)["loss"]
    assert model.evaluate(z, ref.one_hot(labels, 3))["loss"] == by_label
    assert model.evaluate(z, labels.astype(np.float64))["loss"] == by_label
    soft = rng.random((9, 3))
    soft /= soft.sum(axis=1, keepdims=True)
    expected = ref.row_losses("cross_entropy", z, ref.activation("softmax", z), soft).mean()
    assert model.evaluate(z, soft)["loss"] == pytest.approx(expected, rel=1e-12)


def test_hinge_zero_one_labels_equal_minus_one_one():
    rng = np.random.default_rng(4)
    z = rng.standard_normal((8, 2))
    y01 = rng.integers(0, 2, (8, 2)).astype(np.float64)
    y01[0] = [0, 1]  # both values present
    model = identity_model("linear", 2, "float64", "hinge", metrics=["accuracy"])
    a = model.evaluate(z, y01)
    b = model.evaluate(z, 2 * y01 - 1)
    assert a == b
    assert a["loss"] == pytest.approx(ref.row_losses("hinge", z, z, 2 * y01 - 1).mean())
    assert a["accuracy"] == pytest.approx(np.mean((z > 0) == (y01 > 0)))


def test_binary_cross_entropy_single_output_1d_labels():
    z = np.array([[2.0], [-1.0], [0.5]])
    y = np.array([1, 0, 0])
    model = identity_model("sigmoid", 1, "float64", "bce", metrics=["accuracy"])
    logs = model.evaluate(z, y)
    expected = ref.row_losses("binary_cross_entropy", z, ref.activation("sigmoid", z),
                              y[:, None].astype(float)).mean()
    assert logs["loss"] == pytest.approx(expected, rel=1e-12)
    assert logs["accuracy"] == pytest.approx(2 / 3)


def test_accuracy_argmax_and_multilabel():
    z = np.array([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0], [0.0, 0.0, 5.0], [1.0, 0.0, 0.0]])
    model = identity_model("softmax", 3, "float64", "cross_entropy", metrics=["accuracy"])
    assert model.evaluate(z, [0, 1, 0, 2])["accuracy"] == pytest.approx(0.5)
    sig = identity_model("sigmoid", 3, "float64", "binary_cross_entropy", metrics=["accuracy"])
    y = (z > 0).astype(np.float64)
    y[0, 0] = 0  # one element of 12 wrong
    assert sig.evaluate(z, y)["accuracy"] == pytest.approx(11 / 12)


@pytest.mark.parametrize("alias, name", [
    ("mean_squared_error", "mse"), ("mean_absolute_error", "mae"),
    ("categorical_crossentropy", "cross_entropy"), ("binary_crossentropy", "binary_cross_entropy"),
    ("kld", "kl_divergence"), ("MSE", "mse"),
    ("sparse_categorical_crossentropy", "cross_entropy")])
def test_loss_aliases(alias, name):
    assert fm.losses.get(alias).name == name


def test_zero_sample_weights_give_zero_loss_and_halve_with_half_the_rows():
    """Keras convention: weighted row losses divided by the row count, not by
    the sum of weights."""
    rng = np.random.default_rng(5)
    z, t = rng.standard_normal((10, 2)), rng.standard_normal((10, 2))
    model = identity_model("linear", 2, "float64", "mse")
    assert model.evaluate(z, t, sample_weight=np.zeros(10))["loss"] == 0.0
    w = np.r_[np.ones(5), np.zeros(5)]
    expected = ((z[:5] - t[:5]) ** 2).mean(axis=1).sum() / 10
    assert model.evaluate(z, t, sample_weight=w)["loss"] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss, act", [("cross_entropy", "softmax"),
                                       ("binary_cross_entropy", "sigmoid"),
                                       ("kl_divergence", "softmax")])
def test_training_step_on_huge_logits_is_finite_and_exact(loss, act, dtype):
    """Logits of +-1000 and +-30000: the fused gradients (p - t forms) stay
    finite, and one SGD step (lr = 1) moves W by exactly the reference's
    gradient."""
    X = np.array([[1.0, -1.0, 0.0], [1.0, -1.0, 0.0], [-1.0, -1.0, -1.0], [30.0, 0.0, -30.0]])
    y = {"cross_entropy": np.array([1, 0, 2, 2]),
         "binary_cross_entropy": np.array([[0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 1.0]]),
         "kl_divergence": np.full((4, 3), 1 / 3)}[loss]
    t = ref.one_hot(y, 3) if loss == "cross_entropy" else y
    model = fm.Sequential([fm.Dense(3, activation=act)], input_dim=3, dtype=dtype, seed=0)
    W0 = 1000 * np.eye(3)
    model.set_weights([W0, np.zeros(3)])
    model.compile(loss=loss, optimizer=fm.optim.SGD(lr=1.0))
    hist = model.fit(X, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    net = [{"kind": "dense", "act": act, "W": W0.copy(), "b": np.zeros(3), "l1": 0.0,
            "l2": 0.0}]
    value, (gW, gb) = ref.loss_and_gradients(net, X, t, loss)
    assert np.isfinite(hist.history["loss"][0])
    assert hist.history["loss"][0] == pytest.approx(value, rel=1e-6)
    W1, b1 = model.get_weights()
    assert np.isfinite(W1).all() and np.isfinite(b1).all()
    tol = 1e-12 if dtype == "float64" else 1e-4  # float32: W near 1000 keeps ~7 digits
    np.testing.assert_allclose(W0 - W1, gW, rtol=tol, atol=tol)
    np.testing.assert_allclose(-b1, gb, rtol=tol, atol=1e-6)


@pytest.mark.filterwarnings("error")  # NumPy's cast warning must not leak out
def test_targets_beyond_float32_are_rejected():
    model = fm.Sequential([fm.Dense(1)], input_dim=2, seed=0)
    model.compile(loss="mse")
    with pytest.raises(ValueError, match="y holds values beyond the range of float32"):
        model.evaluate(np.ones((3, 2)), np.array([0.0, 1e39, 1.0]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_cross_entropy_soft_targets(dtype):
    rng = np.random.default_rng(12)
    z = 3 * rng.standard_normal((7, 3))
    t = rng.random((7, 3))
    model = identity_model("sigmoid", 3, dtype, "binary_cross_entropy")
    zq = z.astype(dtype).astype(np.float64)
    expected = ref.row_losses("binary_cross_entropy", zq, ref.activation("sigmoid", zq), t).mean()
    assert model.evaluate(z, t)["loss"] == pytest.approx(expected, rel=1e-12 if dtype ==
                                                         "float64" else 2e-6)


def test_huber_delta_accepts_any_real_number():
    assert fm.losses.Huber(np.float32(0.5)).delta == 0.5
    assert type(fm.losses.Huber(np.int64(2)).delta) is float


@pytest.mark.parametrize("delta, error, message", [
    (0, ValueError, "delta must be in"), (-1.0, ValueError, "delta must be in"),
    (np.nan, ValueError, "delta must be finite"), ("1", TypeError, "delta must be a real number"),
    (True, TypeError, "delta must be a real number"),
])
def test_huber_invalid_delta(delta, error, message):
    with pytest.raises(error, match=message):
        fm.losses.Huber(delta)


@pytest.mark.parametrize("labels, shown", [
    (np.array([0.0, np.inf, 1.0]), "from 0.0 to inf"),
    (np.array([0.0, 1e30, 1.0]), "from 0.0 to 1e+30"),
    (np.array([0, 2 ** 64 - 1, 1], dtype=np.uint64), "from 0 to 18446744073709551615"),
    (np.array([0, -5, 1], dtype=np.int8), "from -5 to 1"),
], ids=["inf", "1e30", "uint64_max", "int8"])
def test_out_of_range_labels_are_shown_as_given(labels, shown):
    model = identity_model("softmax", 3, "float32", "cross_entropy")
    expected = re.escape(f"[0, 3) for 3 outputs; got labels {shown}") + "$"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning from a cast of the labels
        with pytest.raises(ValueError, match=expected):
            model.evaluate(np.zeros((3, 3)), labels)


@pytest.mark.parametrize("labels, shown", [
    (np.array([0.0, 1.0, 1.5]), "got 1.5 at row 2"), (np.array([np.nan, 1.0]), "got nan at row 0")])
def test_non_integer_labels_are_named(labels, shown):
    model = identity_model("softmax", 3, "float64", "cross_entropy")
    with pytest.raises(TypeError, match=f"class labels must be integers, {shown}"):
        model.evaluate(np.zeros((len(labels), 3)), labels)


@pytest.mark.parametrize("loss", ["cross_entropy", "kl_divergence"])
@pytest.mark.parametrize("rows, message", [
    ([[0.2, 0.8, 0.0], [0.0, 0.0, 0.0]], r"target row 1 is all zeros \(1 of 2 rows are\)"),
    ([[0.0, 0.0, 0.0]] * 3, r"target row 0 is all zeros \(3 of 3 rows are\)"),
    ([[1.0, 0.0, 0.0], [0.5, 0.6, -0.1]], "must be >= 0; row 1 has -0.1"),
], ids=["one_row", "all_rows", "negative"])
def test_target_rows_must_not_be_negative_or_all_zero(loss, rows, message):
    """An all-zero row has loss 0 and gradient 0: it would train nothing."""
    model = identity_model("softmax", 3, "float64", loss)
    with pytest.raises(ValueError, match=message):
        model.evaluate(np.zeros((len(rows), 3)), np.array(rows))


@pytest.mark.parametrize("loss", ["cross_entropy", "kl_divergence"])
@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.float32, np.float64])
def test_class_labels_in_a_column(loss, dtype):
    """Labels shaped (rows, 1), as Keras's sparse cross-entropy takes them, are
    the same as (rows,): one column for 3 outputs can only hold labels."""
    rng = np.random.default_rng(13)
    z = rng.standard_normal((9, 3))
    labels = rng.integers(0, 3, 9)
    model = identity_model("softmax", 3, "float64", loss, metrics=["accuracy"])
    assert model.evaluate(z, labels[:, None].astype(dtype)) == model.evaluate(z, labels)
    with pytest.raises(ValueError, match=re.escape("class labels must be in [0, 3)")):
        model.evaluate(z[:2], np.array([[0], [3]], dtype=dtype))


@pytest.mark.parametrize("column", [[[0.0], [0.5]], [[1.0], [np.nan]], [[0.2], [0.8]]],
                         ids=["fraction", "nan", "probabilities"])
def test_a_column_of_non_integers_is_refused(column):
    model = identity_model("softmax", 3, "float64", "cross_entropy")
    expected = ("y has shape (2, 1) with non-integer values; for 3 outputs pass integer class "
                "labels, shaped (2,) or (2, 1), or class probability rows, shaped (2, 3)")
    with pytest.raises(ValueError, match=re.escape(expected)):
        model.evaluate(np.zeros((2, 3)), np.array(column))
