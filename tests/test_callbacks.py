"""fastmlp.callbacks driven by a fit loop written here, on a fake model, with
hand-made logs: when EarlyStopping stops and what it restores, when
ReduceLROnPlateau reduces (and against PyTorch's), LearningRateScheduler,
History, LambdaCallback, CallbackList."""
import numpy as np
import pytest

import fastmlp as fm
from fastmlp import schedules
from fastmlp.callbacks import (
    Callback, CallbackList, EarlyStopping, History, LambdaCallback, LearningRateScheduler,
    ModelCheckpoint, ReduceLROnPlateau)


class FakeOptimizer:
    def __init__(self, lr):
        self.lr = lr
        self.initial_lr = None


class FakeModel:
    """What callbacks use of a model. Unlike Sequential's, its get_weights
    returns its own buffers, which training overwrites in place (after epoch e
    every weight equals e): callbacks must copy what they keep."""

    def __init__(self, lr=0.1):
        self.stop_training = False
        self.optimizer = FakeOptimizer(lr)
        self.weights = [np.full((2, 3), -1.0), np.full(3, -1.0)]
        self.lrs = []  # the lr each epoch trained with

    def get_weights(self):
        return self.weights

    def set_weights(self, weights):
        for buffer, value in zip(self.weights, weights):
            buffer[...] = value

    def train_epoch(self, epoch):
        self.lrs.append(self.optimizer.lr)
        for buffer in self.weights:
            buffer[...] = epoch

    def trained_at(self):
        """The epoch whose weights the model holds."""
        values = {float(v) for w in self.weights for v in w.ravel()}
        assert len(values) == 1
        return values.pop()


def fit(model, callbacks, epoch_logs, initial_epoch=0):
    """Runs callbacks as Model.fit does; returns the epochs trained."""
    callback_list = CallbackList(callbacks, model)
    model.stop_training = False
    callback_list.on_train_begin({})
    trained = []
    for epoch, logs in enumerate(epoch_logs, start=initial_epoch):
        callback_list.on_epoch_begin(epoch, {})
        model.train_epoch(epoch)
        trained.append(epoch)
        callback_list.on_epoch_end(epoch, dict(logs))
        if model.stop_training:
            break
    callback_list.on_train_end({})
    return trained


def logs_of(values, monitor="val_loss"):
    return [{"loss": 1.0, monitor: value} for value in values]


# ---- EarlyStopping ------------------------------------------------------------

def test_early_stopping_stops_after_patience_epochs_without_improvement():
    model = FakeModel()
    stopper = EarlyStopping(patience=2)
    trained = fit(model, [stopper], logs_of([1.0, 0.8, 0.9, 0.85, 0.7, 0.6]))
    assert trained == [0, 1, 2, 3]
    assert model.stop_training
    assert (stopper.stopped_epoch, stopper.best, stopper.best_epoch, stopper.wait) == (3, 0.8, 1, 2)
    assert model.trained_at() == 3  # restore_best_weights is off


def test_early_stopping_runs_to_the_end_while_improving():
    model = FakeModel()
    stopper = EarlyStopping(patience=2)
    assert fit(model, [stopper], logs_of([5, 4, 4.5, 3, 3.5, 2])) == [0, 1, 2, 3, 4, 5]
    assert stopper.stopped_epoch == 0 and not model.stop_training  # Keras's "did not stop"
    assert (stopper.best, stopper.best_epoch, stopper.wait) == (2, 5, 0)


@pytest.mark.parametrize("patience", [0, 1])
def test_early_stopping_patience_zero_acts_as_one(patience):
    assert fit(FakeModel(), [EarlyStopping(patience=patience)], logs_of([1.0, 1.0, 0.5])) == [0, 1]


def test_early_stopping_min_delta():
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    # 0.95 and 0.92 are lower, but by less than min_delta; 0.85 would count.
    assert fit(FakeModel(), [stopper], logs_of([1.0, 0.95, 0.92, 0.85])) == [0, 1, 2]
    assert stopper.best == 1.0
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    assert fit(FakeModel(), [stopper], logs_of([1.0, 0.95, 0.85, 0.8, 0.8])) == [0, 1, 2, 3, 4]
    assert stopper.best_epoch == 2


