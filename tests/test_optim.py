"""Optimizers (fastmlp.optim, csrc/nn/optim.c): each rule and option against a
NumPy float64 implementation of PyTorch's published formulas, bitwise the same
for any thread count, validation of hyper-parameters and of the binding's
arrays; against torch.optim itself when torch is installed."""
import inspect
import math

import numpy as np
import pytest

import fastmlp
from fastmlp import _core, optim

STEPS = 5


# ---- the reference: torch.optim's algorithms, written from its docs ----------

def _decayed(h, p, g):
    return g + h["weight_decay"] * p if h["weight_decay"] else g


def ref_sgd(h, step, p, g, s):
    g = _decayed(h, p, g)
    if h["momentum"]:
        s[0][:] = g if step == 1 else h["momentum"] * s[0] + (1 - h["dampening"]) * g
        g = g + h["momentum"] * s[0] if h["nesterov"] else s[0]
    p -= h["lr"] * g


def ref_adagrad(h, step, p, g, s):
    g = _decayed(h, p, g)
    clr = h["lr"] / (1 + (step - 1) * h["lr_decay"])
    s[0] += g * g
    p -= clr * g / (np.sqrt(s[0]) + h["eps"])


def ref_rmsprop(h, step, p, g, s):
    g = _decayed(h, p, g)
    alpha = h["alpha"]
    sq, rest = s[0], s[1:]
    sq[:] = alpha * sq + (1 - alpha) * g * g
    buf = rest.pop(0) if h["momentum"] > 0 else None
    if h["centered"]:
        gavg = rest.pop(0)
        gavg[:] = alpha * gavg + (1 - alpha) * g
        avg = np.sqrt(sq - gavg * gavg) + h["eps"]
    else:
        avg = np.sqrt(sq) + h["eps"]
    if buf is not None:
        buf[:] = h["momentum"] * buf + g / avg
        p -= h["lr"] * buf
    else:
        p -= h["lr"] * g / avg


def ref_adadelta(h, step, p, g, s):
    g = _decayed(h, p, g)
    rho, eps = h["rho"], h["eps"]
    sq, acc = s
    sq[:] = rho * sq + (1 - rho) * g * g
    delta = np.sqrt(acc + eps) / np.sqrt(sq + eps) * g
    acc[:] = rho * acc + (1 - rho) * delta * delta
    p -= h["lr"] * delta


def ref_adam(h, step, p, g, s, decoupled=False):
    if decoupled:
        p *= 1 - h["lr"] * h["weight_decay"]
    else:
        g = _decayed(h, p, g)
    (b1, b2), m, v = h["betas"], s[0], s[1]
    m[:] = b1 * m + (1 - b1) * g
    v[:] = b2 * v + (1 - b2) * g * g
    vhat = np.maximum(s[2], v, out=s[2]) if h["amsgrad"] else v
    step_size = h["lr"] / (1 - b1 ** step)
    p -= step_size * m / (np.sqrt(vhat) / math.sqrt(1 - b2 ** step) + h["eps"])


def ref_adamw(h, step, p, g, s):
    ref_adam(h, step, p, g, s, decoupled=True)


REFERENCES = {"sgd": ref_sgd, "adagrad": ref_adagrad, "rmsprop": ref_rmsprop,
              "adadelta": ref_adadelta, "adam": ref_adam, "adamw": ref_adamw}

