"""The Sequential API: reproducibility, thread-count independence, dtypes,
weights, history and callbacks, divergence, errors, pickling."""
import copy
import pickle
import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import fastmlp as fm
from fastmlp import callbacks

import reference_mlp as ref


def _classification(rows=60, features=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((rows, features)), rng.integers(0, classes, rows)


def _classifier(seed=0, dtype="float32", features=5, dropout=0.3):
    model = fm.Sequential([fm.Dense(8, activation="relu"), fm.Dropout(dropout),
                           fm.Dense(3, activation="softmax")],
                          input_dim=features, dtype=dtype, seed=seed)
    model.compile(loss="cross_entropy", optimizer=fm.optim.Adam(lr=0.01), metrics=["accuracy"])
    return model


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


# ---- reproducibility ---------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_seed_same_weights_bitwise(dtype):
    X, y = _classification()
    runs = []
    for _ in range(2):
        model = _classifier(seed=11, dtype=dtype)
        model.fit(X, y, epochs=3, batch_size=8, shuffle=True, verbose=0)
        runs.append(model.get_weights())
    assert _same(*runs)


def test_different_seed_different_weights():
    X, y = _classification()
    a, b = _classifier(seed=1), _classifier(seed=2)
    assert not _same(a.get_weights(), b.get_weights())  # initialisation
    # the same initial weights: shuffling and dropout masks still differ
    b.set_weights(a.get_weights())
    for model in (a, b):
        model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    assert not _same(a.get_weights(), b.get_weights())


def test_shuffle_and_dropout_each_change_training():
    X, y = _classification()
    base = _classifier(seed=5, dropout=0.0)
    start = base.get_weights()
    results = {}
    for shuffle in (False, True):
        for dropout in (0.0, 0.5):
            model = _classifier(seed=5, dropout=dropout)
            model.set_weights(start)
            model.fit(X, y, epochs=2, batch_size=8, shuffle=shuffle, verbose=0)
            results[shuffle, dropout] = model.get_weights()
    keys = list(results)
    for i in range(len(keys)):
        for j in range(i + 1, len(keys)):
            assert not _same(results[keys[i]], results[keys[j]]), (keys[i], keys[j])


def test_dropout_zero_without_shuffle_is_the_plain_net():
    """Dropout(0.0) changes nothing: the same weights as the net without it."""
    X, y = _classification()
    with_dropout = _classifier(seed=3, dropout=0.0)
    plain = fm.Sequential([fm.Dense(8, activation="relu"), fm.Dense(3, activation="softmax")],
                          input_dim=5, seed=3)
    plain.compile(loss="cross_entropy", optimizer=fm.optim.Adam(lr=0.01))
    plain.set_weights(with_dropout.get_weights())
    for model in (with_dropout, plain):
        model.fit(X, y, epochs=2, batch_size=8, shuffle=True, verbose=0)
    assert _same(with_dropout.get_weights(), plain.get_weights())


def test_thread_count_does_not_change_results(restore_threads):
    """Bitwise the same weights, predictions and losses with 1, 2 and 3 threads,
    on a net large enough for the parallel kernels (batches of 128 x 256)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((512, 100)).astype(np.float32)
    y = rng.integers(0, 10, 512)
    results = []
    for threads in (1, 2, 3):
        fm.set_num_threads(threads)
        assert fm.get_num_threads() == (threads if fm.config()["openmp"] else 1)
        model = fm.Sequential([fm.Dense(256, activation="relu"), fm.Dropout(0.2),
                               fm.Dense(128, activation="tanh"), fm.Dropout(0.1),
                               fm.Dense(10, activation="softmax")], input_dim=100, seed=42)
        model.compile(loss="cross_entropy", optimizer=fm.optim.Adam(lr=1e-3),
                      metrics=["accuracy"])
        hist = model.fit(X, y, epochs=2, batch_size=128, shuffle=True, verbose=0)
        results.append((model.get_weights(), model.predict(X), hist.history["loss"],
                        model.evaluate(X, y)))
    fm.set_num_threads(None)
    first = results[0]
    for other in results[1:]:
        assert _same(first[0], other[0])
        assert np.array_equal(first[1], other[1])
        assert first[2] == other[2] and first[3] == other[3]


@pytest.mark.skipif(not fm.config()["openmp"],
                    reason="built without OpenMP: no thread count to follow")
def test_fit_follows_the_callers_threadpoolctl_limit(restore_threads):
    """fit runs the native loop on a worker thread; OpenMP keeps a limit per
    thread, so fit hands the caller's to the worker along with each epoch."""
    from fastmlp import _core
    from fastmlp.model import _fit_worker

    fm.set_num_threads(None)
    X = np.random.default_rng(0).standard_normal((64, 4)).astype(np.float32)
    model = fm.Sequential([fm.Dense(1)], input_dim=4, seed=0)
    model.compile(loss="mse", optimizer="sgd")

    def worker_threads():
        return _fit_worker().submit(_core.get_num_threads).result()

    for limit in (1, 3):
        with threadpool_limits(limit, user_api="openmp"):
            model.fit(X, X[:, 0], epochs=1, verbose=0)
            assert worker_threads() == limit
    model.fit(X, X[:, 0], epochs=1, verbose=0)
    assert worker_threads() == fm.get_num_threads()


# ---- dtypes and predict -------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_shape_and_dtype(dtype):
    X, y = _classification(rows=37)
    model = _classifier(dtype=dtype)
    out = model.predict(X)
    assert out.shape == (37, 3) and out.dtype == np.dtype(dtype)
    assert all(w.dtype == np.dtype(dtype) for w in model.get_weights())
    np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-6)
    # batches of any size give the same rows
    np.testing.assert_allclose(model.predict(X, batch_size=5), out, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.predict(X[:1]), out[:1], rtol=1e-6, atol=1e-7)
    # and the same as the reference
    expected, _ = ref.forward(ref.from_model(model), X.astype(dtype))
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol * 1e-2)


