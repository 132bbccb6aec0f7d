"""Every activation's forward pass, through a one-layer model's predict,
against the float64 NumPy reference (tests/reference_mlp.py)."""
import numpy as np
import pytest

import fastmlp as fm
from fastmlp import activations

import reference_mlp as ref

# (activation as given to Dense, reference name, reference parameter)
ELEMENTWISE = [
    ("linear", "linear", 0.0),
    ("sigmoid", "sigmoid", 0.0),
    ("tanh", "tanh", 0.0),
    ("relu", "relu", 0.0),
    ("leaky_relu", "leaky_relu", 0.01),
    (activations.LeakyReLU(0.2), "leaky_relu", 0.2),
    ("elu", "elu", 1.0),
    (activations.ELU(alpha=0.5), "elu", 0.5),
    ("softplus", "softplus", 0.0),
    ("gelu", "gelu", 0.0),
    ("silu", "silu", 0.0),
]
ALL = ELEMENTWISE + [("softmax", "softmax", 0.0)]


def _id(case):
    act = case[0]
    return act if isinstance(act, str) else repr(act)


def identity_model(act, width, dtype):
    """One Dense layer with W = I and b = 0: predict(x) is act(x)."""
    model = fm.Sequential([fm.Dense(width, activation=act)], input_dim=width, dtype=dtype, seed=0)
    model.set_weights([np.eye(width), np.zeros(width)])
    return model


def grid(width=6):
    """Inputs from -12 to 12 (both sides of softplus' switch at 20 come later),
    zero included, as rows of `width` values."""
    values = np.concatenate([np.linspace(-12, 12, 97), [0.0, -1e-3, 1e-3, 0.5, -0.5, 3.0]])
    values = np.concatenate([values, np.zeros((-len(values)) % width)])
    return values.reshape(-1, width)


@pytest.mark.parametrize("case", ALL, ids=[_id(c) for c in ALL])
def test_forward_float64_matches_reference(case):
    act, name, param = case
    x = grid()
    out = identity_model(act, x.shape[1], "float64").predict(x)
    assert out.dtype == np.float64 and out.shape == x.shape
    np.testing.assert_allclose(out, ref.activation(name, x, param), rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("case", ALL, ids=[_id(c) for c in ALL])
def test_forward_float32_matches_reference(case):
    act, name, param = case
    x = grid().astype(np.float32)
    out = identity_model(act, x.shape[1], "float32").predict(x)
    assert out.dtype == np.float32
    expected = ref.activation(name, x.astype(np.float64), param)
    # float32 rounding: about 1e-6 relative; an absolute floor where the
    # output is near zero (GELU's x Phi(x) for x << 0 cancels in 1 + erf).
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("case", ALL, ids=[_id(c) for c in ALL])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_with_random_weights_and_bias(case, dtype):
    """z = x W + b before the activation (not only the identity layer)."""
    act, name, param = case
    rng = np.random.default_rng(7)
    x = rng.standard_normal((13, 5))
    W, b = rng.standard_normal((5, 4)), rng.standard_normal(4)
    model = fm.Sequential([fm.Dense(4, activation=act)], input_dim=5, dtype=dtype, seed=0)
    model.set_weights([W, b])
    W32, b32, x32 = (a.astype(dtype).astype(np.float64) for a in (W, b, x))
    expected = ref.activation(name, x32 @ W32 + b32, param)
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == "float64" else dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(x), expected, **tol)


EXTREME = [-1e3, -200.0, -88.0, -30.0, -21.0, -20.0, -19.5, 19.5, 20.0, 20.5, 30.0, 88.0,
           89.0, 200.0, 1e3]


@pytest.mark.parametrize("case", ALL, ids=[_id(c) for c in ALL])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_extreme_inputs_stay_finite_and_correct(case, dtype):
    """|x| up to 1e3: no overflow to inf or NaN (e^1000 overflows both
    dtypes), and the values are the limits: sigmoid 0/1, tanh -1/1, softplus
    0/x, ELU -alpha, softmax one-hot."""
    act, name, param = case
    x = np.array(EXTREME).reshape(-1, 3)
    out = identity_model(act, 3, dtype).predict(x)
    assert np.isfinite(out).all(), out
    expected = ref.activation(name, x, param)
    if dtype == "float64":
        np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-300)
    else:
        np.testing.assert_allclose(out, expected, rtol=2e-6, atol=1e-30)