# Each optimizer with each of its options, alone and together.
CASES = [
    (optim.SGD, {}),
    (optim.SGD, dict(lr=0.1, momentum=0.9)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.3)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (optim.SGD, dict(lr=0.1, weight_decay=0.05)),
    (optim.SGD, dict(lr=0.1, momentum=0.5, weight_decay=0.05, nesterov=True)),
    (optim.Adagrad, {}),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.2)),
    (optim.Adagrad, dict(lr=0.1, weight_decay=0.05)),
    (optim.Adagrad, dict(lr=0.1, initial_accumulator_value=0.5)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.1,
                         eps=1e-6)),
    (optim.RMSprop, {}),
    (optim.RMSprop, dict(alpha=0.9, momentum=0.8)),
    (optim.RMSprop, dict(alpha=0.9, centered=True)),
    (optim.RMSprop, dict(alpha=0.9, weight_decay=0.05)),
    (optim.RMSprop, dict(lr=0.05, alpha=0.8, eps=1e-6, momentum=0.5, centered=True,
                         weight_decay=0.05)),
    (optim.Adadelta, {}),
    (optim.Adadelta, dict(weight_decay=0.05)),
    (optim.Adadelta, dict(lr=0.5, rho=0.5, eps=1e-4)),
    (optim.Adam, {}),
    (optim.Adam, dict(lr=0.05, amsgrad=True)),
    (optim.Adam, dict(lr=0.05, weight_decay=0.1)),
    (optim.Adam, dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True)),
    (optim.AdamW, {}),
    (optim.AdamW, dict(lr=0.05, weight_decay=0)),
    (optim.AdamW, dict(lr=0.05, weight_decay=0.1, amsgrad=True)),
    (optim.AdamW, dict(lr=0.05, betas=(0.5, 0.9), eps=1e-6, weight_decay=0.3)),
]


def case_id(case):
    cls, kwargs = case
    return cls.__name__ + "".join(f"-{k}={v}" for k, v in kwargs.items())


CASE_PARAMS = [pytest.param(*case, id=case_id(case)) for case in CASES]


def gradients(rng, n, dtype, steps=STEPS):
    """Random gradients whose scale changes from step to step (so that, with
    amsgrad, the maximum of exp_avg_sq is not always the latest value)."""
    return [(rng.standard_normal(n) * rng.uniform(0.1, 3)).astype(dtype) for _ in range(steps)]


def run_fastmlp(opt, p, grads):
    p = p.copy()
    states = opt.init_state(p)
    for step, g in enumerate(grads, start=1):
        opt.step([p], [g], [states], step)
    return p, states


def run_reference(opt, p, grads):
    kind, h = opt.kind, opt.get_config()
    p = p.astype(np.float64)
    states = [s.astype(np.float64) for s in opt.init_state(p)]
    for step, g in enumerate(grads, start=1):
        REFERENCES[kind](h, step, p, g.astype(np.float64), states)
    return p, states


def assert_matches(actual, expected, rtol, atol):
    p, states = actual
    p_ref, states_ref = expected
    np.testing.assert_allclose(p, p_ref, rtol=rtol, atol=atol, err_msg="param")
    assert len(states) == len(states_ref)
    for i, (s, s_ref) in enumerate(zip(states, states_ref)):
        np.testing.assert_allclose(s, s_ref, rtol=rtol, atol=atol, err_msg=f"states[{i}]")


# ---- the updates --------------------------------------------------------------

# float32 runs in float32; its reference in float64 from the same inputs.
TOLERANCES = {np.float64: (1e-12, 1e-14), np.float32: (1e-5, 1e-6)}


@pytest.mark.parametrize("cls, kwargs", CASE_PARAMS)
def test_matches_reference(cls, kwargs, dtype, rng):
    opt = cls(**kwargs)
    n = 1001
    p = rng.standard_normal(n).astype(dtype)
    grads = gradients(rng, n, dtype)
    actual = run_fastmlp(opt, p, grads)
    assert actual[0].dtype == dtype and all(s.dtype == dtype for s in actual[1])
    assert not np.array_equal(actual[0], p)
    rtol, atol = TOLERANCES[dtype]
    assert_matches(actual, run_reference(opt, p, grads), rtol, atol)


def test_amsgrad_keeps_the_maximum(rng):
    """The gradients of these tests make max_exp_avg_sq differ from exp_avg_sq,
    so the amsgrad cases above test the maximum."""
    opt = optim.Adam(amsgrad=True)
    _, (m, v, vmax) = run_fastmlp(opt, rng.standard_normal(1001), gradients(rng, 1001, np.float64))
    assert np.all(vmax >= v) and np.any(vmax > v)


