"""fastmlp.init: shapes and dtypes, the statistics of large samples against the
target distributions, determinism, get() and its aliases, default_for()."""
import math
import re
import warnings

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import init

ALL = [init.Uniform(), init.Normal(), init.Zeros(), init.Constant(0.5),
       init.LecunNormal(), init.LecunUniform(), init.GlorotNormal(), init.GlorotUniform(),
       init.HeNormal(), init.HeUniform()]

FAN_IN, FAN_OUT = 400, 600  # 240,000 values: sample variances within ~0.3%

# (initialiser, uniform?, target variance for shape (FAN_IN, FAN_OUT))
VARIANCE_SCALING = [
    (init.LecunNormal(), False, 1 / FAN_IN),
    (init.LecunUniform(), True, 1 / FAN_IN),
    (init.GlorotNormal(), False, 2 / (FAN_IN + FAN_OUT)),
    (init.GlorotUniform(), True, 2 / (FAN_IN + FAN_OUT)),
    (init.HeNormal(), False, 2 / FAN_IN),
    (init.HeUniform(), True, 2 / FAN_IN),
]


def ids(value):
    return repr(value) if isinstance(value, init.Initializer) else None


def test_fans():
    assert init.fans((3, 5)) == (3, 5)
    assert init.fans((7,)) == (7, 7)
    with pytest.raises(ValueError, match="1 or 2 dimensions"):
        init.fans((2, 3, 4))


