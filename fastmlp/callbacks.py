"""Keras-style callbacks (``fastmlp.callbacks``) run by ``Sequential.fit``.

``fit`` wraps the callbacks in a :class:`CallbackList` and calls, in order::

    on_train_begin(logs)
    for each epoch: on_epoch_begin(epoch, logs); <train>; on_epoch_end(epoch, logs)
                    (stops after on_epoch_end if model.stop_training is True)
    on_train_end(logs)

Epochs count from 0. At epoch end `logs` maps names to floats, e.g.
``{"loss": .., "accuracy": .., "val_loss": .., "val_accuracy": .., "lr": ..}``.

The model a callback sees (``self.model``) provides ``stop_training`` (bool),
``optimizer.lr`` (float, may be assigned), ``get_weights()`` -> list of arrays,
``set_weights(list_of_arrays)`` and ``save(path)`` (ModelCheckpoint).
"""
import inspect
import numbers
import os
import warnings

import numpy as np

from fastmlp import schedules
from fastmlp.schedules import _finite, _int_at_least, _learning_rate

__all__ = ["Callback", "History", "EarlyStopping", "ReduceLROnPlateau",
           "LearningRateScheduler", "LambdaCallback", "ModelCheckpoint", "CallbackList"]

# mode="auto" reads the monitored name's words (split at "_"): a name with a
# word for a loss or an error is minimised, else one with a word that starts
# like a metric where larger is better ("val_accuracy", "f1_score") is
# maximised, and anything else minimised. Words, not substrings, so that
# "val_layer2_loss" is not taken for an R².
_MINIMISED = ("loss", "error")
_MAXIMISED = ("acc", "auc", "precision", "recall", "f1", "r2")


def _auto_mode(monitor):
    words = monitor.lower().split("_")
    if any(word.startswith(_MINIMISED) for word in words):
        return "min"
    return "max" if any(word.startswith(_MAXIMISED) for word in words) else "min"


# Keras's other hooks, which fit never calls: its batches run in compiled
# code, and evaluate and predict run no callbacks. A callback defining one
# is refused, since its code would silently never run.
_UNCALLED_HOOKS = tuple(f"on_{stage}_{when}" for stage in (
    "batch", "train_batch", "test", "test_batch", "predict", "predict_batch")
    for when in ("begin", "end"))


def _uncalled(owner, hook):
    return NotImplementedError(
        f"{owner} defines {hook}, which fastmlp never calls: fit runs its batches in "
        "compiled code and calls callbacks only at the start and end of training and of "
        "each epoch (on_train_begin, on_epoch_begin, on_epoch_end, on_train_end); "
        "evaluate and predict call none")


class Callback:
    """Base class: every hook does nothing; override the ones you need (Keras's
    batch, test and predict hooks are not called: see _UNCALLED_HOOKS)."""

    model = None

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


class History(Callback):
    """Records the logs of every epoch: ``history[name]`` is the list of that
    value per epoch, ``epoch`` the list of epoch indices. ``fit`` returns it.

    A name missing from some epochs' logs (say validation run every few
    epochs) has a shorter list than ``epoch``.
    """

    def __init__(self):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


class _MonitorCallback(Callback):
    """Shared by the callbacks that watch one value of the epoch logs: the
    direction of improvement, and a single warning when the value is missing.
    Subclasses call ``_reset()`` at the end of ``__init__``."""

    def __init__(self, monitor, mode, min_delta):
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be a str, got {type(monitor).__name__}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.min_delta = _finite("min_delta", min_delta)
        if self.min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")
        self.monitor = monitor
        if mode == "auto":
            mode = _auto_mode(monitor)
        self.mode = mode

    def __repr__(self):
        # Every constructor argument is kept under its own name ("auto" mode
        # shows as the direction it resolved to).
        names = list(inspect.signature(type(self).__init__).parameters)[1:]
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__name__}({args})"

    def _reset(self):
        """The state at the start of training; subclasses extend it."""
        self.wait = 0
        self.best = np.inf if self.mode == "min" else -np.inf
        self._warned = False

    def on_train_begin(self, logs=None):
        self._reset()

    def _improves(self, current, reference):
        """Whether `current` beats `reference` by more than min_delta."""
        if self.mode == "min":
            return current < reference - self.min_delta
        return current > reference + self.min_delta

    def _monitored(self, logs):
        """The monitored value as a float, or None (and a warning, once) if absent."""
        logs = logs or {}
        if self.monitor in logs:
            return float(logs[self.monitor])
        if not self._warned:
            self._warned = True
            warnings.warn(f"{type(self).__name__}: monitored value {self.monitor!r} is not in "
                          f"the logs (available: {', '.join(logs) or 'none'}); doing nothing",
                          RuntimeWarning, stacklevel=3)
        return None