def test_extreme_limits_spelled_out():
    x = np.array([[-1e3, 1e3]])
    for dtype in ("float32", "float64"):
        assert identity_model("sigmoid", 2, dtype).predict(x).tolist() == [[0.0, 1.0]]
        assert identity_model("tanh", 2, dtype).predict(x).tolist() == [[-1.0, 1.0]]
        assert identity_model("softplus", 2, dtype).predict(x).tolist() == [[0.0, 1e3]]
        assert identity_model("softmax", 2, dtype).predict(x).tolist() == [[0.0, 1.0]]
        assert identity_model("elu", 2, dtype).predict(x).tolist() == [[-1.0, 1e3]]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_rows(dtype):
    x = np.array([[1e3, -1e3, 0.0], [1e3, 1e3, -1e3], [-1e3, -1e3, -1e3], [0.1, 0.2, 0.3],
                  [-500.0, -501.0, -502.0]])
    out = identity_model("softmax", 3, dtype).predict(x)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(out, ref.activation("softmax", x), rtol=1e-6, atol=1e-30)
    np.testing.assert_array_equal(out[2], np.full(3, out.dtype.type(1 / 3)))


def test_softplus_switches_to_linear_above_20():
    """PyTorch's threshold: x itself above 20, log1p(exp(x)) at or below."""
    x = np.array([[20.0, np.nextafter(20.0, 21.0), 25.0]])
    out = identity_model("softplus", 3, "float64").predict(x)[0]
    assert out[0] == np.log1p(np.exp(20.0))
    assert out[1] == x[0, 1] and out[2] == 25.0


@pytest.mark.parametrize("name, expected", [
    (None, "linear"), ("identity", "linear"), ("swish", "silu"), ("ReLU", "relu"),
    ("GELU", "gelu")])
def test_names_and_aliases(name, expected):
    assert fm.Dense(2, activation=name).activation.name == expected


def test_default_parameters_are_pytorchs():
    assert activations.get("leaky_relu").param == 0.01
    assert activations.get("elu").param == 1.0
    assert activations.LeakyReLU().param == 0.01 and activations.ELU().param == 1.0


def test_leaky_relu_slope_by_either_name():
    """alpha (the name the API gives it) and PyTorch's negative_slope set the
    same slope; the config keeps PyTorch's name, so saved models read back."""
    by_alpha = activations.LeakyReLU(alpha=0.2)
    assert by_alpha == activations.LeakyReLU(0.2) == activations.LeakyReLU(negative_slope=0.2)
    assert by_alpha.param == 0.2
    assert by_alpha.get_config() == {"negative_slope": 0.2}
    assert activations.LeakyReLU(**by_alpha.get_config()) == by_alpha
    assert repr(by_alpha) == "LeakyReLU(negative_slope=0.2)"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", ALL, ids=[_id(c) for c in ALL])