@pytest.mark.parametrize("initializer", ALL, ids=ids)
@pytest.mark.parametrize("shape", [(3, 5), (7,), (1, 1), (0, 4), (4, 0), (0,)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shape_and_dtype(initializer, shape, dtype):
    out = initializer(shape, np.random.default_rng(0), dtype)
    assert isinstance(out, np.ndarray)
    assert out.shape == shape and out.dtype == dtype
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("initializer", ALL, ids=ids)
def test_same_seed_same_values_and_dtypes_agree(initializer):
    a = initializer((20, 30), np.random.default_rng(7), np.float64)
    b = initializer((20, 30), np.random.default_rng(7), np.float64)
    c = initializer((20, 30), np.random.default_rng(7), np.float32)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(c, a.astype(np.float32))


def test_draws_advance_the_generator():
    rng = np.random.default_rng(1)
    first = init.HeNormal()((10, 10), rng, np.float64)
    second = init.HeNormal()((10, 10), rng, np.float64)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("initializer, uniform, variance", VARIANCE_SCALING,
                         ids=[repr(case[0]) for case in VARIANCE_SCALING])
def test_variance_scaling_statistics(initializer, uniform, variance, rng):
    w = initializer((FAN_IN, FAN_OUT), rng, np.float64)
    std = math.sqrt(variance)
    assert abs(w.mean()) < 0.01 * std
    assert w.var() == pytest.approx(variance, rel=0.02)
    limit = math.sqrt(3 * variance)
    if uniform:
        assert w.min() >= -limit and w.max() <= limit
        assert w.min() < -0.999 * limit and w.max() > 0.999 * limit
    else:
        # Not truncated: about 4.55% of a normal lies beyond 2 std, and 240,000
        # draws reach past 3.5 std (where a uniform of this variance stops at 1.73).
        assert np.mean(np.abs(w) > 2 * std) == pytest.approx(0.0455, abs=0.003)
        assert np.abs(w).max() > 3.5 * std


@pytest.mark.parametrize("initializer, scale", [
    (init.LecunNormal(), 1.0), (init.GlorotUniform(), 1.0), (init.HeNormal(), 2.0)], ids=ids)
def test_bias_shape_uses_n_as_both_fans(initializer, scale, rng):
    n = FAN_IN * FAN_OUT
    assert initializer((n,), rng, np.float64).var() == pytest.approx(scale / n, rel=0.02)


def test_fans_follow_the_in_out_layout(rng):
    # He uses fan_in: the first dimension. Transposing the shape changes the scale.
    w = init.HeUniform()((100, 2000), rng, np.float64)
    assert w.var() == pytest.approx(2 / 100, rel=0.02)
    w = init.HeUniform()((2000, 100), rng, np.float64)
    assert w.var() == pytest.approx(2 / 2000, rel=0.02)


def test_uniform_and_normal(rng):
    w = init.Uniform(-0.2, 0.6)((500, 500), rng, np.float64)
    assert w.min() >= -0.2 and w.max() <= 0.6
    assert w.mean() == pytest.approx(0.2, abs=0.002)
    assert w.var() == pytest.approx(0.8 ** 2 / 12, rel=0.02)
    w = init.Normal(mean=1.5, std=0.3)((500, 500), rng, np.float64)
    assert w.mean() == pytest.approx(1.5, abs=0.003)
    assert w.std() == pytest.approx(0.3, rel=0.01)
    assert np.all(init.Normal(mean=2.0, std=0.0)((3, 4), rng, np.float32) == 2.0)


def test_constant_and_zeros(rng):
    assert np.all(init.Constant(0.25)((3, 4), rng, np.float32) == 0.25)
    assert np.all(init.Constant()((3,), rng, np.float64) == 0.0)
    assert np.all(init.Zeros()((3, 4), rng, np.float64) == 0.0)


def test_default_arguments():
    # PyTorch's: uniform_(a=0, b=1), normal_(mean=0, std=1), xavier gain 1,
    # kaiming_*(a=0, mode="fan_in", nonlinearity="leaky_relu")
    assert init.Uniform().get_config() == {"a": 0.0, "b": 1.0}
    assert init.Normal().get_config() == {"mean": 0.0, "std": 1.0}
    assert init.Constant().get_config() == {"val": 0.0}
    assert init.GlorotUniform().get_config() == {"gain": 1.0}
    assert init.HeNormal().get_config() == {"a": 0.0, "mode": "fan_in",
                                            "nonlinearity": "leaky_relu"}


@pytest.mark.parametrize("initializer", ALL, ids=ids)
def test_config_round_trip_and_repr(initializer):
    config = initializer.get_config()
    copy = type(initializer)(**config)
    assert copy.get_config() == config
    assert repr(copy) == repr(initializer)
    assert repr(initializer).startswith(type(initializer).__name__ + "(")


def test_equality():
    assert init.get("xavier_uniform") == init.GlorotUniform()
    assert init.Uniform(-1, 1) == init.Uniform(-1.0, 1.0)
    assert init.Uniform(-1, 1) != init.Uniform(-1, 2)
    assert init.HeUniform() != init.HeNormal()
    assert init.Constant(0.0) != init.Zeros()
    assert len({init.HeUniform(), init.HeUniform(), init.Normal(std=0.1)}) == 2


def test_repr():
    assert repr(init.Uniform(-1, 2)) == "Uniform(a=-1.0, b=2.0)"
    assert repr(init.LecunNormal()) == "LecunNormal()"
    assert repr(init.HeUniform()) == "HeUniform(a=0.0, mode='fan_in', nonlinearity='leaky_relu')"


@pytest.mark.parametrize("make, message", [
    (lambda: init.Uniform(0.1, 0.1), "a must be less than b"),
    (lambda: init.Uniform(0.5, -0.5), "a must be less than b"),
    (lambda: init.Uniform(-np.inf, 0.0), "a must be finite"),
    (lambda: init.Uniform(-1.7e308, 1.7e308), "b - a must be a finite float64"),
    (lambda: init.Normal(std=-0.1), "std must be >= 0"),
    (lambda: init.Normal(mean=np.nan), "mean must be finite"),
    (lambda: init.Constant(np.inf), "val must be finite"),
    (lambda: init.Constant(10 ** 400), "val must be finite"),
    (lambda: init.GlorotNormal(gain=np.nan), "gain must be finite"),
    (lambda: init.HeUniform(mode="fan_avg"), "mode must be 'fan_in' or 'fan_out'"),
    (lambda: init.HeUniform(nonlinearity="cube"), "unknown nonlinearity 'cube'"),
    (lambda: init.calculate_gain("leaky_relu", np.inf), "param must be finite"),
])
def test_invalid_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("make", [lambda: init.Uniform("0", 1), lambda: init.Normal(std=None),
                                  lambda: init.Constant(True)])
def test_non_numeric_arguments(make):
    with pytest.raises(TypeError, match="must be a real number"):
        make()


def test_invalid_call_arguments():
    rng = np.random.default_rng(0)
    he = init.HeUniform()
    with pytest.raises(ValueError, match="1 or 2 dimensions"):
        he((2, 3, 4), rng, np.float32)
    with pytest.raises(ValueError, match="negative"):
        he((-1, 3), rng, np.float32)
    with pytest.raises(TypeError, match="tuple of ints"):
        he((2.0, 3), rng, np.float32)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        he((2, 3), 0, np.float32)
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        he((2, 3), np.random.RandomState(0), np.float32)
    with pytest.raises(TypeError, match="floating-point"):
        he((2, 3), rng, np.int32)


@pytest.mark.parametrize("name, cls", [
    ("uniform", init.Uniform), ("normal", init.Normal), ("zeros", init.Zeros),
    ("constant", init.Constant),
    ("lecun_normal", init.LecunNormal), ("lecun_uniform", init.LecunUniform),
    ("glorot_normal", init.GlorotNormal), ("glorot_uniform", init.GlorotUniform),
    ("xavier_normal", init.GlorotNormal), ("xavier_uniform", init.GlorotUniform),
    ("he_normal", init.HeNormal), ("he_uniform", init.HeUniform),
    ("kaiming_normal", init.HeNormal), ("kaiming_uniform", init.HeUniform),
])
def test_get_by_name(name, cls):
    assert type(init.get(name)) is cls


@pytest.mark.parametrize("name, cls", [("He_Normal", init.HeNormal), ("ZEROS", init.Zeros),
                                       ("Xavier_Uniform", init.GlorotUniform)])
def test_get_ignores_case(name, cls):
    """As activations, losses and optimizers do."""
    assert type(init.get(name)) is cls


def test_get_instance_is_returned_as_is():
    uniform = init.Uniform(-1, 1)
    assert init.get(uniform) is uniform


def test_get_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown initialiser 'he'") as info:
        init.get("he")
    assert "he_uniform" in str(info.value) and "xavier_normal" in str(info.value)


@pytest.mark.parametrize("identifier, message", [
    (None, "a name or an fm.init object"), (0.1, "a name or an fm.init object"),
    (init.HeUniform, r"HeUniform\(\), not the class"),
])
def test_get_wrong_type(identifier, message):
    with pytest.raises(TypeError, match=message):
        init.get(identifier)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "elu", "gelu", "silu", "softplus"])