class EarlyStopping(_MonitorCallback):
    """Stops training when the monitored value has stopped improving (Keras 3
    semantics, as in keras/src/callbacks/early_stopping.py).

    An epoch improves when its value beats the best so far by more than
    `min_delta` (lower for mode "min", higher for "max"; "auto" picks "max" for
    names like accuracy, "min" otherwise). At the end of each monitored epoch
    (epochs before `start_from_epoch`, and those without the value, are
    ignored) the count ``wait`` goes up by one, then:

    - if the epoch improves, it becomes the best, and ``wait`` goes back to 0
      unless a `baseline` is set and the value does not beat it too (by more
      than `min_delta`). An improving epoch never stops training.
    - otherwise, training stops (``model.stop_training``) once ``wait`` >=
      `patience` (so patience=0 acts as 1), but never at epoch 0.

    So with a baseline, ``wait`` also counts the improving epochs that fall
    short of it, and training stops at the first epoch that does not improve
    once ``wait`` >= `patience`. ``best`` starts at +-inf, not at the baseline.

    With `restore_best_weights`, a copy of the weights of the best epoch is
    kept and set back on the model at the end of training, whether it stopped
    early or ran all its epochs (as Keras 3 does; Keras 2 only when stopped
    early). The first monitored epoch counts as best until one improves, so
    something is restored as soon as one epoch was monitored, even if its
    value was NaN; nothing is restored if no epoch was monitored.

    With verbose=1 it prints ``Epoch N: early stopping`` (1-based) when it
    stopped training, and which epoch's weights it restores.

    Attributes (reset at the start of every ``fit``): ``best`` (best value,
    +-inf before any), ``best_epoch`` (0 before any), ``best_weights`` (None
    until an epoch is monitored, or without restore_best_weights), ``wait``
    (epochs counted toward patience), ``stopped_epoch`` (the epoch at which it
    stopped training, 0 if it did not: it never stops at epoch 0).
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0, verbose=0):
        super().__init__(monitor, mode, min_delta)
        self.patience = _int_at_least("patience", patience, 0)
        self.baseline = None if baseline is None else _finite("baseline", baseline)
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = _int_at_least("start_from_epoch", start_from_epoch, 0)
        self.verbose = _int_at_least("verbose", verbose, 0)
        self._reset()

    def _reset(self):
        super()._reset()
        self.best_epoch = 0
        self.best_weights = None
        self.stopped_epoch = 0

    def _keep_weights(self, epoch):
        # Sequential.get_weights copies, but a callback's model need only give
        # arrays (see the module docstring), which may be buffers the next
        # epoch overwrites.
        self.best_weights = [np.copy(w) for w in self.model.get_weights()]
        self.best_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        current = self._monitored(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        self.wait += 1
        improves = self._improves(current, self.best)
        # The first monitored epoch's weights are the best so far, whatever its value.
        if self.restore_best_weights and (improves or self.best_weights is None):
            self._keep_weights(epoch)
        if improves:
            self.best = current
            self.best_epoch = epoch
            if self.baseline is None or self._improves(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(_MonitorCallback):
    """Multiplies the learning rate by `factor` when the monitored value has
    stopped improving.

    Improvement is as in EarlyStopping (absolute `min_delta`). At the end of
    the `patience`-th epoch in a row without improvement (patience=0 acts as
    1; this is Keras's count, PyTorch's reduces one epoch later), it sets
    ``model.optimizer.lr = max(lr * factor, min_lr)`` if lr > min_lr. The
    `cooldown` epochs after a reduction are not counted as epochs without
    improvement (as in PyTorch; Keras counts the last of them). With verbose=1
    each reduction is printed.

    Attributes: ``best``, ``wait`` (epochs without improvement counted so far),
    ``cooldown_counter`` (cooldown epochs still to come).
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, verbose=0):
        super().__init__(monitor, mode, min_delta)
        self.factor = _finite("factor", factor)
        if not 0 < self.factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        self.patience = _int_at_least("patience", patience, 0)
        self.cooldown = _int_at_least("cooldown", cooldown, 0)
        self.min_lr = _learning_rate("min_lr", min_lr)
        self.verbose = _int_at_least("verbose", verbose, 0)
        self._reset()

    def _reset(self):
        super()._reset()
        self.cooldown_counter = 0

    def on_epoch_end(self, epoch, logs=None):
        current = self._monitored(logs)
        if current is None:
            return
        improved = self._improves(current, self.best)
        if improved:
            self.best = current
            self.wait = 0
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
        elif not improved:
            self.wait += 1
            if self.wait >= self.patience:
                self._reduce(epoch)

    def _reduce(self, epoch):
        optimizer = self.model.optimizer
        old_lr = float(optimizer.lr)
        if old_lr <= self.min_lr:
            return
        optimizer.lr = max(old_lr * self.factor, self.min_lr)
        if self.verbose:
            print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                  f"from {old_lr:.4g} to {optimizer.lr:.4g}.")
        self.wait = 0
        self.cooldown_counter = self.cooldown


