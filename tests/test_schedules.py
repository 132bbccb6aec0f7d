"""fastmlp.schedules against their closed forms and, where torch is installed,
against torch.optim.lr_scheduler stepped epoch by epoch."""
import math

import numpy as np
import pytest

from fastmlp import schedules

EPOCHS = range(40)


def test_step_decay():
    schedule = schedules.StepDecay(step_size=3, gamma=0.5)
    assert [schedule(e, 0.8) for e in range(7)] == [0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2]
    assert schedules.StepDecay(10)(25, 1.0) == pytest.approx(0.01)  # gamma defaults to 0.1


def test_exponential_decay():
    schedule = schedules.ExponentialDecay(gamma=0.9)
    for epoch in EPOCHS:
        assert schedule(epoch, 0.1) == pytest.approx(0.1 * 0.9 ** epoch, rel=1e-12)


def test_inverse_time_decay():
    schedule = schedules.InverseTimeDecay(decay_rate=0.5, decay_steps=2)
    assert [schedule(e, 1.0) for e in range(5)] == [1.0, 0.8, 2 / 3, 4 / 7, 0.5]
    assert schedules.InverseTimeDecay(1.0)(3, 0.2) == pytest.approx(0.05)  # decay_steps=1


def test_cosine_decay():
    schedule = schedules.CosineDecay(T_max=10, eta_min=0.01)
    assert schedule(0, 0.5) == 0.5
    assert schedule(5, 0.5) == pytest.approx((0.5 + 0.01) / 2)
    assert schedule(10, 0.5) == pytest.approx(0.01)
    lrs = [schedule(e, 0.5) for e in range(11)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    # Past T_max the cosine goes on, as in PyTorch: back up to base_lr at 2 T_max.
    assert schedule(15, 0.5) == pytest.approx(schedule(5, 0.5))
    assert schedule(20, 0.5) == pytest.approx(0.5)
    assert schedules.CosineDecay(4)(4, 1.0) == pytest.approx(0.0)  # eta_min=0


@pytest.mark.parametrize("schedule", [
    schedules.StepDecay(2), schedules.ExponentialDecay(0.8), schedules.InverseTimeDecay(0.3),
    schedules.CosineDecay(7, 0.001)], ids=repr)
def test_epoch_zero_is_base_lr_and_calls_are_pure(schedule):
    assert schedule(0, 0.3) == pytest.approx(0.3)
    forward = [schedule(e, 0.3) for e in EPOCHS]
    backward = [schedule(e, 0.3) for e in reversed(EPOCHS)][::-1]
    assert forward == backward
    assert all(isinstance(lr, float) for lr in forward)


def test_lambda_schedule_and_get():
    schedule = schedules.get(lambda epoch, base_lr: base_lr / (epoch + 1))
    assert isinstance(schedule, schedules.LambdaSchedule)
    assert schedule(3, 0.8) == pytest.approx(0.2)
    assert schedules.get(lambda e, lr: np.float32(0.5))(0, 1.0) == 0.5
    step = schedules.StepDecay(5)
    assert schedules.get(step) is step


@pytest.mark.parametrize("value, error, message", [
    (-0.1, ValueError, "must be >= 0, got -0.1"),
    (math.nan, ValueError, "must be finite, got nan"),
    (10 ** 400, ValueError, "must be finite, got inf"),
    ("fast", TypeError, "must be a real number, got str"),
    ("0.5", TypeError, "must be a real number, got str"),
    (True, TypeError, "must be a real number, got bool"),
    (None, TypeError, "must be a real number, got NoneType"),
], ids=["negative", "nan", "huge_int", "str", "numeric_str", "bool", "none"])
def test_lambda_schedule_checks_what_the_function_returns(value, error, message):
    with pytest.raises(error, match="the lr returned by the schedule function at epoch 2 "
                                    + message):
        schedules.get(lambda epoch, base_lr: value)(2, 0.1)


def test_get_rejects_names_and_non_callables():
    with pytest.raises(ValueError, match="each needs arguments.*StepDecay"):
        schedules.get("step")
    with pytest.raises(TypeError, match="Schedule or a function"):
        schedules.get(0.1)
    with pytest.raises(TypeError, match="not the class"):
        schedules.get(schedules.CosineDecay)


@pytest.mark.parametrize("make, error, message", [
    (lambda: schedules.StepDecay(0), ValueError, "step_size must be >= 1"),
    (lambda: schedules.StepDecay(2.5), TypeError, "step_size must be an int"),
    (lambda: schedules.StepDecay(True), TypeError, "step_size must be an int"),
    (lambda: schedules.StepDecay(3, gamma=0.0), ValueError, r"gamma must be in \(0, 1\]"),
    (lambda: schedules.StepDecay(3, gamma=1.5), ValueError, r"gamma must be in \(0, 1\]"),
    (lambda: schedules.ExponentialDecay(math.nan), ValueError, "gamma must be finite"),
    (lambda: schedules.ExponentialDecay("0.9"), TypeError, "gamma must be a real number"),
    (lambda: schedules.InverseTimeDecay(-1.0), ValueError, "decay_rate must be >= 0"),
    (lambda: schedules.InverseTimeDecay(1.0, decay_steps=0), ValueError,
     "decay_steps must be > 0"),
    (lambda: schedules.CosineDecay(0), ValueError, "T_max must be >= 1"),
    (lambda: schedules.CosineDecay(10, eta_min=-0.1), ValueError, "eta_min must be >= 0"),
    (lambda: schedules.CosineDecay(10, eta_min=math.inf), ValueError, "eta_min must be finite"),
    (lambda: schedules.LambdaSchedule(0.1), TypeError, "fn must be callable"),
])
def test_invalid_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("epoch, base_lr, error, message", [
    (-1, 0.1, ValueError, "epoch must be >= 0"),
    (1.0, 0.1, TypeError, "epoch must be an int"),
    (1, -0.1, ValueError, "base_lr must be >= 0"),
    (1, math.inf, ValueError, "base_lr must be finite"),
])
def test_invalid_call_arguments(epoch, base_lr, error, message):
    with pytest.raises(error, match=message):
        schedules.ExponentialDecay(0.9)(epoch, base_lr)


def test_numpy_integers_are_accepted():
    assert schedules.StepDecay(np.int64(2))(np.int32(4), np.float32(1.0)) == pytest.approx(0.01)


def test_config_and_repr():
    schedule = schedules.CosineDecay(T_max=50, eta_min=1e-5)
    assert schedule.get_config() == {"T_max": 50, "eta_min": 1e-5}
    assert repr(schedule) == "CosineDecay(T_max=50, eta_min=1e-05)"
    assert repr(schedules.StepDecay(3)) == "StepDecay(step_size=3, gamma=0.1)"
    for schedule in [schedules.StepDecay(4, 0.5), schedules.ExponentialDecay(0.9),
                     schedules.InverseTimeDecay(0.1, 3)]:
        assert type(schedule)(**schedule.get_config()).get_config() == schedule.get_config()


# ---- against PyTorch --------------------------------------------------------

def torch_lrs(make_scheduler, base_lr, epochs):
    """The lr PyTorch's scheduler gives each epoch, stepping once per epoch."""
    torch = pytest.importorskip("torch", reason="comparison with torch.optim.lr_scheduler")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)
    scheduler = make_scheduler(torch.optim.lr_scheduler, optimizer)
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


@pytest.mark.parametrize("ours, theirs", [
    (schedules.StepDecay(3, 0.5), lambda s, opt: s.StepLR(opt, step_size=3, gamma=0.5)),
    (schedules.StepDecay(1), lambda s, opt: s.StepLR(opt, step_size=1)),
    (schedules.ExponentialDecay(0.93), lambda s, opt: s.ExponentialLR(opt, gamma=0.93)),
    # 30 epochs, well past T_max: both keep following the cosine.
    (schedules.CosineDecay(10, 0.002),
     lambda s, opt: s.CosineAnnealingLR(opt, T_max=10, eta_min=0.002)),
    (schedules.CosineDecay(7), lambda s, opt: s.CosineAnnealingLR(opt, T_max=7)),
    (schedules.InverseTimeDecay(0.5, 4),
     lambda s, opt: s.LambdaLR(opt, lambda epoch: 1 / (1 + 0.5 * epoch / 4))),
], ids=lambda value: repr(value) if isinstance(value, schedules.Schedule) else "torch")
def test_matches_torch(ours, theirs):
    expected = torch_lrs(theirs, 0.1, 30)
    np.testing.assert_allclose([ours(e, 0.1) for e in range(30)], expected, rtol=1e-9,
                               atol=1e-12)