def test_default_for_relu_like(activation):
    assert type(init.default_for(activation)) is init.HeUniform


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "softmax", "linear", None])
def test_default_for_others(activation):
    assert init.default_for(activation) == init.GlorotUniform()


def test_default_for_leaky_relu_uses_its_slope():
    # PyTorch's advice for a leaky ReLU: kaiming with a = its negative slope.
    assert init.default_for(fm.activations.LeakyReLU(0.2)) == init.HeUniform(a=0.2)
    assert init.default_for("leaky_relu") == init.HeUniform(a=0.01)
    layer = fm.Dense(4, activation=fm.activations.LeakyReLU(0.3))
    assert layer.kernel_initializer == init.HeUniform(a=0.3)


def test_default_for_an_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation 'cube'"):
        init.default_for("cube")


def test_default_for_returns_a_new_instance():
    assert init.default_for("relu") is not init.default_for("relu")


@pytest.mark.parametrize("nonlinearity, param, gain", [
    ("linear", None, 1.0), ("identity", None, 1.0), ("sigmoid", None, 1.0),
    ("tanh", None, 5 / 3), ("relu", None, np.sqrt(2)), ("selu", None, 0.75),
    ("leaky_relu", None, np.sqrt(2 / (1 + 0.01 ** 2))), ("leaky_relu", 0.2, np.sqrt(2 / 1.04)),
    ("leaky_relu", 0, np.sqrt(2)), ("conv2d", None, 1.0), ("conv_transpose3d", None, 1.0),
])
def test_calculate_gain_is_pytorchs(nonlinearity, param, gain):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(gain, rel=1e-15)