def test_float64_input_is_converted_for_a_float32_model():
    X, y = _classification()
    model = _classifier()
    X32 = X.astype(np.float32)
    assert np.array_equal(model.predict(X), model.predict(X32))
    assert model.predict(X).dtype == np.float32
    # integer and Fortran-ordered inputs too
    Xi = np.arange(15).reshape(3, 5)
    assert np.array_equal(model.predict(Xi), model.predict(Xi.astype(np.float32)))
    assert np.array_equal(model.predict(np.asfortranarray(X)), model.predict(X32))
    assert np.array_equal(model.predict(X[::2]), model.predict(X32[::2].copy()))
    assert np.array_equal(model.predict(X.tolist()), model.predict(X32))
    # fitting on float64 data is fitting on its float32 rounding
    a, b = _classifier(seed=2), _classifier(seed=2)
    a.fit(X, y, epochs=2, verbose=0)
    b.fit(X32, y, epochs=2, verbose=0)
    assert _same(a.get_weights(), b.get_weights())


def test_float64_model_end_to_end():
    X, y = _classification()
    model = _classifier(dtype="float64")
    hist = model.fit(X, y, epochs=5, batch_size=10, verbose=0)
    assert all(w.dtype == np.float64 for w in model.get_weights())
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    assert model.predict(X.astype(np.float32)).dtype == np.float64


def test_model_built_on_first_fit():
    X, y = _classification(features=7)
    model = fm.Sequential([fm.Dense(4, activation="tanh"), fm.Dense(3, activation="softmax")],
                          seed=0)
    assert not model.built
    model.compile(loss="cross_entropy")
    model.fit(X, y, epochs=1, verbose=0)
    assert model.built and model.input_dim == 7
    assert [w.shape for w in model.get_weights()] == [(7, 4), (4,), (4, 3), (3,)]


# ---- weights -------------------------------------------------------------------

def test_get_set_weights_round_trip():
    X, y = _classification()
    model = _classifier(seed=0)
    model.fit(X, y, epochs=2, verbose=0)
    saved = model.get_weights()
    out = model.predict(X)
    other = _classifier(seed=99)
    assert not np.array_equal(other.predict(X), out)
    other.set_weights(saved)
    assert _same(other.get_weights(), saved)
    assert np.array_equal(other.predict(X), out)
    # get_weights returns copies
    saved[0][:] = 0
    assert not np.array_equal(model.get_weights()[0], saved[0])
    # set_weights copies too, and a trained model's next fit starts from them
    model.set_weights(other.get_weights())
    model.fit(X, y, epochs=1, verbose=0)
    assert not _same(model.get_weights(), other.get_weights())


def test_set_weights_after_fit_is_used_by_training():
    """The compiled network reads the arrays set_weights wrote into."""
    X, y = _classification()
    a, b = _classifier(seed=0, dropout=0.0), _classifier(seed=1, dropout=0.0)
    a.fit(X, y, epochs=1, shuffle=False, verbose=0)
    b.fit(X, y, epochs=1, shuffle=False, verbose=0)
    start = b.get_weights()
    a.set_weights(start)
    a.compile(loss="cross_entropy", optimizer=fm.optim.SGD(lr=0.1))
    fresh = _classifier(seed=7, dropout=0.0)
    fresh.compile(loss="cross_entropy", optimizer=fm.optim.SGD(lr=0.1))
    fresh.set_weights(start)
    for model in (a, fresh):
        model.fit(X, y, epochs=1, shuffle=False, verbose=0)
    assert _same(a.get_weights(), fresh.get_weights())


def test_set_weights_errors():
    model = _classifier()
    ws = model.get_weights()
    with pytest.raises(ValueError, match="expected 4 arrays"):
        model.set_weights(ws[:3])
    with pytest.raises(ValueError, match="shape"):
        model.set_weights([ws[0].T, *ws[1:]])
    with pytest.raises(ValueError, match="NaN or infinity"):
        model.set_weights([ws[0] * np.nan, *ws[1:]])
    with pytest.raises(TypeError):
        model.set_weights([ws[0].astype(str), *ws[1:]])
    with pytest.raises(ValueError, match="not built"):
        fm.Sequential([fm.Dense(2)]).set_weights([])
    assert _same(model.get_weights(), ws)  # nothing changed by the failures


def test_set_weights_from_the_models_own_arrays_in_another_order():
    """Every new value is taken before any is written: the arrays given may
    be the model's own."""
    model = fm.Sequential([fm.Dense(3), fm.Dense(3)], input_dim=3, seed=0)
    W1, b1, W2, b2 = model.get_weights()
    own = [w for layer in model.layers for w in layer.weights]
    model.set_weights([own[2], own[3], own[0], own[1]])
    assert _same(model.get_weights(), [W2, b2, W1, b1])


@pytest.mark.filterwarnings("error")  # NumPy's cast warning must not leak out
def test_set_weights_rejects_values_beyond_float32():
    model = _classifier()
    ws = model.get_weights()
    with pytest.raises(ValueError, match=r"weights\[0\] holds values beyond the range of float32"):
        model.set_weights([np.full(ws[0].shape, 1e39), *ws[1:]])
    assert _same(model.get_weights(), ws)