def test_same_bits_on_every_isa(case, dtype):
    """The element-wise kernels are compiled once per ISA, vectorised for it,
    with their own exp, expm1, tanh, log1p and erf (nn_math.h) rather than
    libm's per-ISA vector variants: each ISA must give the same bits, on a
    wide range of inputs (whole rows of 64, so the vector loops run, and
    ragged 7-wide rows for their tails)."""
    from fastmlp import _core

    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(-30, 30, 4096), rng.uniform(-120, 120, 2048),
                        rng.standard_normal(2048) * 1e-3, [0.0, -0.0, 88.5, -103.5, 700, -740]])
    results = {}
    original = _core.active_isa()
    try:
        for isa in _core.isas_available():
            _core.set_isa(isa)
            for width in (64, 7):
                rows = x[: len(x) // width * width].reshape(-1, width).astype(dtype)
                results[isa, width] = identity_model(case[0], width, dtype).predict(rows)
    finally:
        _core.set_isa(original)
    for (isa, width), out in results.items():
        assert out.tobytes() == results["generic", width].tobytes(), (isa, width)


def _worst_ulps(out, exact):
    """The largest error of `out` against the long double values `exact`, in
    units in the last place of out's dtype."""
    ulp = np.spacing(np.abs(exact).astype(out.dtype)).astype(np.longdouble)
    return float(np.max(np.abs(out.astype(np.longdouble) - exact) / ulp))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_exp_within_an_ulp(dtype):
    """nn_math.h's exp, seen through sigmoid: for x < -40, sigmoid(x) is
    computed as e^x / (1 + e^x), and 1 + e^x rounds to 1 in both types, so
    the output is e^x itself. (An exhaustive check of the float version
    over all 2^32 inputs, tools/math_ulps.c, finds at most 0.987 ulp.)"""
    rng = np.random.default_rng(7)
    low = -87.0 if dtype == "float32" else -708.0
    x = np.sort(rng.uniform(low, -40.0, 64 * 256)).astype(dtype).reshape(-1, 64)
    out = identity_model("sigmoid", 64, dtype).predict(x)
    worst = _worst_ulps(out, np.exp(x.astype(np.longdouble)))
    assert worst <= 1.0, f"exp is off by {worst:.3f} ulp"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act, exact", [("tanh", np.tanh), ("elu", np.expm1)], ids=["tanh", "elu"])
def test_tanh_and_expm1_within_three_ulps(dtype, act, exact):
    """nn_math.h's tanh, and its e^x - 1 seen through ELU (alpha 1) on x < 0,
    against long double references; densest near 0, where e^x - 1 and tanh
    would lose digits to cancellation if they were computed from e^x."""
    rng = np.random.default_rng(11)
    magnitude = np.concatenate([rng.uniform(0, 1, 8192), 10.0 ** rng.uniform(-30, 1.3, 8192)])
    x = -magnitude if act == "elu" else np.where(rng.integers(0, 2, magnitude.size), magnitude,
                                                 -magnitude)
    x = x.astype(dtype).reshape(-1, 64)
    out = identity_model(act, 64, dtype).predict(x)
    worst = _worst_ulps(out, exact(x.astype(np.longdouble)))
    assert worst <= 3.0, f"{act} is off by {worst:.3f} ulp"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softplus_within_two_ulps(dtype):
    """nn_math.h's log(1 + x), seen through softplus = log(1 + e^x) below 20,
    against long double: from far below 0, where softplus is e^x, to 20, its
    switch to x. (tools/math_ulps.c: log1p alone is within 0.97 ulp over
    every float input.)"""
    rng = np.random.default_rng(13)
    low = -87.0 if dtype == "float32" else -708.0
    x = np.concatenate([rng.uniform(low, 20.0, 8192), rng.uniform(-3.0, 3.0, 8192)])
    x = x.astype(dtype).reshape(-1, 64)
    out = identity_model("softplus", 64, dtype).predict(x)
    exact = np.log1p(np.exp(x.astype(np.longdouble)))
    worst = _worst_ulps(out, exact)
    assert worst <= 2.0, f"softplus is off by {worst:.3f} ulp"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gelu_within_three_ulps(dtype):
    """nn_math.h's erf, seen through GELU = x (1 + erf(x / sqrt 2)) / 2,
    against the same formula in float64 with Python's math.erf (glibc's,
    within an ulp). For x >= 0 within 3 ulp; for x < 0, 1 + erf cancels (as
    in PyTorch's formula, which this keeps), so there the error is bounded
    by that of 1 + erf: 3 ulp of 1, times |x|. (tools/math_ulps.c: erf alone
    is within 1.34 ulp over every float input and 1.28 ulp over 20 M
    double ones.)"""
    import math

    rng = np.random.default_rng(17)
    x = np.concatenate([rng.uniform(-6, 6, 8192), 10.0 ** rng.uniform(-20, 0, 4096)])
    x = np.concatenate([x, -x]).astype(dtype).reshape(-1, 64)
    out = identity_model("gelu", 64, dtype).predict(x)
    wide = x.astype(np.float64)
    erf = np.vectorize(math.erf)(wide * 0.70710678118654752440)
    exact = wide * (0.5 * (1 + erf))
    positive = wide >= 0
    assert _worst_ulps(out[positive], exact[positive]) <= 3.0
    half_ulp_of_one = np.finfo(dtype).eps / 2
    assert np.all(np.abs(out - exact)[~positive] <= 3 * half_ulp_of_one * np.abs(wide[~positive]))


@pytest.mark.parametrize("make, param", [
    (lambda: activations.LeakyReLU(np.float32(0.25)), 0.25),
    (lambda: activations.LeakyReLU(1), 1.0),
    (lambda: activations.ELU(np.float64(1)), 1.0),
    (lambda: activations.ELU(alpha=np.int64(2)), 2.0),
], ids=["leaky_float32", "leaky_int", "elu_float64", "elu_int64"])
def test_parameter_accepts_any_real_number(make, param):
    """NumPy scalars too, as the layers and optimizers accept them."""
    act = make()
    assert act.param == param and type(act.param) is float


@pytest.mark.parametrize("make, error, message", [
    (lambda: activations.LeakyReLU("0.2"), TypeError, "alpha must be a real number"),
    (lambda: activations.LeakyReLU(True), TypeError, "alpha must be a real number"),
    (lambda: activations.LeakyReLU(negative_slope="0.2"), TypeError,
     "negative_slope must be a real number"),
    (lambda: activations.ELU(None), TypeError, "alpha must be a real number"),
    (lambda: activations.ELU(np.nan), ValueError, "alpha must be finite"),
    (lambda: activations.ELU(10 ** 400), ValueError, "alpha must be finite"),
])
def test_parameter_must_be_a_finite_real_number(make, error, message):
    with pytest.raises(error, match=message):
        make()
