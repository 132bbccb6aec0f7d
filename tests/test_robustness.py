"""Robustness at the public boundary.

Every public entry point checks its arguments and raises ValueError or
TypeError naming the problem, and never crashes the interpreter; inputs that
are valid but unusual (read-only, memory-mapped, strided, Fortran-ordered,
float64, integer, big-endian, unaligned, lists) work and give bitwise the
result of the C-contiguous float32 equivalent.

A bad input that slipped past the checks could crash the process inside the C
kernels, so the cases run in a worker subprocess (this file, run as a script:
`python tests/test_robustness.py --worker TMPDIR CASE...`), which prints one
JSON line per case. When the worker dies, the case it was running is recorded
as a crash and a new worker runs the rest. One worker runs every case, so the
file takes a few seconds.
"""
import copy
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import fastmlp as fm

ROWS, FEATURES, CLASSES = 48, 5, 3
_RESULT = "RESULT "  # prefix of the worker's result lines


# ---- data and models the cases share -----------------------------------------

def _data():
    """Integer-valued features (exact in float32, float64 and int64), labels,
    positive sample weights."""
    rng = np.random.default_rng(0)
    X = rng.integers(-4, 5, (ROWS, FEATURES)).astype(np.float32)
    y = rng.integers(0, CLASSES, ROWS)
    w = rng.integers(1, 4, ROWS).astype(np.float32)
    return X, y, w


X, Y, W = _data()


def _with(array, index, value):
    out = np.array(array, dtype=np.float64)
    out[index] = value
    return out


def _classifier(dtype="float32", seed=0):
    model = fm.Sequential([fm.Dense(8, activation="relu"), fm.Dropout(0.25),
                           fm.Dense(CLASSES, activation="softmax")],
                          input_dim=FEATURES, dtype=dtype, seed=seed)
    model.compile(loss="cross_entropy", optimizer=fm.optim.Adam(lr=0.01), metrics=["accuracy"])
    return model


def _regressor():
    model = fm.Sequential([fm.Dense(4, activation="tanh"), fm.Dense(2)],
                          input_dim=FEATURES, seed=0)
    model.compile(loss="mse", optimizer="sgd")
    return model


def _call(method, x=X, y=Y, **kwargs):
    """classifier.fit / .evaluate (x, y, ...) or .predict(x, ...)."""
    model = _classifier()
    if method == "predict":
        return model.predict(x, **kwargs)
    if method == "fit":
        kwargs.setdefault("verbose", 0)
    return getattr(model, method)(x, y, **kwargs)


# ---- bad arguments: (id, call, exception types, regex its message must match) --