@pytest.mark.parametrize("monitor, mode, expected", [
    ("val_loss", "auto", "min"), ("loss", "auto", "min"), ("val_mse", "auto", "min"),
    ("accuracy", "auto", "max"), ("val_accuracy", "auto", "max"), ("val_acc", "auto", "max"),
    ("val_auc", "auto", "max"), ("val_loss", "max", "max"), ("accuracy", "min", "min"),
    # the name's words decide, not its substrings; a loss or an error is minimised first
    ("val_layer2_loss", "auto", "min"), ("loss_f1_penalty", "auto", "min"),
    ("val_error_rate", "auto", "min"), ("f1_score", "auto", "max"), ("val_r2", "auto", "max"),
    ("Val_Accuracy", "auto", "max"), ("val_precision_at_5", "auto", "max"),
])
def test_mode(monitor, mode, expected):
    assert EarlyStopping(monitor, mode=mode).mode == expected
    assert ReduceLROnPlateau(monitor, mode=mode).mode == expected


def test_early_stopping_maximises_accuracy():
    stopper = EarlyStopping(monitor="val_accuracy", patience=2)
    logs = logs_of([0.5, 0.6, 0.55, 0.58, 0.9], monitor="val_accuracy")
    assert fit(FakeModel(), [stopper], logs) == [0, 1, 2, 3]
    assert (stopper.best, stopper.best_epoch) == (0.6, 1)


def test_early_stopping_restores_the_best_weights_when_stopped():
    model = FakeModel()
    fit(model, [EarlyStopping(patience=2, restore_best_weights=True)],
        logs_of([1.0, 0.8, 0.9, 0.85, 0.7]))
    # Epoch 1 was best; its weights were copied, not kept as the live buffers.
    assert model.trained_at() == 1


def test_early_stopping_restores_the_best_weights_when_not_stopped():
    model = FakeModel()
    stopper = EarlyStopping(patience=5, restore_best_weights=True)
    assert fit(model, [stopper], logs_of([1.0, 0.5, 0.7, 0.6])) == [0, 1, 2, 3]
    assert stopper.stopped_epoch == 0
    assert model.trained_at() == 1


def test_early_stopping_restores_nothing_without_a_monitored_epoch():
    model = FakeModel()
    stopper = EarlyStopping(restore_best_weights=True, start_from_epoch=10)
    fit(model, [stopper], logs_of([1.0, 2.0, 3.0]))
    assert stopper.best_weights is None and model.trained_at() == 2


def test_early_stopping_baseline_not_reached():
    stopper = EarlyStopping(patience=3, baseline=0.5, restore_best_weights=True)
    model = FakeModel()
    # Never below the baseline, so no epoch resets `wait`: the first epoch that
    # does not improve stops training once `wait` >= patience (Keras 3).
    assert fit(model, [stopper], logs_of([0.9, 0.8, 0.8, 0.7, 0.6])) == [0, 1, 2]
    assert (stopper.best, stopper.best_epoch, stopper.stopped_epoch) == (0.8, 1, 2)
    assert model.trained_at() == 1  # the best epoch, though it missed the baseline


@pytest.mark.parametrize("patience", [0, 1, 2, 5])
def test_early_stopping_baseline_not_reached_while_improving(patience):
    """Keras 3 returns after every improvement: improving epochs never stop
    training, even when none beats the baseline (they do count toward
    `wait`). tf.keras 2 stopped after `patience` epochs here."""
    stopper = EarlyStopping(patience=patience, baseline=1.0)
    values = [5, 4, 3, 2.5, 2, 1.5]
    assert fit(FakeModel(), [stopper], logs_of(values)) == [0, 1, 2, 3, 4, 5]
    assert (stopper.best, stopper.best_epoch, stopper.stopped_epoch, stopper.wait) == (
        1.5, 5, 0, 6)
    # The first epoch that does not improve stops it, once wait >= patience.
    stopper = EarlyStopping(patience=patience, baseline=1.0)
    assert fit(FakeModel(), [stopper], logs_of(values + [1.6, 1.7])) == list(range(7))
    assert (stopper.stopped_epoch, stopper.wait) == (6, 7)