@pytest.mark.parametrize("cls, kwargs", [
    (optim.SGD, dict(momentum=0.9, nesterov=True, weight_decay=0.1)),
    (optim.Adagrad, dict(lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.1)),
    (optim.RMSprop, dict(momentum=0.5, centered=True, weight_decay=0.1)),
    (optim.Adadelta, dict(weight_decay=0.1)),
    (optim.Adam, dict(amsgrad=True, weight_decay=0.1)),
    (optim.AdamW, dict(amsgrad=True)),
], ids=lambda x: x.__name__ if isinstance(x, type) else None)
def test_bitwise_equal_for_any_thread_count(cls, kwargs, dtype, rng, restore_threads):
    opt = cls(**kwargs)
    n = 200_003  # enough elements for 3 threads
    p = rng.standard_normal(n).astype(dtype)
    grads = gradients(rng, n, dtype, steps=3)
    results = []
    for threads in (1, 2, 3):
        fastmlp.set_num_threads(threads)
        results.append(run_fastmlp(opt, p, grads))
    for p_t, states_t in results[1:]:
        assert np.array_equal(p_t, results[0][0])
        assert all(np.array_equal(s, s0) for s, s0 in zip(states_t, results[0][1]))


@pytest.mark.parametrize("cls, kwargs", CASE_PARAMS)
def test_bitwise_equal_on_every_isa(cls, kwargs, dtype, rng):
    """Each ISA's engine is the same C compiled with other flags, which never
    reassociate or contract: the updates must agree to the bit."""
    opt = cls(**kwargs)
    n = 1003  # a ragged tail for every vector width
    p = rng.standard_normal(n).astype(dtype)
    grads = gradients(rng, n, dtype)
    original = _core.active_isa()
    results = {}
    try:
        for isa in _core.isas_available():
            _core.set_isa(isa)
            results[isa] = run_fastmlp(opt, p, grads)
    finally:
        _core.set_isa(original)
    first_p, first_states = results.pop("generic")
    for isa, (p_isa, states_isa) in results.items():
        assert p_isa.tobytes() == first_p.tobytes(), isa
        assert [s.tobytes() for s in states_isa] == [s.tobytes() for s in first_states], isa


def test_momentum_buffer_starts_as_the_first_gradient(rng):
    """SGD never reads its buffer on step 1: whatever it holds is replaced."""
    opt = optim.SGD(lr=0.1, momentum=0.9, dampening=0.5)
    p, g = rng.standard_normal(10), rng.standard_normal(10)
    buf = np.full(10, np.nan)
    p_new = p.copy()
    _core.optimizer_step(opt.config(), 1, p_new, g, [buf])
    np.testing.assert_array_equal(buf, g)
    np.testing.assert_array_equal(p_new, p - 0.1 * g)


def test_zero_weight_decay_ignores_the_parameter():
    """As in PyTorch, weight_decay=0 adds no 0 * p: an inf parameter does not
    turn the gradient into NaN."""
    p = np.array([np.inf, 1.0])
    _core.optimizer_step(optim.SGD(lr=0.5).config(), 1, p, np.array([1.0, 1.0]), [])
    np.testing.assert_array_equal(p, [np.inf, 0.5])


def test_step_updates_many_parameters_in_place(rng):
    opt = optim.Adam(lr=0.01)
    params = [rng.standard_normal((7, 5)), rng.standard_normal(5)]
    grads = [rng.standard_normal((7, 5)), rng.standard_normal(5)]
    states = [opt.init_state(p) for p in params]
    assert [s.shape for s in states[0]] == [(7, 5)] * 2
    expected = [run_reference(opt, p.reshape(-1), [g.reshape(-1)]) for p, g in zip(params, grads)]
    opt.step(params, grads, states, 1)
    for p, s, ref in zip(params, states, expected):
        assert_matches((p.reshape(-1), [x.reshape(-1) for x in s]), ref, 1e-12, 1e-14)