ERROR_CASES = [
    # Layers and Sequential
    ("dense_units_zero", lambda: fm.Dense(0), ValueError, r"units"),
    ("dense_units_negative", lambda: fm.Dense(-3), ValueError, r"units"),
    ("dense_units_float", lambda: fm.Dense(2.5), TypeError, r"units"),
    ("dense_units_bool", lambda: fm.Dense(True), TypeError, r"units"),
    ("dense_units_str", lambda: fm.Dense("8"), TypeError, r"units"),
    ("maxout_pieces_zero", lambda: fm.Maxout(4, pieces=0), ValueError, r"pieces"),
    ("dropout_rate_one", lambda: fm.Dropout(1.0), ValueError, r"rate"),
    ("dropout_rate_negative", lambda: fm.Dropout(-0.1), ValueError, r"rate"),
    ("dropout_rate_nan", lambda: fm.Dropout(float("nan")), ValueError, r"rate"),
    ("dropout_rate_str", lambda: fm.Dropout("0.5"), TypeError, r"rate"),
    ("dense_l1_negative", lambda: fm.Dense(4, l1=-0.1), ValueError, r"l1"),
    ("dense_l2_inf", lambda: fm.Dense(4, l2=float("inf")), ValueError, r"l2"),
    ("dense_max_norm_zero", lambda: fm.Dense(4, max_norm=0), ValueError, r"max_norm"),
    ("unknown_activation", lambda: fm.Dense(4, activation="relux"), ValueError,
     r"relux.*relu.*sigmoid|relux.*sigmoid.*relu"),
    ("activation_not_a_name", lambda: fm.Dense(4, activation=3), TypeError, r"activation"),
    ("unknown_initializer", lambda: fm.Dense(4, kernel_initializer="glorot"), ValueError,
     r"glorot.*glorot_uniform"),
    ("initializer_not_a_name", lambda: fm.Dense(4, bias_initializer=0), TypeError,
     r"initiali[sz]er"),
    ("leaky_relu_slope_nan", lambda: fm.activations.LeakyReLU(float("nan")), ValueError,
     r"alpha"),
    ("leaky_relu_slope_inf_by_torch_name",
     lambda: fm.activations.LeakyReLU(negative_slope=float("inf")), ValueError,
     r"negative_slope"),
    ("leaky_relu_slope_twice", lambda: fm.activations.LeakyReLU(0.1, negative_slope=0.2),
     TypeError, r"alpha or negative_slope"),
    ("elu_alpha_inf", lambda: fm.activations.ELU(float("inf")), ValueError, r"alpha"),
    ("dtype_float16", lambda: fm.Sequential([fm.Dense(1)], dtype="float16"), ValueError,
     r"float32 or float64"),
    ("dtype_int", lambda: fm.Sequential([fm.Dense(1)], dtype=np.int32), ValueError,
     r"float32 or float64"),
    ("dtype_not_a_dtype", lambda: fm.Sequential([fm.Dense(1)], dtype="banana"),
     (TypeError, ValueError), r"dtype"),
    ("seed_negative", lambda: fm.Sequential([fm.Dense(1)], seed=-1), ValueError, r"seed"),
    ("seed_float", lambda: fm.Sequential([fm.Dense(1)], seed=1.5), TypeError, r"seed"),
    # the C network keeps the seed in 64 bits
    ("seed_beyond_64_bits", lambda: _classifier(seed=2 ** 64).fit(X, Y, verbose=0), ValueError,
     r"seed"),
    ("input_dim_zero", lambda: fm.Sequential([fm.Dense(1)], input_dim=0), ValueError,
     r"input_dim"),
    ("layer_not_a_layer", lambda: fm.Sequential(["dense"]), TypeError, r"layers"),
    ("no_layers", lambda: fm.Sequential([], input_dim=3), ValueError, r"no layers"),
    # compile
    ("unknown_loss", lambda: _classifier().compile(loss="cross_entropyy"), ValueError,
     r"cross_entropyy.*mse"),
    ("loss_not_a_name", lambda: _classifier().compile(loss=None), TypeError, r"loss"),
    ("unknown_optimizer", lambda: _classifier().compile("cross_entropy", optimizer="adamm"),
     ValueError, r"adamm.*sgd"),
    ("optimizer_not_a_name", lambda: _classifier().compile("cross_entropy", optimizer=1e-3),
     TypeError, r"optimizer"),
    ("unknown_metric", lambda: _classifier().compile("cross_entropy", metrics=["auc"]),
     ValueError, r"auc"),
    ("cross_entropy_needs_softmax", lambda: _regressor().compile(loss="cross_entropy"),
     ValueError, r"softmax"),
    ("bce_needs_sigmoid", lambda: _classifier().compile(loss="binary_cross_entropy"),
     ValueError, r"sigmoid"),
    ("dropout_last", lambda: fm.Sequential([fm.Dense(2), fm.Dropout(0.5)]).compile("mse"),
     ValueError, r"Dropout"),
    ("huber_delta_zero", lambda: fm.losses.Huber(0), ValueError, r"delta"),
    ("huber_delta_nan", lambda: fm.losses.Huber(float("nan")), ValueError, r"delta"),
    # fit / predict / evaluate hyper-parameters
    ("fit_batch_size_zero", lambda: _call("fit", batch_size=0), ValueError, r"batch_size"),
    ("fit_batch_size_float", lambda: _call("fit", batch_size=8.0), TypeError, r"batch_size"),
    ("fit_batch_size_none", lambda: _call("fit", batch_size=None), TypeError, r"batch_size"),
    ("predict_batch_size_zero", lambda: _call("predict", batch_size=0), ValueError,
     r"batch_size"),
    ("predict_batch_size_str", lambda: _call("predict", batch_size="64"), TypeError,
     r"batch_size"),
    ("evaluate_batch_size_negative", lambda: _call("evaluate", batch_size=-5), ValueError,
     r"batch_size"),
    ("fit_epochs_negative", lambda: _call("fit", epochs=-1), ValueError, r"epochs"),
    ("fit_epochs_float", lambda: _call("fit", epochs=2.5), TypeError, r"epochs"),
    ("fit_initial_epoch_negative", lambda: _call("fit", initial_epoch=-1), ValueError,
     r"initial_epoch"),
    ("validation_split_one", lambda: _call("fit", validation_split=1.0), ValueError,
     r"validation_split"),
    ("validation_split_negative", lambda: _call("fit", validation_split=-0.1), ValueError,
     r"validation_split"),
    ("validation_split_nan", lambda: _call("fit", validation_split=float("nan")), ValueError,
     r"validation_split"),
    ("validation_split_str", lambda: _call("fit", validation_split="0.1"), ValueError,
     r"validation_split"),
    ("validation_data_single", lambda: _call("fit", validation_data=X), ValueError,
     r"validation_data"),
    ("validation_data_features", lambda: _call("fit", validation_data=(X[:, :3], Y)),
     ValueError, r"3 features"),
    ("validation_data_nan", lambda: _call("fit", validation_data=(_with(X, (0, 0), np.nan), Y)),
     ValueError, r"NaN"),
    # optimizers (and other hyper-parameters)
    ("sgd_lr_negative", lambda: fm.optim.SGD(lr=-0.1), ValueError, r"lr"),
    ("sgd_lr_nan", lambda: fm.optim.SGD(lr=float("nan")), ValueError, r"lr"),
    ("adam_lr_inf", lambda: fm.optim.Adam(lr=float("inf")), ValueError, r"lr"),
    ("adam_lr_str", lambda: fm.optim.Adam(lr="0.1"), TypeError, r"lr"),
    ("adam_lr_huge_int", lambda: fm.optim.Adam(lr=10 ** 400), ValueError, r"lr"),
    ("adam_beta1_one", lambda: fm.optim.Adam(betas=(1.0, 0.999)), ValueError, r"betas"),
    ("adam_betas_one_value", lambda: fm.optim.Adam(betas=(0.9,)), ValueError, r"betas"),
    ("adam_eps_negative", lambda: fm.optim.Adam(eps=-1e-8), ValueError, r"eps"),
    ("adamw_weight_decay_nan", lambda: fm.optim.AdamW(weight_decay=float("nan")), ValueError,
     r"weight_decay"),
    ("sgd_momentum_negative", lambda: fm.optim.SGD(momentum=-0.9), ValueError, r"momentum"),
    ("sgd_nesterov_without_momentum", lambda: fm.optim.SGD(nesterov=True), ValueError,
     r"nesterov"),
    ("rmsprop_alpha_above_one", lambda: fm.optim.RMSprop(alpha=1.5), ValueError, r"alpha"),
    ("adadelta_rho_inf", lambda: fm.optim.Adadelta(rho=float("inf")), ValueError, r"rho"),
    ("adagrad_lr_decay_negative", lambda: fm.optim.Adagrad(lr_decay=-1), ValueError,
     r"lr_decay"),
    ("lr_set_to_nan_later", lambda: setattr(fm.optim.Adam(), "lr", float("nan")), ValueError,
     r"lr"),
    ("early_stopping_patience_negative", lambda: fm.callbacks.EarlyStopping(patience=-1),
     ValueError, r"patience"),
    ("reduce_lr_factor_nan", lambda: fm.callbacks.ReduceLROnPlateau(factor=float("nan")),
     ValueError, r"factor"),
    ("inverse_time_decay_negative", lambda: fm.schedules.InverseTimeDecay(-1.0), ValueError,
     r"decay_rate"),
    # set_weights
    ("set_weights_count", lambda: _classifier().set_weights(_classifier().get_weights()[:2]),
     ValueError, r"expected 4 arrays, got 2"),
    ("set_weights_shape", lambda: _classifier().set_weights(
        [w.T for w in _classifier().get_weights()]), ValueError, r"weights\[0\].*shape"),
    ("set_weights_nan", lambda: _classifier().set_weights(
        [_with(w, 0, np.nan) for w in _classifier().get_weights()]), ValueError, r"NaN"),
    ("set_weights_strings", lambda: _classifier().set_weights(
        [w.astype(str) for w in _classifier().get_weights()]), TypeError, r"numeric"),
    ("set_weights_unbuilt", lambda: fm.Sequential([fm.Dense(2)]).set_weights([]), ValueError,
     r"not built"),
    # y, sample weights (fit and evaluate)
    ("fit_label_too_large", lambda: _call("fit", y=np.where(Y == 0, CLASSES, Y)), ValueError,
     r"\[0, 3\)"),
    ("evaluate_label_negative", lambda: _call("evaluate", y=np.where(Y == 0, -1, Y)),
     ValueError, r"\[0, 3\)"),
    ("fit_label_fraction", lambda: _call("fit", y=Y + 0.5), TypeError, r"integer"),
    ("fit_y_nan_label", lambda: _call("fit", y=_with(Y, 3, np.nan)), (TypeError, ValueError),
     r"integer|NaN"),
    ("fit_y_nan_regression", lambda: _regressor().fit(X, _with(np.ones((ROWS, 2)), (3, 1),
                                                             np.nan), verbose=0),
     ValueError, r"y contains NaN"),
    ("evaluate_y_inf_regression", lambda: _regressor().evaluate(
        X, _with(np.ones((ROWS, 2)), (0, 0), np.inf)), ValueError, r"y contains NaN"),
    ("fit_y_beyond_float32", lambda: _regressor().fit(
        X, _with(np.ones((ROWS, 2)), (0, 0), 1e39), verbose=0), ValueError,
     r"y holds values beyond the range of float32"),
    ("fit_y_length", lambda: _call("fit", y=Y[:-1]), ValueError, r"47 rows but X has 48"),
    ("evaluate_y_length", lambda: _call("evaluate", y=np.append(Y, 0)), ValueError,
     r"49 rows but X has 48"),
    ("fit_y_strings", lambda: _call("fit", y=Y.astype(str)), TypeError, r"integers|numeric"),
    ("fit_y_complex_regression", lambda: _regressor().fit(X, np.ones((ROWS, 2), complex),
                                                          verbose=0), TypeError, r"numeric"),
    ("fit_y_one_hot_width", lambda: _call("fit", y=np.eye(CLASSES + 1)[Y]), ValueError,
     r"\(48, 3\)"),
    ("fit_y_3d", lambda: _call("fit", y=np.eye(CLASSES)[Y][:, :, None]), ValueError, r"shape"),
    ("fit_sample_weight_negative", lambda: _call("fit", sample_weight=-W), ValueError,
     r"sample_weight"),
    ("fit_sample_weight_nan", lambda: _call("fit", sample_weight=_with(W, 1, np.nan)),
     ValueError, r"sample_weight"),
    ("evaluate_sample_weight_inf", lambda: _call("evaluate", sample_weight=_with(W, 1, np.inf)),
     ValueError, r"sample_weight"),
    ("fit_sample_weight_length", lambda: _call("fit", sample_weight=W[:10]), ValueError,
     r"sample_weight"),
    ("fit_sample_weight_2d", lambda: _call("fit", sample_weight=W[:, None]), ValueError,
     r"sample_weight"),
    ("fit_sample_weight_strings", lambda: _call("fit", sample_weight=W.astype(str)), TypeError,
     r"sample_weight"),
]