def test_count_params_and_summary(capsys):
    model = fm.Sequential([fm.Dense(8, activation="relu"), fm.Dropout(0.5),
                           fm.Maxout(4, pieces=3), fm.Dense(2, activation="softmax")],
                          input_dim=5, seed=0)
    expected = (5 * 8 + 8) + (8 * 12 + 12) + (4 * 2 + 2)
    assert model.count_params() == expected
    assert model.count_params() == sum(w.size for w in model.get_weights())
    assert model.summary() is None  # as Keras: a notebook shows the table once
    text = capsys.readouterr().out
    lines = []
    model.summary(print_fn=lines.append)
    assert lines == [text.rstrip("\n")]
    assert str(expected) in text and "relu" in text and "softmax" in text
    assert "maxout" in text.lower() and "dropout" in text.lower()
    assert [w.shape for w in model.get_weights()] == [(5, 8), (8,), (8, 12), (12,), (4, 2),
                                                        (2,)]
    with pytest.raises(ValueError, match="not built"):
        fm.Sequential([fm.Dense(2)]).count_params()


def test_repr_lists_the_layers_and_rebuilds_the_same_model():
    model = fm.Sequential([fm.Dense(8, activation=fm.activations.LeakyReLU(0.2), l2=1e-3),
                           fm.Dropout(0.5), fm.Maxout(4, pieces=3),
                           fm.Dense(2, activation="softmax")], input_dim=5, dtype="float64",
                          seed=3)
    text = repr(model)
    assert text.startswith("Sequential([\n    Dense(units=8, ")
    assert "Dropout(rate=0.5)" in text and "pieces=3" in text and "l2=0.001" in text
    assert text.endswith("], input_dim=5, dtype='float64', seed=3)")
    names = {**vars(fm.init), **vars(fm.activations), **vars(fm)}
    rebuilt = eval(text, names)
    assert repr(rebuilt) == text
    for mine, theirs in zip(model.get_weights(), rebuilt.get_weights()):
        assert mine.tobytes() == theirs.tobytes()


# ---- fit, history, callbacks -----------------------------------------------------