def test_step_rejects_mismatched_lists_and_non_contiguous_params(rng):
    opt = optim.SGD()
    p, g = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    with pytest.raises(ValueError, match="one of each"):
        opt.step([p], [g, g], [[]], 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        opt.step([p.T], [g.T], [[]], 1)


def test_state_names_follow_the_settings_that_need_them():
    assert optim.SGD().state_names() == ()
    assert optim.SGD(momentum=0.9).state_names() == ("momentum_buffer",)
    # centered and momentum together: the C update's order (see the module docstring)
    assert optim.RMSprop(momentum=0.5, centered=True).state_names() == (
        "square_avg", "momentum_buffer", "grad_avg")
    assert optim.RMSprop(centered=True).state_names() == ("square_avg", "grad_avg")
    assert optim.Adam(amsgrad=True).state_names() == ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")


def test_empty_parameter():
    p = np.empty(0, np.float32)
    _core.optimizer_step(optim.Adam().config(), 1, p, p.copy(), [p.copy(), p.copy()])


# ---- state layout --------------------------------------------------------------

@pytest.mark.parametrize("opt, count", [
    (optim.SGD(), 0), (optim.SGD(momentum=0.9), 1), (optim.Adagrad(), 1),
    (optim.RMSprop(), 1), (optim.RMSprop(momentum=0.1), 2), (optim.RMSprop(centered=True), 2),
    (optim.RMSprop(momentum=0.1, centered=True), 3), (optim.Adadelta(), 2),
    (optim.Adam(), 2), (optim.Adam(amsgrad=True), 3), (optim.AdamW(), 2),
    (optim.AdamW(amsgrad=True), 3),
], ids=repr)
def test_state_count(opt, count):
    assert opt.state_count() == count
    assert len(opt.state_names()) == count  # the Python names describe the C layout
    states = opt.init_state(np.ones((3, 2), np.float32))
    assert len(states) == count
    assert all(s.shape == (3, 2) and s.dtype == np.float32 and s.flags.c_contiguous
               for s in states)


def test_init_state_values():
    assert all(not s.any() for s in optim.Adam(amsgrad=True).init_state(np.ones(4)))
    (acc,) = optim.Adagrad(initial_accumulator_value=0.25).init_state(np.ones(4))
    np.testing.assert_array_equal(acc, np.full(4, 0.25))


# ---- the public classes ------------------------------------------------------

DEFAULTS = {
    optim.SGD: dict(lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False),
    optim.Adagrad: dict(lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                        eps=1e-10),
    optim.RMSprop: dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                        centered=False),
    optim.Adadelta: dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0),
    optim.Adam: dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False),
    optim.AdamW: dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False),
}


@pytest.mark.parametrize("cls", DEFAULTS, ids=lambda c: c.__name__)
def test_defaults_and_config_round_trip(cls):
    params = inspect.signature(cls).parameters
    assert {name: p.default for name, p in params.items()
            if p.kind is not p.VAR_KEYWORD} == DEFAULTS[cls]  # but **torch_options
    opt = cls()
    assert opt.get_config() == DEFAULTS[cls]
    assert cls(**opt.get_config()).get_config() == opt.get_config()
    assert repr(opt).startswith(f"{cls.__name__}(lr=")
    config = opt.config()
    assert config["kind"] == opt.kind and config["lr"] == opt.lr


def test_adam_config_splits_betas():
    config = optim.Adam(betas=(0.5, 0.75)).config()
    assert (config["beta1"], config["beta2"]) == (0.5, 0.75) and "betas" not in config


def test_lr_can_change_and_is_validated():
    opt = optim.Adam()
    opt.lr = 0.5
    assert opt.lr == 0.5 and opt.config()["lr"] == 0.5
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1
    with pytest.raises(TypeError, match="lr"):
        opt.lr = "0.1"
    assert opt.lr == 0.5


def test_setting_an_unknown_attribute_is_an_error():
    """Keras's name for lr would otherwise be set and never read."""
    opt = optim.Adam(lr=0.01)
    with pytest.raises(AttributeError, match="Adam has no hyper-parameter 'learning_rate'; "
                                             "its hyper-parameters are lr, betas, eps"):
        opt.learning_rate = 0.5
    with pytest.raises(AttributeError, match="SGD has no hyper-parameter 'amsgrad'"):
        optim.SGD().amsgrad = True
    assert opt.lr == 0.01 and not hasattr(opt, "learning_rate")
    opt._private = 1  # private names stay free for the class's own use
    assert opt._private == 1