# X for each of fit, predict and evaluate
for _method in ("fit", "predict", "evaluate"):
    ERROR_CASES += [
        (f"{_method}_X_nan", lambda m=_method: _call(m, x=_with(X, (2, 1), np.nan)), ValueError,
         r"X contains NaN"),
        (f"{_method}_X_inf", lambda m=_method: _call(m, x=_with(X, (0, 4), -np.inf)), ValueError,
         r"X contains NaN or infinity"),
        (f"{_method}_X_beyond_float32", lambda m=_method: _call(m, x=_with(X, (0, 0), 1e39)),
         ValueError, r"X holds values beyond the range of float32"),
        (f"{_method}_X_features", lambda m=_method: _call(m, x=X[:, :4]), ValueError,
         r"4 features; the model takes 5"),
        (f"{_method}_X_1d", lambda m=_method: _call(m, x=X[0], y=Y[:1]), ValueError,
         r"2-D \(samples, features\), got shape \(\d+,\); for one sample, reshape it: "
         r"X.reshape\(1, -1\)"),
        (f"{_method}_X_3d", lambda m=_method: _call(m, x=X[:, :, None]), ValueError, r"2-D"),
        (f"{_method}_X_scalar", lambda m=_method: _call(m, x=1.0, y=Y[:1]), ValueError, r"2-D"),
        (f"{_method}_X_no_rows", lambda m=_method: _call(m, x=X[:0], y=Y[:0]), ValueError,
         r"no rows"),
        (f"{_method}_X_strings", lambda m=_method: _call(m, x=X.astype(str)), TypeError,
         r"X must hold numbers"),
        (f"{_method}_X_complex", lambda m=_method: _call(m, x=X.astype(complex)), TypeError,
         r"X must hold numbers"),
        (f"{_method}_X_objects", lambda m=_method: _call(m, x=X.astype(object)), TypeError,
         r"X must hold numbers"),
        (f"{_method}_X_none", lambda m=_method: _call(m, x=None), TypeError, r"X must hold"),
        (f"{_method}_X_ragged", lambda m=_method: _call(m, x=[[1.0] * FEATURES, [1.0]]),
         (TypeError, ValueError), r"shape|sequence"),
    ]