def test_early_stopping_patience_zero_with_an_unbeaten_baseline():
    stopper = EarlyStopping(patience=0, baseline=1.0)
    # Epoch 0 improves on +inf (no stop); epoch 1 does not improve: stop.
    assert fit(FakeModel(), [stopper], logs_of([2.0, 2.0, 2.0])) == [0, 1]
    assert (stopper.best, stopper.best_epoch, stopper.stopped_epoch) == (2.0, 0, 1)


def test_early_stopping_baseline_reached():
    stopper = EarlyStopping(patience=3, baseline=0.5)
    trained = fit(FakeModel(), [stopper], logs_of([0.9, 0.4, 0.45, 0.46, 0.47, 0.3]))
    assert trained == [0, 1, 2, 3, 4]
    assert (stopper.best, stopper.best_epoch, stopper.stopped_epoch) == (0.4, 1, 4)


def test_early_stopping_start_from_epoch():
    stopper = EarlyStopping(patience=1, start_from_epoch=3)
    # Rising from the start, but epochs 0-2 are not watched.
    assert fit(FakeModel(), [stopper], logs_of([1, 2, 3, 4, 5, 6])) == [0, 1, 2, 3, 4]
    assert (stopper.best, stopper.best_epoch) == (4, 3)


def test_early_stopping_nan_never_improves():
    stopper = EarlyStopping(patience=2, restore_best_weights=True)
    model = FakeModel()
    assert fit(model, [stopper], logs_of([np.nan, np.nan, 1.0])) == [0, 1]
    assert stopper.best == np.inf
    # As in Keras 3, the first monitored epoch's weights are kept until an
    # epoch improves, so they are what is restored.
    assert stopper.best_epoch == 0 and model.trained_at() == 0


@pytest.mark.parametrize("values", [[np.nan, 1.0], [np.inf, 1.0]])
def test_early_stopping_never_stops_at_epoch_zero(values):
    """Epoch 0 does not improve on +inf here, and patience=0: Keras 3 still
    goes on (`epoch > 0`)."""
    stopper = EarlyStopping(patience=0)
    assert fit(FakeModel(), [stopper], logs_of(values + [2.0])) == [0, 1, 2]
    assert (stopper.best, stopper.best_epoch, stopper.stopped_epoch) == (1.0, 1, 2)
    # Counted by epoch index: resuming at epoch 3 can stop at once.
    stopper = EarlyStopping(patience=0)
    assert fit(FakeModel(), [stopper], logs_of(values), initial_epoch=3) == [3]


def test_early_stopping_verbose(capsys):
    fit(FakeModel(), [EarlyStopping(patience=1, restore_best_weights=True, verbose=1)],
        logs_of([1.0, 0.5, 0.7, 0.8]))
    assert capsys.readouterr().out == ("Epoch 3: early stopping\n"
                                       "Restoring model weights from the end of the best "
                                       "epoch: 2.\n")
    fit(FakeModel(), [EarlyStopping(patience=5, verbose=1)], logs_of([1.0, 0.5]))
    assert capsys.readouterr().out == ""  # neither stopped nor restoring
    fit(FakeModel(), [EarlyStopping(patience=1, restore_best_weights=True)],
        logs_of([1.0, 0.5, 0.7, 0.8]))
    assert capsys.readouterr().out == ""


def test_early_stopping_state_is_reset_at_train_begin():
    stopper = EarlyStopping(patience=1, restore_best_weights=True)
    model = FakeModel()
    fit(model, [stopper], logs_of([1.0, 2.0]))
    assert stopper.stopped_epoch == 1
    assert fit(model, [stopper], logs_of([3.0, 2.5, 2.0])) == [0, 1, 2]
    assert (stopper.best, stopper.best_epoch, stopper.stopped_epoch) == (2.0, 2, 0)