def test_initial_lr_is_validated_and_not_a_hyper_parameter():
    """The base rate a LearningRateScheduler keeps on the optimizer."""
    opt = optim.SGD(lr=0.1)
    assert opt.initial_lr is None
    opt.initial_lr = 0.5
    assert opt.initial_lr == 0.5 and "initial_lr" not in opt.get_config()
    with pytest.raises(ValueError, match="initial_lr must be >= 0"):
        opt.initial_lr = -1.0
    with pytest.raises(TypeError, match="initial_lr must be a real number"):
        opt.initial_lr = "0.1"
    opt.initial_lr = None
    assert opt.initial_lr is None and optim.SGD().initial_lr is None


def test_changing_a_hyper_parameter_checks_the_combination():
    opt = optim.SGD(momentum=0.9, nesterov=True)
    with pytest.raises(ValueError, match="nesterov"):
        opt.momentum = 0
    assert opt.momentum == 0.9


@pytest.mark.parametrize("cls, kwargs, error, match", [
    (optim.SGD, dict(lr=-0.1), ValueError, "lr must be >= 0"),
    (optim.SGD, dict(lr=math.nan), ValueError, "lr must be finite"),
    (optim.SGD, dict(lr=math.inf), ValueError, "lr must be finite"),
    (optim.SGD, dict(lr=10 ** 400), ValueError, "lr must be finite"),
    (optim.SGD, dict(lr="0.1"), TypeError, "lr must be a real number"),
    (optim.SGD, dict(lr=None), TypeError, "lr must be a real number"),
    (optim.SGD, dict(lr=True), TypeError, "lr must be a real number"),
    (optim.SGD, dict(momentum=-0.5), ValueError, "momentum must be >= 0"),
    (optim.SGD, dict(dampening=-0.1), ValueError, "dampening must be in"),
    (optim.SGD, dict(dampening=1.5), ValueError, "dampening must be in"),
    (optim.SGD, dict(weight_decay=-1e-4), ValueError, "weight_decay must be >= 0"),
    (optim.SGD, dict(weight_decay=math.inf), ValueError, "weight_decay must be finite"),
    (optim.SGD, dict(nesterov=True), ValueError, "nesterov=True requires momentum > 0"),
    (optim.SGD, dict(nesterov=True, momentum=0.9, dampening=0.1), ValueError,
     "dampening == 0"),
    (optim.SGD, dict(nesterov=1), TypeError, "nesterov must be a bool"),
    (optim.Adagrad, dict(lr_decay=-1), ValueError, "lr_decay must be >= 0"),
    (optim.Adagrad, dict(initial_accumulator_value=-1), ValueError,
     "initial_accumulator_value must be >= 0"),
    (optim.Adagrad, dict(eps=-1e-10), ValueError, "eps must be >= 0"),
    (optim.Adagrad, dict(eps=math.nan), ValueError, "eps must be finite"),
    (optim.RMSprop, dict(alpha=-0.1), ValueError, "alpha must be in"),
    (optim.RMSprop, dict(alpha=1.5), ValueError, "alpha must be in"),
    (optim.RMSprop, dict(momentum=-1), ValueError, "momentum must be >= 0"),
    (optim.RMSprop, dict(eps=-1), ValueError, "eps must be >= 0"),
    (optim.RMSprop, dict(weight_decay=-1), ValueError, "weight_decay must be >= 0"),
    (optim.RMSprop, dict(centered="yes"), TypeError, "centered must be a bool"),
    (optim.Adadelta, dict(rho=-0.1), ValueError, "rho must be in"),
    (optim.Adadelta, dict(rho=1.1), ValueError, "rho must be in"),
    (optim.Adadelta, dict(lr=-1), ValueError, "lr must be >= 0"),
    (optim.Adadelta, dict(eps=-1), ValueError, "eps must be >= 0"),
    (optim.Adadelta, dict(weight_decay=-1), ValueError, "weight_decay must be >= 0"),
    (optim.Adam, dict(betas=(1.0, 0.999)), ValueError, r"betas\[0\] must be in \[0, 1\)"),
    (optim.Adam, dict(betas=(-0.1, 0.999)), ValueError, r"betas\[0\] must be in"),
    (optim.Adam, dict(betas=(0.9, 1.0)), ValueError, r"betas\[1\] must be in \[0, 1\)"),
    (optim.Adam, dict(betas=(0.9, math.nan)), ValueError, r"betas\[1\] must be finite"),
    (optim.Adam, dict(betas=(0.9,)), ValueError, "betas must be a pair"),
    (optim.Adam, dict(betas=0.9), TypeError, "betas must be a pair"),
    (optim.Adam, dict(betas=("a", 0.9)), TypeError, r"betas\[0\] must be a real number"),
    (optim.Adam, dict(eps=-1e-8), ValueError, "eps must be >= 0"),
    (optim.Adam, dict(weight_decay=-1), ValueError, "weight_decay must be >= 0"),
    (optim.Adam, dict(amsgrad=None), TypeError, "amsgrad must be a bool"),
    (optim.AdamW, dict(lr=-1), ValueError, "lr must be >= 0"),
    (optim.AdamW, dict(betas=(0.9, 1.5)), ValueError, r"betas\[1\] must be in"),
    (optim.AdamW, dict(weight_decay=-0.01), ValueError, "weight_decay must be >= 0"),
], ids=lambda x: x.__name__ if isinstance(x, type) else None)
def test_invalid_hyper_parameters(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(**kwargs)


@pytest.mark.parametrize("cls", [optim.Adagrad, optim.RMSprop, optim.Adadelta, optim.Adam,
                                 optim.AdamW], ids=lambda c: c.__name__)
def test_eps_zero_is_refused(cls):
    """eps = 0 makes 0/0 where a gradient is exactly 0 (a constant-zero feature)."""
    with pytest.raises(ValueError, match="eps must be > 0: eps = 0 divides 0 by 0"):
        cls(eps=0)
    opt = cls()
    with pytest.raises(ValueError, match="eps must be > 0"):
        opt.eps = 0.0
    assert opt.eps == DEFAULTS[cls]["eps"]


def test_numpy_scalars_are_accepted():
    opt = optim.Adam(lr=np.float32(0.5), betas=np.array([0.5, 0.25]), amsgrad=np.bool_(True))
    assert opt.get_config() == dict(lr=0.5, betas=(0.5, 0.25), eps=1e-8, weight_decay=0.0,
                                    amsgrad=True)
    assert type(opt.lr) is float and type(opt.amsgrad) is bool


@pytest.mark.parametrize("name, cls", [
    ("sgd", optim.SGD), ("SGD", optim.SGD), ("adam", optim.Adam), ("Adam", optim.Adam),
    ("adamw", optim.AdamW), ("AdamW", optim.AdamW), ("rmsprop", optim.RMSprop),
    ("RMSprop", optim.RMSprop), ("adagrad", optim.Adagrad), ("ADADELTA", optim.Adadelta),
])
def test_get_by_name(name, cls):
    opt = optim.get(name)
    assert type(opt) is cls and opt.get_config() == cls().get_config()


def test_get_instance_unknown_name_and_wrong_type():
    opt = optim.SGD(lr=0.5)
    assert optim.get(opt) is opt
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'.*sgd, adagrad"):
        optim.get("adamax")
    with pytest.raises(TypeError, match="a name or an Optimizer"):
        optim.get(3)
    with pytest.raises(TypeError, match="a name or an Optimizer"):
        optim.get(optim.Adam)


# ---- the binding's checks ----------------------------------------------------

def step_args(dtype=np.float64, n=8, config=None):
    """Valid arguments for _core.optimizer_step: Adam with amsgrad (3 states)."""
    config = config or optim.Adam(amsgrad=True).config()
    return config, 1, np.ones(n, dtype), np.ones(n, dtype), [np.zeros(n, dtype) for _ in range(3)]


def call_with(**change):
    """optimizer_step with the valid arguments, some replaced."""
    config, step, p, g, states = step_args()
    args = dict(config=config, step=step, p=p, g=g, states=states)
    args.update(change)
    _core.optimizer_step(args["config"], args["step"], args["p"], args["g"], args["states"])


def readonly(a):
    a.flags.writeable = False
    return a


BAD_CALLS = [
    ("g-shorter", dict(g=np.ones(7)), ValueError, "g has 7 elements; p has 8"),
    ("state-longer", dict(states=[np.zeros(8), np.zeros(9), np.zeros(8)]), ValueError,
     r"states\[1\] has 9 elements"),
    ("p-2d", dict(p=np.ones((2, 4))), ValueError, "p must be 1-D"),
    ("g-float32", dict(g=np.ones(8, np.float32)), TypeError, "g has dtype float32; p has float64"),
    ("state-float32", dict(states=[np.zeros(8), np.zeros(8), np.zeros(8, np.float32)]),
     TypeError, r"states\[2\] has dtype float32"),
    ("p-int", dict(p=np.ones(8, np.int64)), TypeError, "p must hold float32 or float64"),
    ("p-list", dict(p=[1.0] * 8), TypeError, "p must be a numpy.ndarray"),
    ("g-list", dict(g=[1.0] * 8), TypeError, "g must be a numpy.ndarray"),
    ("p-strided", dict(p=np.ones(16)[::2]), ValueError, "p must be C-contiguous"),
    ("g-strided", dict(g=np.ones(16)[::2]), ValueError, "g must be C-contiguous"),
    ("state-strided", dict(states=[np.zeros(8), np.zeros(16)[::2], np.zeros(8)]), ValueError,
     r"states\[1\] must be C-contiguous"),
    ("p-byteswapped", dict(p=np.ones(8, np.dtype(">f8" if np.little_endian else "<f8"))),
     TypeError, "p must hold float32 or float64"),
    ("p-readonly", dict(p=readonly(np.ones(8))), ValueError, "p is read-only"),
    ("state-readonly", dict(states=[np.zeros(8), readonly(np.zeros(8)), np.zeros(8)]),
     ValueError, r"states\[1\] is read-only"),
    ("too-few-states", dict(states=[np.zeros(8), np.zeros(8)]), ValueError,
     "keeps 3 state array"),
    ("state-not-array", dict(states=[np.zeros(8), np.zeros(8), None]), TypeError,
     r"states\[2\] must be a numpy.ndarray"),
    ("states-tuple", dict(states=(np.zeros(8),) * 3), TypeError, "states"),
    ("step-0", dict(step=0), ValueError, "step counts updates from 1"),
    ("unknown-field", dict(config={"kind": "sgd", "lr": 0.1, "betas": (0.9, 0.9)}), ValueError,
     "unknown optimizer config field.*betas"),
    ("unknown-kind", dict(config={"kind": "adamax"}), ValueError, "config\\['kind'\\] must be"),
    ("no-kind", dict(config={"lr": 0.1}), ValueError, "config\\['kind'\\] must be"),
    ("bad-field-type", dict(config={"kind": "adam", "lr": "fast"}), TypeError, "real number"),
]


@pytest.mark.parametrize("change, error, match", [c[1:] for c in BAD_CALLS],
                         ids=[c[0] for c in BAD_CALLS])
def test_binding_rejects(change, error, match):
    with pytest.raises(error, match=match):
        call_with(**change)


def test_binding_rejects_shared_memory():
    _, _, p, g, states = step_args()
    with pytest.raises(ValueError, match=r"p and states\[0\] share memory"):
        call_with(p=p, states=[p, states[1], states[2]])
    with pytest.raises(ValueError, match=r"states\[0\] and states\[2\] share memory"):
        call_with(states=[states[0], states[1], states[0]])
    with pytest.raises(ValueError, match="p and g share memory"):
        call_with(p=p, g=p)
    buf = np.zeros(12)
    with pytest.raises(ValueError, match="p and g share memory"):
        call_with(p=buf[:8], g=buf[4:])


def test_read_only_gradient_is_accepted():
    config, step, p, g, states = step_args()
    _core.optimizer_step(config, step, p, readonly(g), states)


def test_state_count_binding():
    assert _core.optimizer_state_count({"kind": "rmsprop", "momentum": 0.5, "centered": True}) == 3
    assert _core.OPTIMIZERS == ("sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw")
    with pytest.raises(ValueError, match="kind"):
        _core.optimizer_state_count({"kind": "lbfgs"})


# ---- against PyTorch ---------------------------------------------------------

@pytest.mark.parametrize("cls", DEFAULTS, ids=lambda c: c.__name__)
def test_signature_matches_torch(cls):
    torch = pytest.importorskip("torch", reason="torch is not installed: nothing to compare to")
    ours = [p for p in inspect.signature(cls).parameters.values()
            if p.kind is not p.VAR_KEYWORD]  # **torch_options
    theirs = list(inspect.signature(getattr(torch.optim, cls.__name__)).parameters.values())
    theirs = theirs[1:1 + len(ours)]  # after `params`, before torch-only options
    assert [(p.name, p.default) for p in theirs] == [(p.name, p.default) for p in ours]


@pytest.mark.parametrize("cls", DEFAULTS, ids=lambda c: c.__name__)
def test_torch_only_options_are_taken_at_their_defaults(cls):
    """Code written for torch.optim runs unchanged: each of its options that
    fastmlp has no hyper-parameter for is accepted at PyTorch's default."""
    torch = pytest.importorskip("torch", reason="torch is not installed: nothing to compare to")
    ours = inspect.signature(cls).parameters
    extra = {p.name: p.default for p in
             list(inspect.signature(getattr(torch.optim, cls.__name__)).parameters.values())[1:]
             if p.name not in ours}
    assert extra  # foreach, maximize, ... in every torch version this was written against
    assert cls(**extra).get_config() == cls().get_config()


@pytest.mark.parametrize("cls", DEFAULTS, ids=lambda c: c.__name__)
def test_torch_options_fastmlp_does_not_follow(cls):
    for name in ("maximize", "capturable", "differentiable"):
        with pytest.raises(NotImplementedError, match=rf"{cls.__name__}\({name}=True\)"):
            cls(**{name: True})
    for name in ("foreach", "fused"):  # PyTorch's choice of implementation: any is fine
        assert cls(**{name: True}).get_config() == cls().get_config()
    with pytest.raises(TypeError, match="foreach must be None or a bool"):
        cls(foreach="yes")
    with pytest.raises(TypeError, match="unexpected keyword argument 'learning_rate'"):
        cls(learning_rate=0.1)


def test_decoupled_weight_decay_names_the_other_class():
    assert optim.AdamW(decoupled_weight_decay=True).kind == "adamw"
    with pytest.raises(NotImplementedError, match="it is fm.optim.AdamW"):
        optim.Adam(decoupled_weight_decay=True)
    with pytest.raises(NotImplementedError, match="it is fm.optim.Adam$"):
        optim.AdamW(decoupled_weight_decay=False)


@pytest.mark.parametrize("cls, kwargs", CASE_PARAMS)
def test_matches_torch(cls, kwargs, dtype, rng):
    torch = pytest.importorskip("torch", reason="torch is not installed: nothing to compare to")
    opt = cls(**kwargs)
    n = 257
    p = rng.standard_normal(n).astype(dtype)
    grads = gradients(rng, n, dtype)
    p_ours, _ = run_fastmlp(opt, p, grads)

    param = torch.tensor(p, requires_grad=True)
    torch_opt = getattr(torch.optim, cls.__name__)([param], **kwargs)
    for g in grads:
        param.grad = torch.tensor(g)
        torch_opt.step()
    # PyTorch computes a few moving averages with lerp, (a + w*(b - a)), where
    # the formulas say (1-w)*a + w*b: results agree to rounding, not bitwise.
    rtol, atol = (1e-10, 1e-12) if dtype == np.float64 else (1e-5, 1e-6)
    np.testing.assert_allclose(p_ours, param.detach().numpy(), rtol=rtol, atol=atol)