def test_history_keys_with_validation_split():
    X, y = _classification()
    model = _classifier()
    hist = model.fit(X, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert hist.epoch == [0, 1, 2]
    assert all(len(v) == 3 for v in hist.history.values())
    assert hist.history["lr"] == [0.01] * 3
    assert model.history is hist
    # the last held-out rows are the validation set
    held = int(60 * 0.25)
    logs = model.evaluate(X[-held:], y[-held:])
    assert hist.history["val_loss"][-1] == pytest.approx(logs["loss"], rel=1e-6)
    assert hist.history["val_accuracy"][-1] == pytest.approx(logs["accuracy"])


def test_history_with_validation_data_and_weights():
    X, y = _classification()
    Xv, yv = _classification(rows=20, seed=1)
    wv = np.linspace(0.5, 1.5, 20)
    model = _classifier()
    hist = model.fit(X, y, epochs=2, validation_data=(Xv, yv, wv), verbose=0)
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert hist.history["val_loss"][-1] == pytest.approx(
        model.evaluate(Xv, yv, sample_weight=wv)["loss"], rel=1e-6)
    hist = model.fit(X, y, epochs=1, validation_data=(Xv, yv), verbose=0)
    assert hist.history["val_loss"][-1] == pytest.approx(model.evaluate(Xv, yv)["loss"],
                                                         rel=1e-6)
    # no validation: no val_ keys; no metrics: no accuracy
    plain = fm.Sequential([fm.Dense(3, activation="softmax")], input_dim=5, seed=0)
    plain.compile(loss="cross_entropy")
    assert set(plain.fit(X, y, epochs=1, verbose=0).history) == {"loss", "lr"}


def test_history_loss_is_the_mean_row_loss_during_the_epoch():
    """With lr = 0 nothing moves: the epoch loss is evaluate's loss."""
    X, y = _classification()
    model = _classifier(dropout=0.0)
    model.compile(loss="cross_entropy", optimizer=fm.optim.SGD(lr=0.0), metrics=["accuracy"])
    logs = model.evaluate(X, y)
    hist = model.fit(X, y, epochs=1, batch_size=7, verbose=0)
    assert hist.history["loss"][0] == pytest.approx(logs["loss"], rel=1e-6)
    assert hist.history["accuracy"][0] == pytest.approx(logs["accuracy"])


def test_evaluate_returns_a_dict():
    X, y = _classification()
    model = _classifier()
    logs = model.evaluate(X, y)
    assert isinstance(logs, dict) and set(logs) == {"loss", "accuracy"}
    assert all(isinstance(v, float) for v in logs.values())
    assert 0 <= logs["accuracy"] <= 1
    assert model.evaluate(X, y, batch_size=7)["loss"] == pytest.approx(logs["loss"], rel=1e-6)
    regression = fm.Sequential([fm.Dense(1)], input_dim=5, seed=0)
    regression.compile(loss="mse")
    assert set(regression.evaluate(X, y.astype(float))) == {"loss"}


def test_early_stopping_restores_best_weights():
    """Validation targets at half the training targets: val_loss falls, then
    rises as the fit approaches the training targets. The model ends with the
    weights of the best val_loss epoch."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    Xv = rng.standard_normal((50, 3))
    yv = 0.5 * (Xv @ np.array([1.0, -2.0, 0.5]))
    model = fm.Sequential([fm.Dense(1)], input_dim=3, seed=0)
    model.compile(loss="mse", optimizer=fm.optim.SGD(lr=0.02))
    seen = []
    record = callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append((logs["val_loss"], model.get_weights())))
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    hist = model.fit(X, y, epochs=200, batch_size=20, validation_data=(Xv, yv),
                     callbacks=[record, stop], verbose=0)
    epochs = len(hist.epoch)
    assert 3 < epochs < 200  # it did stop early, after improving for a while
    best = int(np.argmin([v for v, _ in seen]))
    assert stop.best_epoch == best and epochs == best + 3
    assert _same(model.get_weights(), seen[best][1])
    assert not _same(seen[-1][1], seen[best][1])


def test_callback_can_stop_training():
    X, y = _classification()
    model = _classifier()
    stopper = callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: setattr(model, "stop_training", epoch == 1))
    assert len(model.fit(X, y, epochs=10, callbacks=[stopper], verbose=0).epoch) == 2


def test_learning_rate_change_between_epochs_is_used():
    """lr set by a callback takes effect in the next epoch: SGD lr 0 for
    epoch 0 leaves the weights untouched."""
    X, y = _classification()
    model = _classifier(dropout=0.0)
    model.compile(loss="cross_entropy", optimizer=fm.optim.SGD(lr=0.5))
    start = model.get_weights()
    changes = []
    sched = callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: setattr(model.optimizer, "lr", 0.0 if epoch == 0
                                                   else 0.5),
        on_epoch_end=lambda epoch, logs: changes.append(model.get_weights()))
    hist = model.fit(X, y, epochs=2, callbacks=[sched], verbose=0)
    assert _same(changes[0], start)
    assert not _same(changes[1], start)
    assert hist.history["lr"] == [0.0, 0.5]


def test_verbose_fit_prints_progress(capsys):
    X, y = _classification()
    model = _classifier()
    model.fit(X, y, epochs=2, verbose=1)
    out = capsys.readouterr()
    assert "loss" in out.out + out.err


def test_fits_of_one_epoch_draw_like_one_fit_of_many():
    """Shuffling and dropout are keyed by the step count: a loop of fit(epochs=1)
    gets fresh draws each time, the same as one fit(epochs=3)."""
    X, y = _classification()
    looped, once = _classifier(dropout=0.5), _classifier(dropout=0.5)
    losses = [looped.fit(X, y, epochs=1, batch_size=8, verbose=0).history["loss"][0]
              for _ in range(3)]
    assert once.fit(X, y, epochs=3, batch_size=8, verbose=0).history["loss"] == losses
    assert _same(looped.get_weights(), once.get_weights())


def test_history_and_the_epoch_line_show_what_callbacks_add(capsys):
    X, y = _classification()
    model = _classifier()
    seen = []

    def add_metric(epoch, logs):
        logs["custom"] = 0.25
        seen.append(model.history is not None)

    hist = model.fit(X, y, epochs=2, verbose=2,
                     callbacks=[callbacks.LambdaCallback(on_epoch_end=add_metric)])
    assert hist.history["custom"] == [0.25, 0.25] and seen == [True, True]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all("custom: 0.2500" in line for line in lines)
    assert "\r" not in "".join(lines)  # verbose=2: no live line


def test_evaluate_and_predict_take_keras_verbose(capsys):
    X, y = _classification()
    model = _classifier()
    logs = model.evaluate(X, y, verbose=0)
    model.predict(X, verbose=0)
    assert capsys.readouterr().out == ""
    model.evaluate(X, y, verbose=1)
    model.predict(X, verbose="auto")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"loss: {logs['loss']:.4f} - accuracy: {logs['accuracy']:.4f}"
    assert out[1].startswith(f"predict: {len(X)} rows - ")


@pytest.mark.parametrize("rows, split, held", [(10, 0.25, 3), (50, 0.01, 1), (48, 0.3, 15)])
def test_validation_split_holds_out_what_keras_does(rows, split, held):
    """Keras trains on floor(rows * (1 - split)) rows and validates on the rest."""
    X, y = _classification()
    seen = {}
    model = _classifier()
    model.fit(X[:rows], y[:rows], epochs=1, batch_size=rows, validation_split=split, verbose=0,
              callbacks=[callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.update(logs))])
    reference = _classifier()
    reference.set_weights(model.get_weights())
    assert seen["val_loss"] == pytest.approx(
        reference.evaluate(X[rows - held:rows], y[rows - held:rows])["loss"], rel=1e-6)


# ---- divergence ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_huge_learning_rate_raises_divergence_error(dtype):
    X, y = _classification()
    model = _classifier(dtype=dtype, dropout=0.0)
    model.compile(loss="cross_entropy", optimizer=fm.optim.SGD(lr=1e30))
    with pytest.raises(fm.DivergenceError) as info:
        model.fit(X, y, epochs=5, batch_size=8, verbose=0)
    assert isinstance(info.value, FloatingPointError)
    assert info.value.epoch >= 0 and info.value.batch >= 0
    assert all(np.isfinite(w).all() for w in model.get_weights())
    # the model can go on: at a sane learning rate training works again
    model.compile(loss="cross_entropy", optimizer=fm.optim.SGD(lr=1e-3))
    model.set_weights(_classifier(dtype=dtype).get_weights())
    assert np.isfinite(model.fit(X, y, epochs=1, verbose=0).history["loss"][0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("epochs", [1, 2])
def test_divergence_when_the_last_update_of_an_epoch_overflows(epochs):
    """float32, one batch per epoch, lr near FLT_MAX: the first update itself
    overflows W to inf (its gradient is finite, so the batch passes the check)."""
    rng = np.random.default_rng(0)
    X = 1000 * rng.standard_normal((64, 5))
    y = rng.integers(0, 3, 64)
    model = fm.Sequential([fm.Dense(8, activation="relu"), fm.Dense(3, activation="softmax")],
                          input_dim=5, seed=0)
    model.compile(loss="cross_entropy", optimizer=fm.optim.SGD(lr=3e38))
    with pytest.raises(fm.DivergenceError):
        model.fit(X, y, epochs=epochs, batch_size=64, verbose=0)
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_divergence_returns_to_the_start_of_the_epoch():
    """Weights, optimizer state and step are those after the last good epoch,
    so training goes on as if the bad epoch never ran."""
    X, y = _classification()
    model, twin = _classifier(dropout=0.0), _classifier(dropout=0.0)
    blow_up = callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: setattr(model.optimizer, "lr", 1e30))
    with pytest.raises(fm.DivergenceError) as info:
        model.fit(X, y, epochs=3, batch_size=8, verbose=0, callbacks=[blow_up])
    # attributes from 0, the message from 1 as the progress line ("Epoch 2/3")
    assert info.value.epoch == 1 and info.value.batch == 1
    assert "diverged in epoch 2, batch 2:" in str(info.value)
    assert "start of epoch 2;" in str(info.value)
    twin.fit(X, y, epochs=1, batch_size=8, verbose=0)
    assert _same(model.get_weights(), twin.get_weights())
    assert model._step == twin._step
    states = [[a for pair in m._optimizer_state for states in pair for a in states]
              for m in (model, twin)]
    assert _same(*states)
    model.optimizer.lr = twin.optimizer.lr
    for m in (model, twin):
        m.fit(X, y, epochs=2, initial_epoch=1, batch_size=8, verbose=0)
    assert _same(model.get_weights(), twin.get_weights())


@pytest.mark.parametrize("make", [
    lambda: fm.optim.Adam(lr=1e-3), lambda: fm.optim.Adagrad(), lambda: fm.optim.RMSprop(),
    lambda: fm.optim.Adadelta()], ids=["adam", "adagrad", "rmsprop", "adadelta"])
def test_an_optimizer_state_that_overflows_is_divergence(make):
    """MAE's gradient is finite (+-1 times x), but with x = 3e21 its square
    overflows float32: the square-averaging state turns infinite while every
    weight stays finite (its updates become 0), which torch trains on silently."""
    X = np.full((4, 1), 3e21)
    model = fm.Sequential([fm.Dense(1)], input_dim=1, seed=0)
    model.compile(loss="mae", optimizer=make())
    start = model.get_weights()
    with pytest.raises(fm.DivergenceError, match="optimizer's state is not finite") as info:
        model.fit(X, np.zeros(4), epochs=2, batch_size=2, verbose=0)
    assert info.value.epoch == 0 and info.value.batch is None
    assert _same(model.get_weights(), start) and model._step == 0
    assert all(np.isfinite(a).all() for pair in model._optimizer_state for states in pair
               for a in states)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_overflow_inside_a_relu_network_is_not_hidden(dtype):
    """x W = inf - inf = NaN in the hidden layer: ReLU must pass the NaN on
    (PyTorch does) rather than make it 0 and report a loss of 0."""
    big = 1e20 if dtype == "float32" else 1e160
    X = np.full((4, 2), big)
    model = fm.Sequential([fm.Dense(1, activation="relu"), fm.Dense(1)], input_dim=2,
                          dtype=dtype, seed=0)
    model.set_weights([np.array([[big], [-big]]), np.zeros(1), np.ones((1, 1)), np.zeros(1)])
    model.compile(loss="mse", optimizer="sgd")
    with pytest.raises(FloatingPointError, match="not finite"):
        model.predict(X)
    with pytest.raises(FloatingPointError, match="loss is nan"):
        model.evaluate(X, np.zeros(4))
    with pytest.raises(fm.DivergenceError):
        model.fit(X, np.zeros(4), epochs=1, verbose=0)


def test_overflow_before_a_hinge_loss_is_not_hidden():
    X = np.full((4, 2), 1e20)
    model = fm.Sequential([fm.Dense(1)], input_dim=2, seed=0)
    model.set_weights([np.array([[1e20], [-1e20]]), np.zeros(1)])
    model.compile(loss="hinge", optimizer="sgd")
    with pytest.raises(FloatingPointError, match="loss is nan"):
        model.evaluate(X, np.ones(4))
    with pytest.raises(fm.DivergenceError):
        model.fit(X, np.ones(4), epochs=1, verbose=0)


@pytest.mark.parametrize("nan_piece", [0, 1])
def test_a_nan_maxout_piece_wins(nan_piece):
    """As torch.max: a NaN among a unit's pieces makes the unit NaN, wherever it is."""
    model = fm.Sequential([fm.Maxout(1, pieces=2)], input_dim=2, seed=0)
    W = np.zeros((2, 2))
    W[:, nan_piece] = [1e20, -1e20]  # this piece is inf - inf
    W[0, 1 - nan_piece] = 1.0  # the other is 1e20, finite
    model.set_weights([W, np.zeros(2)])
    with pytest.raises(FloatingPointError, match="not finite"):
        model.predict(np.full((1, 2), 1e20))


def test_a_validation_loss_that_overflows_is_logged_and_training_goes_on():
    """Keras's behaviour: the training loss is finite, so the weights are
    good; the validation inputs overflow the network (they are unscaled)."""
    X, y = _classification()
    model = _classifier(dropout=0.0)
    with pytest.warns(RuntimeWarning, match="the validation loss is nan") as caught:
        hist = model.fit(X, y, epochs=2, verbose=0, validation_data=(np.full((8, 5), 3e38),
                                                                   np.zeros(8, int)))
    assert len(caught) == 2 and caught[0].filename == __file__  # points at the fit call
    assert hist.epoch == [0, 1] and np.isnan(hist.history["val_loss"]).all()
    assert all(np.isfinite(hist.history["loss"]))
    assert all(np.isfinite(w).all() for w in model.get_weights())


# ---- errors ------------------------------------------------------------------------

def test_evaluate_before_fit_starts_no_optimizer_state():
    """Only training starts the optimizer: a setting changed after evaluate
    (which needs other state arrays) is taken by the first fit."""
    X, y = _classification()
    model = _classifier(dropout=0.0)
    model.compile(loss="cross_entropy", optimizer=fm.optim.SGD(lr=0.01))
    model.evaluate(X, y)
    assert model._optimizer_state is None
    model.optimizer.momentum = 0.9
    model.fit(X, y, epochs=1, verbose=0)
    assert [len(states) for states in model._optimizer_state[0]] == [1, 1]


def test_a_failed_constructor_leaves_its_layers_free():
    """Whether it fails before taking the layers (an argument), while taking
    them (a layer given twice) or after (building one)."""
    layers = [fm.Dense(4, activation="relu"), fm.Dense(2)]
    failed = []  # keeps each failed model alive, as a REPL's traceback does
    for bad in (dict(dtype="int8"), dict(seed=-1), dict(input_dim=0)):
        with pytest.raises((TypeError, ValueError)) as info:
            fm.Sequential(layers, **bad)
        failed.append(info)
    twice = fm.Dense(3)
    with pytest.raises(ValueError, match="in the model already") as info:
        fm.Sequential([layers[0], twice, twice])
    failed.append(info)
    overflowing = fm.Dense(2, kernel_initializer=fm.init.Constant(1e39))  # inf in float32
    with pytest.raises(ValueError, match="not finite in float32") as info:
        fm.Sequential([layers[0], layers[1], overflowing], input_dim=3)
    failed.append(info)
    model = fm.Sequential(layers + [twice], input_dim=3, seed=0)
    assert model.count_params() == (3 * 4 + 4) + (4 * 2 + 2) + (2 * 3 + 3)


def test_build_keeps_a_built_model_and_refuses_other_inputs():
    X, y = _classification()
    model = _classifier(dropout=0.0)
    model.fit(X, y, epochs=1, verbose=0)
    trained, step = model.get_weights(), model._step
    model.build(5)  # as in Keras: nothing to do
    assert _same(model.get_weights(), trained) and model._step == step
    with pytest.raises(ValueError, match="built for 5 input features, not 6"):
        model.build(6)
    assert model.input_dim == 5 and _same(model.get_weights(), trained)


@pytest.mark.parametrize("shape", [(None, 4), [32, 4]])
def test_build_takes_a_keras_input_shape(shape):
    model = fm.Sequential([fm.Dense(2)], seed=0)
    model.build(shape)
    assert model.input_dim == 4 and model.get_weights()[0].shape == (4, 2)


@pytest.mark.parametrize("shape, error, message", [
    ((None, 4, 1), ValueError, r"an input shape must be \(batch, features\)"),
    ((4,), ValueError, r"an input shape must be \(batch, features\)"),
    ((None, None), TypeError, "input_dim"), ((None, 0), ValueError, "input_dim")])
def test_build_refuses_other_shapes(shape, error, message):
    with pytest.raises(error, match=message):
        fm.Sequential([fm.Dense(2)]).build(shape)


def test_a_shallow_copy_is_refused_with_a_pointer_to_deepcopy():
    with pytest.raises(TypeError, match=r"copy\.deepcopy"):
        copy.copy(_classifier())


def test_keras_acc_spelling_can_be_monitored():
    X, y = _classification()
    model = _classifier(dropout=0.0)
    model.compile(loss="cross_entropy", optimizer=fm.optim.Adam(lr=0.01), metrics=["acc"])
    stop = callbacks.EarlyStopping(monitor="val_acc", patience=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a monitored value missing from the logs warns
        hist = model.fit(X, y, epochs=2, verbose=0, validation_split=0.2, callbacks=[stop])
    assert set(hist.history) == {"loss", "acc", "val_loss", "val_acc", "lr"}
    assert stop.mode == "max" and stop.best == max(hist.history["val_acc"])
    model.compile(loss="cross_entropy", metrics=["accuracy", "acc"])  # one accuracy, once
    assert set(model.fit(X, y, verbose=0).history) == {"loss", "accuracy", "lr"}


def test_a_refused_compile_changes_nothing():
    X, y = _classification()
    model = _classifier()
    model.fit(X, y, epochs=1, verbose=0)
    before = (model.loss, model.optimizer, model.metrics, model._net)
    with pytest.raises(ValueError, match="sigmoid"):
        model.compile("binary_cross_entropy", optimizer=fm.optim.SGD(lr=5))
    with pytest.raises(ValueError, match="unknown metric"):
        model.compile("mse", optimizer="sgd", metrics=["auc"])
    assert (model.loss, model.optimizer, model.metrics, model._net) == before


def test_compile_errors():
    model = fm.Sequential([fm.Dense(4, activation="relu"), fm.Dense(3)], input_dim=5)
    with pytest.raises(ValueError, match="softmax"):
        model.compile(loss="cross_entropy")
    with pytest.raises(ValueError, match="softmax"):
        model.compile(loss="kl_divergence")
    with pytest.raises(ValueError, match="sigmoid"):
        model.compile(loss="binary_cross_entropy")
    with pytest.raises(ValueError) as info:
        model.compile(loss="crossentropyy")
    assert "crossentropyy" in str(info.value)
    for name in ("mse", "mae", "huber", "cross_entropy", "binary_cross_entropy",
                 "kl_divergence", "hinge"):
        assert name in str(info.value)
    with pytest.raises(ValueError) as info:
        model.compile(loss="mse", optimizer="adamm")
    for name in ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"):
        assert name in str(info.value)
    with pytest.raises(ValueError, match="accuracy"):
        model.compile(loss="mse", metrics=["accuracy"])  # no accuracy for a linear mse net
    with pytest.raises(ValueError, match="metric"):
        model.compile(loss="mse", metrics=["f1"])
    softmax_mse = fm.Sequential([fm.Dense(3, activation="softmax")], input_dim=5)
    softmax_mse.compile(loss="mse")  # allowed: softmax + mse
    with pytest.raises(ValueError, match="Dropout"):
        fm.Sequential([fm.Dense(3), fm.Dropout(0.1)], input_dim=5).compile(loss="mse")


def test_unknown_activation_lists_the_valid_ones():
    with pytest.raises(ValueError) as info:
        fm.Dense(3, activation="rellu")
    for name in ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu",
                 "silu", "softmax"):
        assert name in str(info.value)
    with pytest.raises(TypeError):
        fm.Dense(3, activation=3)


def test_layer_argument_errors():
    with pytest.raises(ValueError):
        fm.Dense(0)
    with pytest.raises(TypeError):
        fm.Dense(2.5)
    with pytest.raises(ValueError):
        fm.Dropout(1.0)
    with pytest.raises(ValueError):
        fm.Dropout(-0.1)
    with pytest.raises(ValueError):
        fm.Dense(3, l2=-1)
    with pytest.raises(ValueError):
        fm.Maxout(3, pieces=0)
    with pytest.raises(ValueError):
        fm.Sequential([fm.Dense(2)], dtype="float16")
    with pytest.raises(TypeError):
        fm.Sequential([np.zeros(3)])


def test_fit_and_evaluate_need_compile():
    model = fm.Sequential([fm.Dense(2)], input_dim=3)
    X = np.zeros((4, 3))
    with pytest.raises(ValueError, match="compile"):
        model.fit(X, np.zeros((4, 2)), verbose=0)
    with pytest.raises(ValueError, match="compile"):
        model.evaluate(X, np.zeros((4, 2)))
    assert model.predict(X).shape == (4, 2)  # predict needs no compile
    with pytest.raises(ValueError, match="not built"):
        fm.Sequential([fm.Dense(2)]).predict(X)


@pytest.mark.filterwarnings("error")  # NumPy's cast warning must not leak out
def test_input_errors():
    X, y = _classification()
    model = _classifier()
    with pytest.raises(ValueError, match="features"):
        model.fit(X[:, :4], y, verbose=0)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :4])
    with pytest.raises(ValueError, match="2-D"):
        model.fit(X[:, 0], y, verbose=0)
    with pytest.raises(ValueError, match="2-D"):
        model.predict(X[0])
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.fit(bad, y, verbose=0)
    with pytest.raises(ValueError, match="NaN"):
        model.predict(bad)
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        model.evaluate(bad, y)
    with pytest.raises(ValueError, match="X holds values beyond the range of float32"):
        model.predict(np.full((2, 5), 1e39))  # finite in float64, inf in float32
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        model.fit(X, np.where(y == 0, 3, y), verbose=0)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        model.fit(X, np.where(y == 0, -1, y), verbose=0)
    with pytest.raises(TypeError, match="integers"):
        model.fit(X, y + 0.5, verbose=0)
    with pytest.raises(ValueError, match="rows"):
        model.fit(X, y[:-1], verbose=0)
    with pytest.raises(ValueError, match="rows"):
        model.evaluate(X[:-1], y)
    with pytest.raises(ValueError, match=">= 0"):
        model.fit(X, y, sample_weight=-np.ones(len(X)), verbose=0)
    with pytest.raises(ValueError, match="shape"):
        model.fit(X, y, sample_weight=np.ones(len(X) - 1), verbose=0)
    with pytest.raises(ValueError, match="NaN"):
        model.fit(X, y, sample_weight=np.full(len(X), np.nan), verbose=0)
    with pytest.raises(ValueError, match="no rows"):
        model.predict(np.zeros((0, 5)))
    with pytest.raises(TypeError):
        model.predict(np.array([["a"] * 5]))
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(X, y, validation_split=1.0, verbose=0)
    with pytest.raises((TypeError, ValueError)):
        model.fit(X, y, batch_size=0, verbose=0)