# ---- misuse around fit: each once crashed or silently did the wrong thing -----


class _OnEpochEnd(fm.callbacks.Callback):
    """Calls action(model) at the end of the first epoch."""

    def __init__(self, action):
        self.action = action

    def on_epoch_end(self, epoch, logs=None):
        self.action(self.model)


def _fit_with(action, optimizer, epochs=2):
    model = _classifier()
    model.compile("cross_entropy", optimizer=optimizer)
    model.fit(X, Y, epochs=epochs, verbose=0, callbacks=[_OnEpochEnd(action)])


def _fit_in_two_threads():
    """A second fit of the model while the first waits in a callback."""
    import threading

    model, started, go, errors = _classifier(), threading.Event(), threading.Event(), []

    def first():
        try:
            model.fit(X, Y, epochs=1, verbose=0,
                      callbacks=[_OnEpochEnd(lambda m: (started.set(), go.wait(60)))])
        except Exception as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert started.wait(60)
        model.fit(X, Y, verbose=0)
    finally:
        go.set()
        thread.join()
        assert not errors, errors


def _shared_layer():
    hidden = fm.Dense(4, activation="relu")
    first = fm.Sequential([hidden, fm.Dense(1)], input_dim=FEATURES)
    # building this one would replace the weights `first` computes with
    fm.Sequential([hidden, fm.Dense(1)])
    return first.count_params()


def _same_layer_twice():
    hidden = fm.Dense(FEATURES)
    fm.Sequential([hidden, hidden])


