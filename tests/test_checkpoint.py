"""ModelCheckpoint: which epochs it saves and under what names (on a fake
model with hand-made logs, as in test_callbacks.py), and resuming a real fit
from a checkpoint, bitwise equal to the uninterrupted fit."""
import os

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import optim, schedules
from fastmlp.callbacks import CallbackList, LearningRateScheduler, ModelCheckpoint


class FakeModel:
    def __init__(self):
        self.saved = []  # (path, epoch) per save
        self.epoch = None

    def save(self, path):
        self.saved.append((os.path.relpath(path), self.epoch))


def fit(model, callback, epoch_logs, initial_epoch=0):
    """Runs the callback as Sequential.fit does, with the given logs."""
    callbacks = CallbackList([callback], model)
    callbacks.on_train_begin({})
    for epoch, logs in enumerate(epoch_logs, start=initial_epoch):
        model.epoch = epoch
        callbacks.on_epoch_begin(epoch, {})
        callbacks.on_epoch_end(epoch, dict(logs))
    callbacks.on_train_end({})
    return [path for path, _ in model.saved]


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_every_epoch_epoch_counted_from_1():
    paths = fit(FakeModel(), ModelCheckpoint("ckpt-{epoch:02d}.fmlp"), [{"loss": 1.0}] * 3)
    assert paths == ["ckpt-01.fmlp", "ckpt-02.fmlp", "ckpt-03.fmlp"]


def test_fixed_name_is_overwritten_and_log_keys_format():
    model = FakeModel()
    fit(model, ModelCheckpoint("last.fmlp"), [{"loss": 1.0}] * 2)
    assert model.saved == [("last.fmlp", 0), ("last.fmlp", 1)]
    paths = fit(FakeModel(), ModelCheckpoint("m-{epoch}-{val_loss:.2f}-{loss:.1f}.fmlp"),
                [{"loss": 0.51, "val_loss": 0.256}], initial_epoch=4)
    assert paths == ["m-5-0.26-0.5.fmlp"]


def test_creates_directories():
    model = FakeModel()
    fit(model, ModelCheckpoint(os.path.join("runs", "a", "{epoch}.fmlp")), [{"loss": 1.0}])
    assert os.path.isdir(os.path.join("runs", "a"))


def test_unknown_format_key():
    with pytest.raises(KeyError, match="val_acc"):
        fit(FakeModel(), ModelCheckpoint("{val_acc:.2f}.fmlp"), [{"loss": 1.0}])


LOSSES = [{"val_loss": v, "val_accuracy": 1 - v} for v in (1.0, 0.5, 0.7, 0.4, 0.4)]


@pytest.mark.parametrize("monitor, mode, saved_epochs", [
    ("val_loss", "auto", [0, 1, 3]),
    ("val_loss", "min", [0, 1, 3]),
    ("val_loss", "max", [0]),
    ("val_accuracy", "auto", [0, 1, 3]),
    ("val_accuracy", "max", [0, 1, 3]),
])
def test_save_best_only(monitor, mode, saved_epochs):
    model = FakeModel()
    checkpoint = ModelCheckpoint("best.fmlp", monitor=monitor, mode=mode, save_best_only=True)
    fit(model, checkpoint, LOSSES)
    assert [epoch for _, epoch in model.saved] == saved_epochs
    assert checkpoint.best == LOSSES[saved_epochs[-1]][monitor]
    assert checkpoint.last_path == "best.fmlp"


def test_best_is_kept_across_fits():
    model = FakeModel()
    checkpoint = ModelCheckpoint("best.fmlp", save_best_only=True)
    fit(model, checkpoint, [{"val_loss": 0.5}])
    fit(model, checkpoint, [{"val_loss": 0.7}, {"val_loss": 0.4}], initial_epoch=1)
    assert [epoch for _, epoch in model.saved] == [0, 2]


def test_missing_monitor_warns_once_and_saves_nothing():
    model = FakeModel()
    with pytest.warns(RuntimeWarning, match="val_loss") as warned:
        fit(model, ModelCheckpoint("best.fmlp", save_best_only=True), [{"loss": 1.0}] * 3)
    assert len(warned) == 1 and model.saved == []
    # Without save_best_only the monitor is not needed.
    fit(model, ModelCheckpoint("all.fmlp"), [{"loss": 1.0}])
    assert len(model.saved) == 1


def test_verbose_prints(capsys):
    fit(FakeModel(), ModelCheckpoint("b.fmlp", save_best_only=True, verbose=1),
        [{"val_loss": 0.5}])
    assert capsys.readouterr().out == (
        "Epoch 1: val_loss improved from inf to 0.50000, saving model to b.fmlp\n")


@pytest.mark.parametrize("kwargs, error", [
    ({"save_freq": 10}, NotImplementedError),
    ({"save_freq": "batch"}, ValueError),
    ({"mode": "best"}, ValueError),
    ({"monitor": 3}, TypeError),
    ({"verbose": -1}, ValueError),
])
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        ModelCheckpoint("m.fmlp", **kwargs)


# ---- with a real model -----------------------------------------------------------