def test_target_errors_per_loss():
    X = np.random.default_rng(0).standard_normal((6, 2))
    bce = fm.Sequential([fm.Dense(2, activation="sigmoid")], input_dim=2)
    bce.compile(loss="binary_cross_entropy")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        bce.fit(X, np.full((6, 2), 2.0), verbose=0)
    with pytest.raises(ValueError, match="shape"):
        bce.fit(X, np.zeros((6, 3)), verbose=0)
    hinge = fm.Sequential([fm.Dense(1)], input_dim=2)
    hinge.compile(loss="hinge")
    with pytest.raises(ValueError, match="hinge"):
        hinge.fit(X, np.array([0, 1, 2, 0, 1, 2]), verbose=0)
    reg = fm.Sequential([fm.Dense(1)], input_dim=2)
    reg.compile(loss="mse")
    with pytest.raises(ValueError, match="NaN"):
        reg.fit(X, np.array([0, 1, np.nan, 0, 1, 2]), verbose=0)
    softmax = fm.Sequential([fm.Dense(3, activation="softmax")], input_dim=2)
    softmax.compile(loss="cross_entropy")
    with pytest.raises(ValueError, match=">= 0"):
        softmax.fit(X, -np.ones((6, 3)), verbose=0)


# ---- pickling ------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_pickle_and_deepcopy_of_a_fitted_model(how):
    X, y = _classification()
    model = _classifier(seed=4)
    model.fit(X, y, epochs=2, verbose=0)
    clone = pickle.loads(pickle.dumps(model)) if how == "pickle" else copy.deepcopy(model)
    assert np.array_equal(clone.predict(X), model.predict(X))
    assert clone.evaluate(X, y) == model.evaluate(X, y)
    assert clone.seed == model.seed and clone.dtype == model.dtype
    # independent arrays
    clone.set_weights([np.zeros_like(w) for w in clone.get_weights()])
    assert not np.array_equal(clone.predict(X), model.predict(X))