def test_missing_monitor_warns_once_and_does_nothing():
    model = FakeModel()
    stopper = EarlyStopping(monitor="val_accuracy", patience=0, restore_best_weights=True)
    with pytest.warns(RuntimeWarning, match=r"'val_accuracy'.*available: loss, val_loss") as record:
        trained = fit(model, [stopper], logs_of([1.0, 2.0, 3.0, 4.0]))
    assert len(record) == 1
    assert trained == [0, 1, 2, 3] and model.trained_at() == 3
    with pytest.warns(RuntimeWarning, match="ReduceLROnPlateau.*'val_accuracy'") as record:
        fit(model, [ReduceLROnPlateau("val_accuracy", patience=0)], logs_of([1.0, 2.0, 3.0]))
    assert len(record) == 1 and model.optimizer.lr == 0.1


@pytest.mark.parametrize("kwargs, error, message", [
    ({"patience": -1}, ValueError, "patience must be >= 0"),
    ({"patience": 1.5}, TypeError, "patience must be an int"),
    ({"mode": "up"}, ValueError, "mode must be 'auto', 'min' or 'max'"),
    ({"min_delta": -0.1}, ValueError, "min_delta must be >= 0"),
    ({"min_delta": np.nan}, ValueError, "min_delta must be finite"),
    ({"baseline": np.inf}, ValueError, "baseline must be finite"),
    ({"start_from_epoch": -2}, ValueError, "start_from_epoch must be >= 0"),
    ({"monitor": None}, TypeError, "monitor must be a str"),
    ({"verbose": -1}, ValueError, "verbose must be >= 0"),
])
def test_early_stopping_invalid_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        EarlyStopping(**kwargs)


# ---- ReduceLROnPlateau ----------------------------------------------------------

def test_reduce_lr_on_plateau_reduces_after_patience_epochs():
    model = FakeModel(lr=0.1)
    reducer = ReduceLROnPlateau(factor=0.5, patience=2)
    fit(model, [reducer], logs_of([1.0] * 8))
    # Reduced at the end of epochs 2, 4 and 6 (the 2nd epoch without improvement).
    np.testing.assert_allclose(model.lrs, [0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125])
    assert model.optimizer.lr == pytest.approx(0.0125)


def test_reduce_lr_on_plateau_improvement_resets_the_count():
    model = FakeModel(lr=0.1)
    fit(model, [ReduceLROnPlateau(factor=0.5, patience=2)], logs_of([1.0, 1.0, 0.5, 0.5, 0.4]))
    assert model.optimizer.lr == 0.1


def test_reduce_lr_on_plateau_cooldown():
    model = FakeModel(lr=0.1)
    reducer = ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2)
    fit(model, [reducer], logs_of([1.0] * 9))
    # Reduced at the end of epoch 1; epochs 2 and 3 are cooldown; reduced again at 4, 7.
    np.testing.assert_allclose(model.lrs, [0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025,
                                           0.0125])
    assert reducer.cooldown_counter == 1  # epoch 8 was the first of the cooldown after 7


def test_reduce_lr_on_plateau_min_lr():
    model = FakeModel(lr=0.1)
    fit(model, [ReduceLROnPlateau(factor=0.1, patience=1, min_lr=0.005)], logs_of([1.0] * 5))
    np.testing.assert_allclose(model.lrs, [0.1, 0.1, 0.01, 0.005, 0.005])
    model = FakeModel(lr=0.001)  # already below min_lr: left alone
    fit(model, [ReduceLROnPlateau(patience=1, min_lr=0.005)], logs_of([1.0] * 4))
    assert model.lrs == [0.001] * 4


def test_reduce_lr_on_plateau_maximises_accuracy():
    model = FakeModel(lr=0.1)
    fit(model, [ReduceLROnPlateau("val_accuracy", factor=0.5, patience=1)],
        logs_of([0.5, 0.6, 0.7, 0.65, 0.8], monitor="val_accuracy"))
    assert model.lrs == [0.1, 0.1, 0.1, 0.1, 0.05]