def _takes_two_arguments(function):
    """Whether `function` can be called as f(epoch, lr), else as f(epoch);
    TypeError if neither. A function whose signature Python cannot read
    (some built-ins) is taken to accept both."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return True
    for args in ((0, 0.1), (0,)):
        try:
            signature.bind(*args)
            return len(args) == 2
        except TypeError:
            pass
    raise TypeError(f"the schedule function {function!r} must take (epoch, lr) or (epoch)")


class LearningRateScheduler(Callback):
    """Sets ``model.optimizer.lr`` from `schedule` at the start of every epoch.

    `schedule` is either

    - a ``fastmlp.schedules`` Schedule, called as ``schedule(epoch, base_lr)``:
      the rate is a pure function of the epoch and the base rate, so training
      resumed at some epoch gets the rate it would have had. The base rate
      is `base_lr` when given; else, in a fit that starts at epoch 0, the
      optimizer's lr at that start; and in a fit resumed at a later epoch
      (``initial_epoch``), the base rate the schedule started from, which the
      optimizer keeps as ``initial_lr`` (model files and checkpoints keep it
      too), or its lr when it has none. Or
    - a function ``f(epoch, lr) -> new_lr``, called as Keras calls it: `lr`
      is the optimizer's current rate (``model.optimizer.lr`` at the start of
      the epoch, so the rate the previous epoch ended with), and the result
      must be a real number, finite and >= 0. Keras's idiom
      ``LearningRateScheduler(lambda epoch, lr: lr * 0.9)`` multiplies the
      rate by 0.9 every epoch, starting with the first. `base_lr` is refused
      with a function; for a function of the base rate instead,
      ``f(epoch, base_lr)``, pass ``schedules.LambdaSchedule(f)``, e.g.
      ``LambdaSchedule(lambda epoch, base_lr: base_lr * 0.9 ** epoch)``.
      Keras's older ``f(epoch)`` works too: a function whose signature takes
      a single positional argument is called with the epoch alone (one that
      takes two, or ``*args``, or whose signature Python cannot read, with
      both: unlike Keras, a TypeError it raises is not retried as f(epoch)).

    Attributes: ``schedule``, ``base_lr`` (the base rate a Schedule is called
    with; None with a function).
    """

    def __init__(self, schedule, base_lr=None):
        self._keras_function = callable(schedule) and not isinstance(
            schedule, (schedules.Schedule, type))
        if not self._keras_function:  # a Schedule, or the error schedules.get gives
            schedule = schedules.get(schedule, function="f(epoch, lr) -> new_lr")
        if self._keras_function and base_lr is not None:
            raise ValueError(
                "base_lr is for a fastmlp.schedules.Schedule; a function is called as "
                "f(epoch, lr) with the optimizer's current lr. For a function of the base "
                "rate, f(epoch, base_lr), pass schedules.LambdaSchedule(f)")
        self.schedule = schedule
        self._takes_lr = self._keras_function and _takes_two_arguments(schedule)
        self._given_base_lr = None if base_lr is None else _learning_rate("base_lr", base_lr)
        self.base_lr = self._given_base_lr

    def on_train_begin(self, logs=None):
        self._first_epoch_of_fit = True

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if self._keras_function:
            args = (epoch, float(optimizer.lr)) if self._takes_lr else (epoch,)
            optimizer.lr = _learning_rate(
                f"the lr returned by the schedule function at epoch {epoch}",
                self.schedule(*args))
            return
        if self._first_epoch_of_fit:  # where the fit starts decides the base rate
            self._first_epoch_of_fit = False
            if self._given_base_lr is not None:
                self.base_lr = self._given_base_lr
            elif epoch > 0 and optimizer.initial_lr is not None:
                self.base_lr = optimizer.initial_lr
            else:
                self.base_lr = float(optimizer.lr)
            optimizer.initial_lr = self.base_lr
        optimizer.lr = self.schedule(epoch, self.base_lr)


class ModelCheckpoint(_MonitorCallback):
    """Saves the model (``model.save``) at the end of every epoch, or only of
    those that improve the monitored value (Keras semantics).

    `filepath` may hold format fields: ``epoch`` (counted from 1, as Keras
    prints it) and any name in the epoch's logs, e.g.
    ``"ckpt-{epoch:02d}-{val_loss:.3f}.fmlp"``; missing directories are
    created. With `save_best_only`, an epoch is saved only when the monitored
    value beats the best so far (mode as in EarlyStopping), and a missing
    value is warned about once. The best value is kept across ``fit`` calls.
    save_freq: only "epoch"; a count of batches (Keras) raises
    NotImplementedError, as batches run in C, without callbacks.

    A checkpoint holds the optimizer state and step count, and the random
    streams depend only on the seed and the step count, so
    ``fm.load(path).fit(..., epochs=n, initial_epoch=e)`` with the checkpoint
    of epoch e (1-based) continues as if never interrupted.

    Attributes: ``best``, ``last_path`` (the last file written, or None).
    """

    def __init__(self, filepath, monitor="val_loss", save_best_only=False, mode="auto",
                 save_freq="epoch", verbose=0):
        super().__init__(monitor, mode, 0.0)
        self.filepath = os.fspath(filepath)
        if isinstance(save_freq, numbers.Integral) and not isinstance(save_freq, bool):
            # Keras's count of batches
            raise NotImplementedError(f"ModelCheckpoint(save_freq={save_freq!r}) is not "
                                      "implemented: fastmlp runs the batches of an epoch in "
                                      "C, without callbacks; save_freq='epoch' saves after "
                                      "each epoch")
        if save_freq != "epoch":
            raise ValueError(f"save_freq must be 'epoch' (or Keras's count of batches, not "
                             f"implemented), got {save_freq!r}")
        self.save_best_only = bool(save_best_only)
        self.save_freq = save_freq
        self.verbose = _int_at_least("verbose", verbose, 0)
        self.last_path = None
        self._reset()

    def on_train_begin(self, logs=None):
        self._warned = False  # unlike the others, keep `best` from an earlier fit, as Keras

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            current = self._monitored(logs)
            if current is None or not self._improves(current, self.best):
                return
            previous, self.best = self.best, current
        path = self._path(epoch, logs)
        if self.verbose:
            why = (f"{self.monitor} improved from {previous:.5f} to {current:.5f}, "
                   if self.save_best_only else "")
            print(f"Epoch {epoch + 1}: {why}saving model to {path}")
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self.model.save(path)
        self.last_path = path

    def _path(self, epoch, logs):
        try:
            return self.filepath.format(**{**logs, "epoch": epoch + 1})
        except (KeyError, IndexError) as e:
            raise KeyError(f"ModelCheckpoint cannot format the filepath {self.filepath!r}: "
                           f"no {e} in the epoch logs (available: {', '.join(logs)})") from None


class LambdaCallback(Callback):
    """A callback from functions: ``on_epoch_begin(epoch, logs)``,
    ``on_epoch_end(epoch, logs)``, ``on_train_begin(logs)``,
    ``on_train_end(logs)``; each is optional. Keras's batch, test and predict
    hooks raise NotImplementedError: fastmlp never calls them."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, **keras_hooks):
        for hook in keras_hooks:
            if hook in _UNCALLED_HOOKS:
                raise _uncalled("LambdaCallback", hook)
            raise TypeError(f"LambdaCallback() got an unexpected keyword argument {hook!r}")
        hooks = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                 "on_train_begin": on_train_begin, "on_train_end": on_train_end}
        for name, fn in hooks.items():
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable or None, got {type(fn).__name__}")
        self._hooks = hooks

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def _call(self, name, *args):
        fn = self._hooks[name]
        if fn is not None:
            fn(*args)