ERROR_CASES += [
    # The C update would read state arrays that were never made (was a crash).
    ("momentum_turned_on_in_a_callback",
     lambda: _fit_with(lambda m: setattr(m.optimizer, "momentum", 0.9), fm.optim.SGD()),
     ValueError, r"optimizer needs other state.*compile again"),
    ("amsgrad_turned_on_in_a_callback",
     lambda: _fit_with(lambda m: setattr(m.optimizer, "amsgrad", True), "adam"),
     ValueError, r"optimizer needs other state"),
    # same number of arrays, other meanings: [square_avg, grad_avg] -> [.., momentum_buffer]
    ("rmsprop_centered_to_momentum_in_a_callback",
     lambda: _fit_with(lambda m: setattr(m, "optimizer", fm.optim.RMSprop(momentum=0.5)),
                       fm.optim.RMSprop(centered=True)),
     ValueError, r"optimizer needs other state"),
    ("compile_in_a_callback", lambda: _fit_with(lambda m: m.compile("cross_entropy"), "sgd"),
     RuntimeError, r"compile\(\) while fit\(\) runs"),
    ("build_in_a_callback", lambda: _fit_with(lambda m: m.build(FEATURES), "sgd"),
     RuntimeError, r"build\(\) while fit\(\) runs"),
    ("fit_in_a_callback", lambda: _fit_with(lambda m: m.fit(X, Y, verbose=0), "sgd"),
     RuntimeError, r"already running"),
    ("fit_in_two_threads", _fit_in_two_threads, RuntimeError, r"already running"),
    ("layer_in_two_models", _shared_layer, ValueError, r"belongs to another model"),
    ("layer_twice_in_a_model", _same_layer_twice, ValueError, r"in the model already"),
    ("build_zero_inputs", lambda: fm.Sequential([fm.Dense(1)]).build(0), ValueError,
     r"input_dim"),
    ("build_float_inputs", lambda: fm.Sequential([fm.Dense(1)]).build(5.5), TypeError,
     r"input_dim"),
    ("softmax_over_one_output", lambda: fm.Sequential(
        [fm.Dense(1, activation="softmax")], input_dim=FEATURES).compile("cross_entropy"),
     ValueError, r"softmax over one output"),
    ("output_dim_without_layers", lambda: fm.Sequential().output_dim, ValueError,
     r"no layers"),
    ("dtype_set_after_construction", lambda: setattr(_classifier(), "dtype", "float64"),
     AttributeError, r"dtype is fixed when the model is made"),
    ("leaky_relu_slope_beyond_float32", lambda: fm.Sequential(
        [fm.Dense(2, activation=fm.activations.LeakyReLU(1e39))], input_dim=FEATURES),
     ValueError, r"LeakyReLU.*beyond the range of float32"),
    ("fit_y_none", lambda: _call("fit", y=None), TypeError, r"y must hold one target"),
    ("evaluate_y_scalar", lambda: _call("evaluate", y=1), TypeError, r"y must hold one target"),
    ("fit_callbacks_one_callback", lambda: _call("fit", callbacks=fm.callbacks.History()),
     TypeError, r"got a single History; wrap it in a list"),
    ("fit_callbacks_a_number", lambda: _call("fit", callbacks=5), TypeError,
     r"callbacks must be a list of Callback objects, got int"),
    ("fit_shuffle_not_a_bool", lambda: _call("fit", shuffle="batch"), TypeError, r"shuffle"),
    # Keras's split: floor(1 * 0.5) = 0 rows train, as Keras refuses
    ("fit_one_row_with_split", lambda: _call("fit", x=X[:1], y=Y[:1], validation_split=0.5),
     ValueError, r"no training rows left"),
    ("fit_split_too_small_to_hold_out_a_row", lambda: _call(
        "fit", validation_split=1e-17), ValueError, r"holds out no row"),
    ("fit_verbose_unknown", lambda: _call("fit", verbose=3), ValueError, r"verbose must be"),
    ("predict_verbose_str", lambda: _call("predict", verbose="silent"), ValueError,
     r"verbose must be"),
    ("fit_split_and_validation_data", lambda: _call(
        "fit", validation_split=0.2, validation_data=(X, Y)), ValueError, r"not both"),
    ("fit_split_invalid_beside_validation_data", lambda: _call(
        "fit", validation_split=7, validation_data=(X, Y)), ValueError, r"validation_split"),
    ("fit_initial_epoch_beyond_c_long", lambda: _call("fit", epochs=2 ** 63 + 1,
                                                      initial_epoch=2 ** 63),
     ValueError, r"epochs must be < 2\*\*31"),
    # finite inputs that overflow inside the network: an error, not NaN
    ("predict_overflowing_inputs", lambda: _call("predict", x=np.full((3, FEATURES), 3e38)),
     FloatingPointError, r"outputs of 3 of 3 rows .* not finite.*float32"),
    ("evaluate_overflowing_inputs", lambda: _call("evaluate", x=np.full((ROWS, FEATURES), 3e38)),
     FloatingPointError, r"loss is nan"),
]

# ---- valid corner cases: each must simply work ------------------------------------