def test_reduce_lr_on_plateau_verbose(capsys):
    fit(FakeModel(lr=0.1), [ReduceLROnPlateau(factor=0.5, patience=1, verbose=1)],
        logs_of([1.0, 1.0]))
    assert capsys.readouterr().out == ("Epoch 2: ReduceLROnPlateau reducing learning rate "
                                       "from 0.1 to 0.05.\n")
    fit(FakeModel(lr=0.1), [ReduceLROnPlateau(factor=0.5, patience=1)], logs_of([1.0, 1.0]))
    assert capsys.readouterr().out == ""


# Losses with plateaus, small improvements (under and over min_delta) and rises.
PLATEAU_LOSSES = [1.0, 0.9, 0.9, 0.95, 0.89995, 0.91, 0.9, 0.7, 0.7, 0.71, 0.72, 0.69999,
                  0.7, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]


@pytest.mark.parametrize("patience, cooldown, min_delta, min_lr", [
    (1, 0, 1e-4, 0.0), (2, 0, 1e-4, 0.0), (1, 2, 1e-4, 0.0), (3, 1, 0.0, 0.0),
    (2, 3, 0.02, 0.0), (1, 0, 1e-4, 2e-4)])
def test_reduce_lr_on_plateau_matches_torch(patience, cooldown, min_delta, min_lr):
    """Same rates as PyTorch's scheduler with patience - 1 (it reduces after
    more than `patience` bad epochs; Keras, and this one, after `patience`)."""
    torch = pytest.importorskip("torch", reason="comparison with torch.optim.lr_scheduler")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=0.5, patience=patience - 1, cooldown=cooldown, threshold=min_delta,
        threshold_mode="abs", min_lr=min_lr)
    expected = []
    for loss in PLATEAU_LOSSES:
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step(loss)

    model = FakeModel(lr=0.1)
    fit(model, [ReduceLROnPlateau(factor=0.5, patience=patience, cooldown=cooldown,
                                  min_delta=min_delta, min_lr=min_lr)],
        logs_of(PLATEAU_LOSSES))
    assert len(set(expected)) > 2  # the case does reduce, more than once
    np.testing.assert_allclose(model.lrs, expected, rtol=1e-12)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"factor": 1.0}, ValueError, r"factor must be in \(0, 1\)"),
    ({"factor": 0.0}, ValueError, r"factor must be in \(0, 1\)"),
    ({"factor": "0.5"}, TypeError, "factor must be a real number"),
    ({"patience": -1}, ValueError, "patience must be >= 0"),
    ({"cooldown": -1}, ValueError, "cooldown must be >= 0"),
    ({"cooldown": 0.5}, TypeError, "cooldown must be an int"),
    ({"min_lr": -1e-3}, ValueError, "min_lr must be >= 0"),
    ({"min_delta": -1e-3}, ValueError, "min_delta must be >= 0"),
    ({"mode": "auto-max"}, ValueError, "mode must be"),
])
def test_reduce_lr_on_plateau_invalid_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        ReduceLROnPlateau(**kwargs)


# ---- LearningRateScheduler -----------------------------------------------------

def test_learning_rate_scheduler_with_a_schedule():
    model = FakeModel(lr=0.2)
    fit(model, [LearningRateScheduler(schedules.StepDecay(2, gamma=0.5))], [{}] * 5)
    np.testing.assert_allclose(model.lrs, [0.2, 0.2, 0.1, 0.1, 0.05])


def test_learning_rate_scheduler_calls_a_function_with_the_current_lr():
    """Keras's idiom: the function gets the optimizer's lr at the start of the
    epoch, so this decays by 10% every epoch, and a new fit goes on from there."""
    model = FakeModel(lr=0.1)
    fit(model, [LearningRateScheduler(lambda epoch, lr: lr * 0.9)], [{}] * 3)
    fit(model, [LearningRateScheduler(lambda epoch, lr: lr * 0.9)], [{}] * 2, initial_epoch=3)
    np.testing.assert_allclose(model.lrs, [0.1 * 0.9 ** (e + 1) for e in range(5)], rtol=1e-12)