def test_calculate_gain_wants_a_name():
    with pytest.raises(TypeError, match="nonlinearity must be a name"):
        init.calculate_gain(None)


@pytest.mark.parametrize("make, variance", [
    (lambda: init.GlorotNormal(gain=2.0), 4 * 2 / (FAN_IN + FAN_OUT)),
    (lambda: init.GlorotUniform(gain=0.5), 0.25 * 2 / (FAN_IN + FAN_OUT)),
    (lambda: init.HeNormal(mode="fan_out"), 2 / FAN_OUT),
    (lambda: init.HeUniform(a=0.5), 2 / (1.25 * FAN_IN)),
    (lambda: init.HeUniform(nonlinearity="tanh"), (5 / 3) ** 2 / FAN_IN),
    (lambda: init.HeNormal(mode="fan_out", nonlinearity="linear"), 1 / FAN_OUT),
], ids=["glorot_normal_gain", "glorot_uniform_gain", "he_fan_out", "he_slope", "he_tanh",
        "he_linear_fan_out"])
def test_gain_and_mode_set_the_variance(make, variance, rng):
    w = make()((FAN_IN, FAN_OUT), rng, np.float64)
    assert w.var() == pytest.approx(variance, rel=0.02)
    assert w.mean() == pytest.approx(0, abs=0.01 * np.sqrt(variance))


@pytest.mark.parametrize("initializer", [init.Constant(1e39), init.Normal(std=1e300),
                                         init.Uniform(-1e300, 1e300)], ids=ids)
def test_values_beyond_float32_are_refused(initializer):
    """Finite in float64, inf once cast to float32: an error naming the
    initialiser and the dtype, and no NumPy overflow warning."""
    rng = np.random.default_rng(0)
    assert np.isfinite(initializer((3, 4), rng, np.float64)).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=re.escape(
                f"{initializer!r} gives values that are not finite in float32")):
            initializer((3, 4), rng, np.float32)


def test_values_beyond_float64_are_refused():
    with pytest.raises(ValueError, match=r"Normal\(mean=1e\+308, std=1e\+308\) gives values "
                                         "that are not finite in float64"):
        init.Normal(mean=1e308, std=1e308)((10, 10), np.random.default_rng(0), np.float64)


def test_huge_gains_give_an_error_not_an_overflow():
    rng = np.random.default_rng(0)
    # gain**2 and slope**2 would overflow; the limit sqrt(3) gain does
    gain = init.calculate_gain("leaky_relu", 1e200)
    assert gain == pytest.approx(np.sqrt(2) * 1e-200, rel=1e-12, abs=0)  # abs=0: not "about 0"
    assert np.isfinite(init.GlorotNormal(gain=1e200)((4, 4), rng, np.float64)).all()
    with pytest.raises(ValueError, match=r"GlorotUniform\(gain=1\.7e\+308\) gives values that "
                                         "are not finite in float64"):
        init.GlorotUniform(gain=1.7e308)((1, 1), rng, np.float64)


def test_a_float32_model_with_overflowing_initial_weights_is_refused():
    with pytest.raises(ValueError, match=r"Constant\(val=1e\+39\).*float32"):
        fm.Sequential([fm.Dense(4, kernel_initializer=init.Constant(1e39))], input_dim=5,
                      dtype="float32", seed=0)