def test_training_continues_identically_after_pickling():
    """The optimizer state and step count travel with the model."""
    X, y = _classification()
    model = _classifier(seed=4)
    model.fit(X, y, epochs=2, verbose=0)
    clone = pickle.loads(pickle.dumps(model))
    model.fit(X, y, epochs=2, verbose=0)
    clone.fit(X, y, epochs=2, verbose=0)
    assert _same(clone.get_weights(), model.get_weights())


def test_unfitted_and_unbuilt_models_pickle():
    X = np.linspace(-1, 1, 8).reshape(2, 4)
    built = fm.Sequential([fm.Dense(3, activation="tanh"), fm.Dense(1)], input_dim=4, seed=1)
    assert np.array_equal(pickle.loads(pickle.dumps(built)).predict(X), built.predict(X))
    unbuilt = fm.Sequential([fm.Dense(3, activation="tanh"), fm.Dense(1)], seed=1)
    unbuilt.compile(loss="mse", optimizer=fm.optim.SGD(lr=0.1))
    clone = pickle.loads(pickle.dumps(unbuilt))
    for model in (unbuilt, clone):
        model.fit(X, np.ones(2), epochs=2, verbose=0)
    assert _same(clone.get_weights(), unbuilt.get_weights())


def test_acc_alias_and_zero_epochs():
    X, y = _classification()
    model = _classifier()
    model.compile(loss="cross_entropy", metrics=["acc"])
    start = model.get_weights()
    hist = model.fit(X, y, epochs=0, verbose=0)
    assert hist.epoch == [] and hist.history == {}
    assert _same(model.get_weights(), start)
    # logged as spelled, as Keras does: monitor="val_acc" then finds it
    assert set(model.fit(X, y, epochs=1, verbose=0).history) == {"loss", "acc", "lr"}