def test_learning_rate_scheduler_function_from_keras_docs():
    def scheduler(epoch, lr):  # the example of Keras's LearningRateScheduler docstring
        return lr if epoch < 2 else lr * np.exp(-0.1)

    model = FakeModel(lr=0.1)
    scheduler_callback = LearningRateScheduler(scheduler)
    fit(model, [scheduler_callback], [{}] * 5)
    np.testing.assert_allclose(model.lrs, [0.1, 0.1, 0.1 * np.exp(-0.1), 0.1 * np.exp(-0.2),
                                           0.1 * np.exp(-0.3)], rtol=1e-12)
    assert scheduler_callback.base_lr is None  # no base rate with a function


def test_learning_rate_scheduler_takes_keras_older_function_of_the_epoch_alone():
    model = FakeModel(lr=0.1)
    fit(model, [LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))], [{}] * 3)
    np.testing.assert_allclose(model.lrs, [0.1, 0.05, 0.1 / 3])
    both = FakeModel(lr=0.1)  # a default second argument: called with the lr, as Keras does
    fit(both, [LearningRateScheduler(lambda epoch, lr=1.0: lr / 2)], [{}] * 2)
    np.testing.assert_allclose(both.lrs, [0.05, 0.025])


@pytest.mark.parametrize("function", [lambda: 0.1, lambda epoch, lr, extra: 0.1,
                                      lambda *, epoch: 0.1])
def test_learning_rate_scheduler_refuses_a_function_it_cannot_call(function):
    with pytest.raises(TypeError, match=r"must take \(epoch, lr\) or \(epoch\)"):
        LearningRateScheduler(function)


def test_learning_rate_scheduler_function_sees_other_changes_to_lr():
    model = FakeModel(lr=0.1)
    seen = []
    halve_after_epoch_1 = LambdaCallback(
        on_epoch_end=lambda epoch, logs: setattr(model.optimizer, "lr", model.optimizer.lr / 2)
        if epoch == 1 else None)
    fit(model, [LearningRateScheduler(lambda epoch, lr: seen.append(lr) or lr),
                halve_after_epoch_1], [{}] * 4)
    assert seen == [0.1, 0.1, 0.05, 0.05] and model.lrs == seen


def test_learning_rate_scheduler_with_a_base_rate_function():
    """A function of (epoch, base_lr), wrapped in a LambdaSchedule, is a
    Schedule: called with the base rate, not the current one."""
    model = FakeModel(lr=1.0)
    schedule = schedules.LambdaSchedule(lambda epoch, base_lr: base_lr / (epoch + 1))
    fit(model, [LearningRateScheduler(schedule)], [{}] * 4)
    np.testing.assert_allclose(model.lrs, [1.0, 1 / 2, 1 / 3, 1 / 4])


@pytest.mark.parametrize("value, error, message", [
    (-0.1, ValueError, "at epoch 1 must be >= 0, got -0.1"),
    (np.nan, ValueError, "at epoch 1 must be finite"),
    ("0.1", TypeError, "at epoch 1 must be a real number, got str"),
    (None, TypeError, "at epoch 1 must be a real number, got NoneType"),
    (True, TypeError, "at epoch 1 must be a real number, got bool"),
])
def test_learning_rate_scheduler_checks_what_a_function_returns(value, error, message):
    model = FakeModel(lr=0.1)
    scheduler = LearningRateScheduler(lambda epoch, lr: lr if epoch == 0 else value)
    with pytest.raises(error, match="the lr returned by the schedule function " + message):
        fit(model, [scheduler], [{}] * 3)
    assert model.optimizer.lr == 0.1  # left as it was