def _first_layer_dropout():
    model = fm.Sequential([fm.Dropout(0.5), fm.Dense(2)], input_dim=FEATURES, seed=0)
    model.compile("mse")
    model.fit(X, np.ones((ROWS, 2)), verbose=0)
    return model.predict(X)


def _copy_of_a_layer_in_use():
    model = _classifier()
    fm.Sequential([copy.deepcopy(model.layers[0])], input_dim=3)
    return model.count_params()


def _same_weights(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


def _fit_alike(kwargs, same_as):
    """A fit with `kwargs` trains exactly as one with `same_as` instead
    (an AssertionError in the worker fails the case)."""
    models = [_classifier(), _classifier()]
    for model, args in zip(models, (kwargs, same_as)):
        model.fit(X, **{"y": Y, "verbose": 0, **args})
    assert _same_weights(*models), f"fit({kwargs}) differs from fit({same_as})"


def _fit_trains_nothing(**kwargs):
    model, untouched = _classifier(), _classifier()
    model.fit(X, Y, verbose=0, **kwargs)
    assert _same_weights(model, untouched), f"fit({kwargs}) changed the weights"


def _predict_alike(x, same_as, **kwargs):
    # to float32 rounding: a one-row batch sums its products in another order
    np.testing.assert_allclose(_call("predict", x=x, **kwargs), _call("predict", x=same_as),
                               rtol=1e-6, atol=1e-7)


VALID_CASES = [
    ("fit_batch_larger_than_data", lambda: _fit_alike(dict(batch_size=10 ** 6),
                                                      dict(batch_size=ROWS))),
    ("predict_batch_of_one", lambda: _predict_alike(X, X, batch_size=1)),
    ("fit_zero_epochs", lambda: _fit_trains_nothing(epochs=0)),
    ("fit_initial_epoch_past_epochs", lambda: _fit_trains_nothing(epochs=1, initial_epoch=3)),
    # the gradients are 0, and Adam (without weight decay) then moves nothing
    ("fit_zero_sample_weights", lambda: _fit_trains_nothing(sample_weight=np.zeros(ROWS))),
    ("predict_bool_X", lambda: _predict_alike(X > 0, (X > 0).astype(np.float32))),
    ("fit_one_hot_targets", lambda: _fit_alike(dict(y=np.eye(CLASSES)[Y]), {})),
    ("fit_numpy_int_hyper_parameters", lambda: _fit_alike(
        dict(epochs=np.int64(2), batch_size=np.int32(8)), dict(epochs=2, batch_size=8))),
    ("fit_seed_just_below_2_64", lambda: _classifier(seed=2 ** 64 - 1).fit(X, Y, verbose=0)),
    ("first_layer_dropout", _first_layer_dropout),
    # a layer is free again once its model is gone, and a copy is a new layer
    ("layer_of_a_discarded_model", lambda: fm.Sequential(
        [fm.Sequential([fm.Dense(2)], input_dim=FEATURES).layers[0]], input_dim=3)),
    ("copy_of_a_layer_in_use", _copy_of_a_layer_in_use),
]


# ---- boundary cases that once failed the wrong way (regressions) -----------------

def _check_gradients(**kwargs):
    model = _classifier()
    return fm.check_gradients(model, X[:8], Y[:8], **kwargs)


def _fit_unbuilt_without_features():
    model = fm.Sequential([fm.Dense(CLASSES, activation="softmax")], seed=0)
    model.compile("cross_entropy")
    model.fit(np.zeros((ROWS, 0), np.float32), Y, verbose=0)


BOUNDARY_CASES = [
    # A batch size above the row count is valid (one batch), but the binding
    # converts it to Py_ssize_t unclipped.
    ("fit_batch_size_beyond_ssize_t", lambda: _call("fit", batch_size=2 ** 63), None, None,
     "regression (was a bug): fit(batch_size=2**63) raises OverflowError (Py_ssize_t) instead of "
     "training with one batch"),
    ("predict_batch_size_beyond_ssize_t", lambda: _call("predict", batch_size=2 ** 63), None,
     None, "regression (was a bug): predict(batch_size=2**63) raises OverflowError (Py_ssize_t)"),
    ("evaluate_batch_size_beyond_ssize_t", lambda: _call("evaluate", batch_size=2 ** 63), None,
     None, "regression (was a bug): evaluate(batch_size=2**63) raises OverflowError (Py_ssize_t)"),
    ("fit_X_without_features", _fit_unbuilt_without_features, ValueError, r"feature",
     "regression (was a bug): fit on an unbuilt model with X of shape (n, 0) builds input_dim=0 and "
     "trains, while Sequential(input_dim=0) is rejected"),
    ("metrics_as_a_string", lambda: _classifier().compile("cross_entropy", metrics="accuracy"),
     None, None,
     "regression (was a bug): compile(metrics='accuracy') iterates the string and fails with the "
     "misleading \"unknown metric 'a'\""),
    ("check_gradients_eps_zero", lambda: _check_gradients(eps=0.0), ValueError, r"eps",
     "regression (was a bug): check_gradients(eps=0) raises ZeroDivisionError"),
    ("check_gradients_max_checks_zero", lambda: _check_gradients(max_checks=0), ValueError,
     r"max_checks", "regression (was a bug): check_gradients(max_checks=0) checks nothing and "
     "reports a perfect [0.0, ...]"),
    ("check_gradients_max_checks_negative", lambda: _check_gradients(max_checks=-1), ValueError,
     r"max_checks", "regression (was a bug): check_gradients(max_checks=-1) raises numpy's "
     "'negative dimensions are not allowed'"),
    # max(error, nan) keeps error, so a NaN difference reports a perfect match
    ("check_gradients_eps_nan", lambda: _check_gradients(eps=float("nan")), ValueError, r"eps",
     "regression (was a bug): check_gradients(eps=nan) (or inf) returns [0.0, 0.0, 0.0, 0.0], a perfect "
     "match, because max(error, nan) drops NaN"),
    # either answer is right: rejecting None, or reading it as the default
    ("dtype_none", lambda: fm.Sequential([fm.Dense(1)], dtype=None).dtype.name,
     (TypeError, ValueError), r"dtype",
     "regression (was a bug): Sequential(dtype=None) silently builds a float64 model "
     "(np.dtype(None) is float64); None should mean the default float32 or be rejected",
     "float32"),
]


# ---- valid but unusual inputs: each gives the C-contiguous float32 result -------

def _unaligned(a):
    """A C-contiguous copy of a whose data starts one byte off alignment."""
    buf = np.zeros(a.nbytes + a.itemsize, np.uint8)
    out = np.frombuffer(buf.data, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned and out.flags.c_contiguous
    return out


def _read_only(a):
    a = a.copy()
    a.setflags(write=False)
    return a


def _memmap(a, tmp, name):
    path = os.path.join(tmp, name + ".dat")
    m = np.memmap(path, dtype=a.dtype, mode="w+", shape=a.shape)
    m[...] = a
    m.flush()
    del m
    return np.memmap(path, dtype=a.dtype, mode="r", shape=a.shape)


def _strided(a):
    """A view with a row stride of two rows (a[::2] of a bigger array)."""
    big = np.zeros((2 * len(a),) + a.shape[1:], a.dtype)
    big[::2] = a
    return big[::2]


def _reversed_view(a):
    """A view with negative strides."""
    return a[::-1].copy()[::-1]


def _column_slice(a):
    """Rows contiguous, the whole array not: the first columns of a wider array."""
    wide = np.zeros((len(a), a.shape[1] + 3), a.dtype)
    wide[:, :a.shape[1]] = a
    return wide[:, :a.shape[1]]


VARIANTS = {
    "c_contiguous_float32": lambda x, y, w, tmp: (x, y, w),
    "read_only": lambda x, y, w, tmp: (_read_only(x), _read_only(y), _read_only(w)),
    "memmap": lambda x, y, w, tmp: (_memmap(x, tmp, "x"), _memmap(y, tmp, "y"),
                                    _memmap(w, tmp, "w")),
    "strided": lambda x, y, w, tmp: (_strided(x), _strided(y), _strided(w)),
    "negative_strides": lambda x, y, w, tmp: (_reversed_view(x), _reversed_view(y),
                                              _reversed_view(w)),
    "column_slice": lambda x, y, w, tmp: (_column_slice(x), y, w),
    "fortran": lambda x, y, w, tmp: (np.asfortranarray(x), y, w),
    "float64": lambda x, y, w, tmp: (x.astype(np.float64), y.astype(np.float64),
                                     w.astype(np.float64)),
    "int64": lambda x, y, w, tmp: (x.astype(np.int64), y.astype(np.int32), w.astype(np.int64)),
    "int8_uint8": lambda x, y, w, tmp: (x.astype(np.int8), y.astype(np.uint8),
                                        w.astype(np.uint8)),
    "big_endian": lambda x, y, w, tmp: (x.astype(">f4"), y.astype(">i8"), w.astype(">f8")),
    "unaligned": lambda x, y, w, tmp: (_unaligned(x), _unaligned(y), _unaligned(w)),
    "lists": lambda x, y, w, tmp: (x.tolist(), y.tolist(), w.tolist()),
}


def _outcomes(x, y, w):
    """Weights after fit, predictions and evaluation of one fresh model."""
    model = _classifier(seed=3)
    model.fit(x, y, sample_weight=w, epochs=2, batch_size=8, validation_split=0.25, verbose=0)
    return {"weights": model.get_weights(), "predict": [model.predict(x)],
            "evaluate": model.evaluate(x, y, sample_weight=w)}


def _run_variant(name, tmp):
    x, y, w = VARIANTS[name](X, Y, W, tmp)
    before = [np.array(a, copy=True) for a in (x, y, w)]
    got, want = _outcomes(x, y, w), _outcomes(X, Y, W)
    checks = {
        key: (got[key] == want[key]) if key == "evaluate" else
        all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(got[key], want[key]))
        for key in want}
    checks["inputs_unchanged"] = all(np.array_equal(np.asarray(a), b)
                                     for a, b in zip((x, y, w), before))
    return checks


# ---- the worker ---------------------------------------------------------------

def _worker(tmp, ids):
    calls = {case[0]: case[1] for case in ERROR_CASES + BOUNDARY_CASES + VALID_CASES}
    for case_id in ids:
        record = {"id": case_id}
        try:
            if case_id == "__abort__":  # for the test of this harness
                os.abort()
            if case_id in calls:
                value = calls[case_id]()
                record.update(outcome="returned",
                              value=value if isinstance(value, (str, int, float)) else None)
            else:
                record.update(outcome="returned", checks=_run_variant(case_id, tmp))
        except Exception as exc:  # what the test inspects
            record.update(outcome="raised", type=type(exc).__name__, message=str(exc)[:500])
        print(_RESULT + json.dumps(record), flush=True)


def run_cases(ids, tmp, timeout=120):
    """{id: record} for every case id, from worker subprocesses: when one dies
    (a crash in the C code), its current case is recorded as crashed and a
    new worker goes on with the rest."""
    env = dict(os.environ)
    # the worker imports the same fastmlp as this process
    root = os.path.dirname(os.path.dirname(os.path.abspath(fm.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    results, pending = {}, list(ids)
    while pending:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", str(tmp), *pending]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                                  cwd=os.path.dirname(os.path.abspath(__file__)))
            stdout, stderr, code = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as exc:
            stdout, stderr, code = exc.stdout or "", exc.stderr or "", "timeout"
            stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
            stderr = stderr.decode() if isinstance(stderr, bytes) else stderr
        for line in stdout.splitlines():
            if line.startswith(_RESULT):
                record = json.loads(line[len(_RESULT):])
                results[record["id"]] = record
        rest = [i for i in pending if i not in results]
        if rest:
            results[rest[0]] = {"id": rest[0], "outcome": "crashed", "returncode": code,
                                "stderr": stderr[-4000:]}
            rest = rest[1:]
        pending = rest
    return results


# ---- the tests -------------------------------------------------------------------

@pytest.fixture(scope="module")
def results(tmp_path_factory):
    ids = [c[0] for c in ERROR_CASES + BOUNDARY_CASES + VALID_CASES] + list(VARIANTS)
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return run_cases(ids, tmp_path_factory.mktemp("robustness"))


def _not_crashed(record):
    assert record["outcome"] != "crashed", (
        f"the interpreter died (exit {record['returncode']}):\n{record['stderr']}")


def _check_raised(record, types, pattern):
    _not_crashed(record)
    types = types if isinstance(types, tuple) else (types,)
    names = [t.__name__ for t in types]
    assert record["outcome"] == "raised", f"no error; expected {' or '.join(names)}"
    assert record["type"] in names, f"{record['type']}: {record['message']}"
    assert re.search(pattern, record["message"], re.IGNORECASE | re.S), (
        f"the message does not match {pattern!r}: {record['message']}")


def test_a_crashing_case_is_reported_and_the_rest_still_run(tmp_path):
    records = run_cases(["__abort__", "fit_X_nan"], tmp_path)
    assert records["__abort__"]["outcome"] == "crashed"
    assert records["__abort__"]["returncode"] != 0
    assert records["fit_X_nan"]["outcome"] == "raised"


@pytest.mark.parametrize("case", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_bad_argument_is_rejected_with_a_clear_error(results, case):
    case_id, _, types, pattern = case
    _check_raised(results[case_id], types, pattern)


@pytest.mark.parametrize("case", BOUNDARY_CASES, ids=[c[0] for c in BOUNDARY_CASES])
def test_boundary_cases_work_or_fail_clearly(results, case):
    """Each of these should either raise the named error or just work. A case
    with a 6th item also passes when the call returns that value."""
    case_id, _, types, expected = case[:4]
    record = results[case_id]
    _not_crashed(record)
    if len(case) > 5 and record["outcome"] == "returned" and record["value"] == case[5]:
        return
    if types is None:  # valid input: must work (and return `expected`, when given)
        assert record["outcome"] == "returned", f"{record.get('type')}: {record.get('message')}"
        if expected is not None:
            assert record["value"] == expected
    else:
        _check_raised(record, types, expected)


@pytest.mark.parametrize("case", VALID_CASES, ids=[c[0] for c in VALID_CASES])
def test_valid_corner_case_works(results, case):
    record = results[case[0]]
    _not_crashed(record)
    assert record["outcome"] == "returned", f"{record['type']}: {record['message']}"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_unusual_inputs_give_the_c_contiguous_float32_result(results, variant):
    record = results[variant]
    _not_crashed(record)
    assert record["outcome"] == "returned", f"{record['type']}: {record['message']}"
    failed = [name for name, ok in record["checks"].items() if not ok]
    assert not failed, f"differs from the C-contiguous float32 run in: {failed}"


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    _worker(sys.argv[2], sys.argv[3:])