def test_changing_optimizer_state_layout_after_training_asks_to_compile_again():
    # amsgrad adds a state array: the C update must never read one not made.
    X = np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32)
    y = np.zeros(32, np.float32)
    m = fm.Sequential([fm.Dense(3, activation="relu"), fm.Dense(1)], input_dim=4, seed=0)
    m.compile("mse", fm.optim.Adam())
    m.fit(X, y, epochs=1, batch_size=8, verbose=0)
    m.optimizer.amsgrad = True
    with pytest.raises(ValueError, match="compile again"):
        m.fit(X, y, epochs=1, batch_size=8, verbose=0)
    m.compile("mse", m.optimizer)
    m.fit(X, y, epochs=1, batch_size=8, verbose=0)
    assert all(np.isfinite(w).all() for w in m.get_weights())


def test_add_to_a_compiled_model_is_refused():
    """compile checked the output layer against the loss: a linear layer
    added after a softmax would train cross-entropy on a linear output."""
    model = fm.Sequential([fm.Dense(3, "softmax")])
    model.compile("cross_entropy", "sgd")
    with pytest.raises(ValueError, match=r"the model is compiled: add layers before compile\(\)"):
        model.add(fm.Dense(2))
    assert len(model.layers) == 1


def test_validation_data_errors_name_it():
    X, y = _classification()
    model = _classifier()
    with pytest.raises(ValueError, match=r"validation y: y has shape \(5, 2\)"):
        model.fit(X, y, verbose=0, validation_data=(X[:5], np.ones((5, 2))))
    with pytest.raises(ValueError, match=r"validation sample_weight must have shape \(5,\)"):
        model.fit(X, y, verbose=0, validation_data=(X[:5], y[:5], np.ones(4)))
    with pytest.raises(ValueError, match="validation sample_weight must be >= 0"):
        model.fit(X, y, verbose=0, validation_data=(X[:5], y[:5], -np.ones(5)))


def test_add_to_a_built_model_says_what_built_it():
    model = fm.Sequential([fm.Dense(2)], input_dim=3)
    with pytest.raises(ValueError, match=r"the model is built \(for input_dim=3\): add layers "
                                         "before it is built"):
        model.add(fm.Dense(1))


def test_a_loss_that_overflows_names_the_inputs_and_the_targets():
    """Targets of 1e30 are finite float32, their square error is not."""
    model = fm.Sequential([fm.Dense(1)], input_dim=2, seed=0)
    model.compile("mse", "sgd")
    with pytest.raises(FloatingPointError, match="the loss is inf: it overflows float32 on "
                                                 "these inputs or targets"):
        model.evaluate(np.ones((2, 2)), np.full(2, 1e30))