def test_learning_rate_scheduler_function_in_a_real_fit():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 2))
    model = fm.Sequential([fm.Dense(1)], input_dim=2, seed=0)
    model.compile("mse", fm.optim.SGD(lr=0.1))
    seen = []
    model.fit(X, X.sum(1), epochs=3, verbose=0,
              callbacks=[LearningRateScheduler(lambda epoch, lr: seen.append(lr) or lr * 0.9)])
    np.testing.assert_allclose(seen, [0.1, 0.09, 0.081], rtol=1e-12)
    assert model.optimizer.lr == pytest.approx(0.1 * 0.9 ** 3, rel=1e-12)


def test_learning_rate_scheduler_base_lr_and_resuming():
    schedule = schedules.ExponentialDecay(0.5)
    rates = [0.1 * 0.5 ** e for e in range(5)]
    # A fit resumed at epoch 3 continues from the base rate the optimizer kept...
    model = FakeModel(lr=0.1)
    fit(model, [LearningRateScheduler(schedule)], [{}] * 3)
    assert model.optimizer.initial_lr == 0.1
    fit(model, [LearningRateScheduler(schedule)], [{}] * 2, initial_epoch=3)
    np.testing.assert_allclose(model.lrs, rates)
    # ...or from base_lr when it is given, which the optimizer then keeps.
    model = FakeModel(lr=0.1)
    fit(model, [LearningRateScheduler(schedule)], [{}] * 3)
    fit(model, [LearningRateScheduler(schedule, base_lr=0.2)], [{}] * 2, initial_epoch=3)
    np.testing.assert_allclose(model.lrs, rates[:3] + [2 * r for r in rates[3:]])
    assert model.optimizer.initial_lr == 0.2
    # Without a kept base rate, a resumed fit starts from the current lr.
    model = FakeModel(lr=0.1)
    fit(model, [LearningRateScheduler(schedule)], [{}] * 2, initial_epoch=3)
    np.testing.assert_allclose(model.lrs, [0.1 * 0.5 ** 3, 0.1 * 0.5 ** 4])


def test_learning_rate_scheduler_invalid_arguments():
    with pytest.raises(ValueError, match="each needs arguments"):
        LearningRateScheduler("step")
    with pytest.raises(TypeError, match="Schedule or a function f\\(epoch, lr\\)"):
        LearningRateScheduler(0.1)
    with pytest.raises(TypeError, match="pass an instance of StepDecay, not the class"):
        LearningRateScheduler(schedules.StepDecay)
    with pytest.raises(ValueError, match="base_lr is for a fastmlp.schedules.Schedule.*"
                                         "LambdaSchedule"):
        LearningRateScheduler(lambda epoch, lr: lr, base_lr=0.1)
    with pytest.raises(ValueError, match="base_lr must be finite"):
        LearningRateScheduler(schedules.ExponentialDecay(0.9), base_lr=np.nan)
    # refused here, not at the first epoch
    with pytest.raises(ValueError, match="base_lr must be >= 0, got -1.0"):
        LearningRateScheduler(schedules.ExponentialDecay(0.9), base_lr=-1)
    with pytest.raises(TypeError, match="base_lr must be a real number"):
        LearningRateScheduler(schedules.ExponentialDecay(0.9), base_lr="0.1")


# ---- History, LambdaCallback, CallbackList ---------------------------------------

def test_history():
    history = History()
    logs = [{"loss": 0.9, "val_loss": 1.0, "lr": 0.1}, {"loss": 0.7, "val_loss": 0.8, "lr": 0.1},
            {"loss": 0.6, "lr": 0.05}]
    fit(FakeModel(), [history], logs, initial_epoch=2)
    assert history.epoch == [2, 3, 4]
    assert history.history == {"loss": [0.9, 0.7, 0.6], "val_loss": [1.0, 0.8],
                               "lr": [0.1, 0.1, 0.05]}
    assert repr(history) == "History(epochs=3, keys=['loss', 'val_loss', 'lr'])"