def _data(rows=60, features=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((rows, features)), rng.integers(0, 3, rows)


def _model(dtype="float32", optimizer=None):
    model = fm.Sequential([fm.Dense(10, "relu"), fm.Dropout(0.3), fm.Maxout(6, pieces=2),
                           fm.Dropout(0.1), fm.Dense(3, "softmax")],
                          input_dim=5, dtype=dtype, seed=21)
    model.compile("cross_entropy", optimizer or optim.Adam(lr=0.01), metrics=["accuracy"])
    return model


FIT = dict(batch_size=8, shuffle=True, validation_split=0.2, verbose=0)


def _equal(weights, others):
    return len(weights) == len(others) and all(
        np.array_equal(x, y) for x, y in zip(weights, others))


def _same_weights(a, b):
    return _equal(a.get_weights(), b.get_weights())


def test_checkpoints_hold_each_epoch(tmp_path):
    X, y = _data()
    model = _model()
    saved = []
    cb = fm.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: saved.append(
        model.get_weights()))
    model.fit(X, y, epochs=3, callbacks=[ModelCheckpoint("{epoch}.fmlp"), cb], **FIT)
    assert sorted(os.listdir(tmp_path)) == ["1.fmlp", "2.fmlp", "3.fmlp"]
    for epoch, weights in enumerate(saved, start=1):
        assert _equal(fm.load(f"{epoch}.fmlp").get_weights(), weights)
    assert fm.load("3.fmlp")._step == model._step


def test_best_checkpoint_is_the_best_epoch(tmp_path):
    X, y = _data()
    model = _model()
    weights = []
    cb = fm.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: weights.append(
        model.get_weights()))
    history = model.fit(X, y, epochs=6, callbacks=[
        cb, ModelCheckpoint("best.fmlp", monitor="val_loss", save_best_only=True)], **FIT)
    best = int(np.argmin(history.history["val_loss"]))
    assert _equal(fm.load("best.fmlp").get_weights(), weights[best])


@pytest.mark.parametrize("dtype, optimizer", [
    ("float32", optim.Adam(lr=0.01, amsgrad=True)),
    ("float64", optim.SGD(lr=0.05, momentum=0.9, nesterov=True)),
    ("float32", optim.RMSprop(lr=0.01, centered=True, momentum=0.2)),
])
@pytest.mark.parametrize("resume_after", [1, 3])
def test_resume_from_checkpoint_is_bitwise_equal(tmp_path, dtype, optimizer, resume_after):
    """Shuffling and dropout draw from (seed, step count, batch), and the
    checkpoint holds the optimizer state and step: fit(initial_epoch=e) on the
    checkpoint of epoch e (1-based) continues the run exactly."""
    X, y = _data()
    straight = _model(dtype, optimizer)
    straight.fit(X, y, epochs=5, **FIT)

    checkpointed = _model(dtype, optimizer)
    checkpointed.fit(X, y, epochs=5, callbacks=[ModelCheckpoint("ckpt-{epoch:02d}.fmlp")],
                     **FIT)
    assert _same_weights(checkpointed, straight)  # saving does not disturb training

    resumed = fm.load(f"ckpt-{resume_after:02d}.fmlp")
    history = resumed.fit(X, y, epochs=5, initial_epoch=resume_after, **FIT)
    assert history.epoch == list(range(resume_after, 5))
    assert _same_weights(resumed, straight)
    assert resumed._step == straight._step
    assert np.array_equal(resumed.predict(X), straight.predict(X))


@pytest.mark.parametrize("how", ["checkpoint", "same callback", "base_lr given"])
def test_resume_with_a_learning_rate_schedule(tmp_path, how):
    """The schedule sets lr from the epoch and its base rate. The optimizer
    keeps that base rate (initial_lr), checkpoints too, so a fit resumed at a
    later epoch continues the schedule rather than decaying the decayed lr."""
    X, y = _data()
    schedule = schedules.StepDecay(step_size=2, gamma=0.5)
    straight = _model(optimizer=optim.SGD(lr=0.1, momentum=0.5))
    rates = straight.fit(X, y, epochs=5, callbacks=[LearningRateScheduler(schedule)],
                         **FIT).history["lr"]
    assert rates == [0.1, 0.1, 0.05, 0.05, 0.025]
    first = _model(optimizer=optim.SGD(lr=0.1, momentum=0.5))
    callback = LearningRateScheduler(schedule)
    first.fit(X, y, epochs=3, callbacks=[callback, ModelCheckpoint("ckpt.fmlp")], **FIT)
    if how == "same callback":
        resumed, callback = first, callback
    else:
        resumed = fm.load("ckpt.fmlp")
        assert (resumed.optimizer.lr, resumed.optimizer.initial_lr) == (0.05, 0.1)
        callback = LearningRateScheduler(schedule, **({"base_lr": 0.1} if how == "base_lr given"
                                                      else {}))
    history = resumed.fit(X, y, epochs=5, initial_epoch=3, callbacks=[callback], **FIT)
    assert history.history["lr"] == rates[3:]
    assert _same_weights(resumed, straight)


def test_a_fit_from_epoch_0_starts_the_schedule_from_the_current_lr():
    X, y = _data()
    model = _model(optimizer=optim.SGD(lr=0.1))
    callback = LearningRateScheduler(schedules.ExponentialDecay(gamma=0.5))
    model.fit(X, y, epochs=2, callbacks=[callback], **FIT)
    assert (model.optimizer.lr, model.optimizer.initial_lr) == (0.05, 0.1)
    model.optimizer.lr = 0.2  # a new run of the schedule, from a rate the user chose
    history = model.fit(X, y, epochs=2, callbacks=[callback], **FIT)
    assert history.history["lr"] == [0.2, 0.1]
    assert model.optimizer.initial_lr == 0.2