class CallbackList:
    """The callbacks of one ``fit``, called in the order given (then
    `history`, when one is given); each gets ``set_model(model)`` here."""

    def __init__(self, callbacks, model, history=None):
        if callbacks is None:
            callbacks = []
        elif isinstance(callbacks, Callback):
            raise TypeError("callbacks must be a list of Callback objects, got a single "
                            f"{type(callbacks).__name__}; wrap it in a list")
        try:
            callbacks = list(callbacks)
        except TypeError:
            raise TypeError("callbacks must be a list of Callback objects, got "
                            f"{type(callbacks).__name__}") from None
        # History last, as in Keras: it records what the others add to logs.
        self.callbacks = callbacks + ([history] if history is not None else [])
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError("callbacks must be fastmlp.callbacks.Callback objects, got "
                                f"{type(callback).__name__}")
            for hook in _UNCALLED_HOOKS:
                if hasattr(callback, hook):
                    raise _uncalled(type(callback).__name__, hook)
        self.model = model
        for callback in self.callbacks:
            callback.set_model(model)

    def on_train_begin(self, logs=None):
        for callback in self.callbacks:
            callback.on_train_begin(logs)

    def on_epoch_begin(self, epoch, logs=None):
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        for callback in self.callbacks:
            callback.on_train_end(logs)