def test_monitoring_callbacks_show_their_settings():
    assert repr(EarlyStopping(patience=3, restore_best_weights=True)) == (
        "EarlyStopping(monitor='val_loss', min_delta=0.0, patience=3, mode='min', "
        "baseline=None, restore_best_weights=True, start_from_epoch=0, verbose=0)")
    assert repr(ReduceLROnPlateau(monitor="val_accuracy", factor=0.5)) == (
        "ReduceLROnPlateau(monitor='val_accuracy', factor=0.5, patience=10, mode='max', "
        "min_delta=0.0001, cooldown=0, min_lr=0.0, verbose=0)")
    assert repr(ModelCheckpoint("m.fmlp", save_best_only=True)) == (
        "ModelCheckpoint(filepath='m.fmlp', monitor='val_loss', save_best_only=True, "
        "mode='min', save_freq='epoch', verbose=0)")


def test_history_sees_what_the_other_callbacks_did():
    history = History()
    model = FakeModel()
    fit(model, [EarlyStopping(patience=1), history], logs_of([1.0, 2.0, 3.0]))
    assert history.epoch == [0, 1]


def test_lambda_callback_calls_its_functions_in_order():
    calls = []
    callback = LambdaCallback(
        on_train_begin=lambda logs: calls.append(("train_begin", logs)),
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch)),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, logs["loss"])),
        on_train_end=lambda logs: calls.append(("train_end", logs)))
    fit(FakeModel(), [callback], [{"loss": 0.5}, {"loss": 0.25}])
    assert calls == [("train_begin", {}), ("epoch_begin", 0), ("epoch_end", 0, 0.5),
                     ("epoch_begin", 1), ("epoch_end", 1, 0.25), ("train_end", {})]


def test_lambda_callback_hooks_are_optional():
    ends = []
    fit(FakeModel(), [LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append(epoch))],
        [{}] * 3)
    assert ends == [0, 1, 2]


def test_lambda_callback_rejects_non_callables():
    with pytest.raises(TypeError, match="on_epoch_end must be callable or None"):
        LambdaCallback(on_epoch_end="print")


@pytest.mark.parametrize("hook", ["on_batch_end", "on_train_batch_begin", "on_test_end",
                                  "on_predict_batch_end"])
def test_hooks_fit_never_calls_are_refused(hook):
    """Keras's batch, test and predict hooks would silently never run."""
    class PerBatch(Callback):
        pass

    setattr(PerBatch, hook, lambda self, *args: None)
    model = fm.Sequential([fm.Dense(1)], input_dim=2, seed=0)
    model.compile("mse", "sgd")
    before = model.get_weights()
    with pytest.raises(NotImplementedError, match=f"PerBatch defines {hook}, which fastmlp "
                                                  "never calls: fit runs its batches in "
                                                  "compiled code"):
        model.fit(np.ones((4, 2)), np.ones(4), verbose=0, callbacks=[PerBatch()])
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))
    with pytest.raises(NotImplementedError, match=f"LambdaCallback defines {hook}"):
        LambdaCallback(**{hook: print})


def test_lambda_callback_rejects_unknown_hooks():
    with pytest.raises(TypeError, match="unexpected keyword argument 'on_epoch_ends'"):
        LambdaCallback(on_epoch_ends=print)


def test_callback_list_sets_the_model_and_calls_in_order():
    calls = []

    class Recorder(Callback):
        def __init__(self, name):
            self.name = name

        def on_epoch_end(self, epoch, logs=None):
            calls.append((self.name, epoch))

    model = FakeModel()
    first, second = Recorder("first"), Recorder("second")
    fit(model, [first, second], [{}] * 2)
    assert first.model is model and second.model is model
    assert calls == [("first", 0), ("second", 0), ("first", 1), ("second", 1)]


def test_base_callback_does_nothing():
    model = FakeModel()
    assert fit(model, [Callback()], [{}] * 2) == [0, 1]
    assert CallbackList(None, model).callbacks == []


@pytest.mark.parametrize("callbacks, message", [
    ([History(), "early_stopping"], "Callback objects, got str"),
    ([lambda epoch, logs: None], "Callback objects, got function"),
    (History(), "wrap it in a list"),
])
def test_callback_list_rejects_non_callbacks(callbacks, message):
    with pytest.raises(TypeError, match=message):
        CallbackList(callbacks, FakeModel())
