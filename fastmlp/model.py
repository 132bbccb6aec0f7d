"""Sequential: the model a user builds, compiles, fits and predicts with.

The Python here validates inputs once, turns targets into the matrix the
kernels read, and runs once per epoch (callbacks, history, progress); every
batch of every epoch is the C loop of csrc/nn/net_impl.h, without the GIL.
"""
import numbers
import os
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout

import numpy as np

from fastmlp import _aligned, _core, callbacks as callbacks_module, losses, optim
from fastmlp._progress import ProgressLine, format_logs
from fastmlp.errors import DivergenceError
from fastmlp._checks import count as _count, finite_array as _check_finite, \
    finite_cast as _finite_cast
from fastmlp.layers import Layer

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_PREDICT_BATCH = 1024


def _float_dtype(dtype):
    if dtype is None:  # np.dtype(None) is float64
        raise TypeError("dtype must be float32 or float64, got None")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in _DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dt}")
    return dt


_workers = threading.local()


def _fit_worker():
    """The calling thread's worker for fit: one thread that lives as long as
    the process, so its OpenMP threads and GEMM buffers serve every epoch of
    every fit instead of being created again each time."""
    if not hasattr(_workers, "executor"):
        _workers.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fastmlp-fit")
    return _workers.executor


def _forget_workers():
    """In a forked child: the workers' threads are gone (only the forking
    thread lives on), and a call handed to one would wait forever."""
    global _workers
    _workers = threading.local()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_forget_workers)


def _submit(worker, fn, *args):
    """fn(*args) on the fit worker, with the calling thread's thread count:
    OpenMP keeps omp_set_num_threads (threadpoolctl's limit) per thread, so
    the worker would not see a limit set here otherwise."""
    try:
        return worker.submit(_with_threads, _core.get_num_threads(), fn, *args)
    except RuntimeError:
        # The worker's thread could not start ("can't start new thread"), and
        # the call stays queued: it must never run, on a thread started later,
        # with buffers the failed fit frees. Drop the worker with it.
        worker.shutdown(wait=False, cancel_futures=True)
        if getattr(_workers, "executor", None) is worker:
            del _workers.executor
        raise


def _with_threads(threads, fn, *args):
    _core.follow_threads(threads)
    return fn(*args)


def _verbosity(verbose):
    """Keras's levels: 0 silent, 1 a live progress line, 2 one line per
    epoch; "auto" is 1."""
    if type(verbose) is int and 0 <= verbose <= 2:  # the common case, cheaply (predict of a row)
        return verbose
    if verbose == "auto":
        return 1
    if not isinstance(verbose, (int, np.integer)) or verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0 (silent), 1 (a live progress line), 2 (one line "
                         f"per epoch) or 'auto' (1), got {verbose!r}")
    return int(verbose)


def _settle(worker, net):
    """Return once the fit worker has no native call left running. After an
    error or a second Ctrl-C in the waiting thread an epoch may still run, and
    ending the fit would free its buffers under it: ask it to stop and wait,
    through any further Ctrl-C."""
    try:
        idle = worker.submit(int)  # runs once the worker is done with the calls before it
    except RuntimeError:  # shut down by _submit: its thread never started, nothing runs
        return
    while True:
        try:
            if idle.done():
                return
            net.request_stop()
            idle.result(timeout=0.1)
        except (FutureTimeout, KeyboardInterrupt):
            pass


def _epoch(name, value):
    """An epoch count or number, below 2**31: no fit runs more, so a larger
    one can only be a mistake."""
    value = _count(name, value, 0)
    if value >= 2**31:
        raise ValueError(f"{name} must be < 2**31, got {value}")
    return value


class _Snapshot:
    """Copies of some arrays, taken (before any restore) and restored in place."""

    def __init__(self, arrays):
        self.arrays = arrays
        self.copies = [np.empty_like(a) for a in arrays]

    def take(self):
        for a, copy in zip(self.arrays, self.copies):
            np.copyto(copy, a)

    def restore(self):
        for a, copy in zip(self.arrays, self.copies):
            np.copyto(a, copy)


class Sequential:
    """A stack of layers: Dense, Dropout, Maxout.

    dtype: "float32" (default) or "float64", for parameters and computation;
    inputs of another float dtype are converted once. seed: makes
    initialisation, shuffling and dropout reproducible (None: a random seed,
    kept in `seed`).
    """

    def __init__(self, layers=None, input_dim=None, dtype="float32", seed=None):
        self._fitting = threading.Lock()  # held by the fit in progress
        self._fit_thread = None  # the thread running that fit
        self._dtype = _float_dtype(dtype)
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (1 << 63))
        self.seed = _count("seed", seed, 0)
        if self.seed >= 2**64:
            raise ValueError(f"seed must be < 2**64, got {seed}")
        if input_dim is not None:
            input_dim = _count("input_dim", input_dim, 1)
        self.input_dim = None
        self.loss = self.optimizer = None
        self.metrics = []
        self.stop_training = False
        self.history = None
        self._reset_training_state()
        self.layers = []
        try:
            for layer in layers or []:
                self.add(layer)
            if input_dim is not None:
                self._build(input_dim)
        except BaseException:
            # A failed call must not keep the layers: the corrected call would
            # find them owned (a REPL keeps this object alive in its traceback).
            for layer in self.layers:
                layer.detach()
            raise

    # ---- structure ---------------------------------------------------------

    @property
    def dtype(self):
        """The parameters' and the computation's dtype, fixed when the model is made."""
        return self._dtype

    @dtype.setter
    def dtype(self, value):
        raise AttributeError("dtype is fixed when the model is made: make a new model, "
                             "Sequential(..., dtype=...), and set_weights it")

    def add(self, layer):
        if not isinstance(layer, Layer):
            raise TypeError(f"layers must be fastmlp layers (Dense, Dropout, Maxout), "
                            f"not {type(layer).__name__}")
        if self.input_dim is not None:
            raise ValueError(f"the model is built (for input_dim={self.input_dim}): add layers "
                             "before it is built, by input_dim, build() or a first use")
        if self.loss is not None:  # compile checked the output layer against the loss
            raise ValueError("the model is compiled: add layers before compile()")
        if any(layer is mine for mine in self.layers):
            raise ValueError(f"this {type(layer).__name__} layer is in the model already; "
                             "each position needs a layer of its own")
        layer.attach(self)
        self.layers.append(layer)

    def build(self, input_dim):
        """Create every layer's parameters for `input_dim` input features, or
        for Keras's input shape ``(batch, features)``, e.g. ``(None, 784)``.
        A model already built for `input_dim` keeps its weights (as in Keras)."""
        self._require_idle("build")
        if isinstance(input_dim, (tuple, list)):
            if len(input_dim) != 2:
                raise ValueError(f"an input shape must be (batch, features), got {input_dim!r}")
            input_dim = input_dim[1]
        input_dim = _count("input_dim", input_dim, 1)
        if self.built:
            if input_dim != self.input_dim:
                raise ValueError(f"the model is built for {self.input_dim} input features, "
                                 f"not {input_dim}; make a new model for other inputs")
            return
        self._build(input_dim)

    def _build(self, input_dim):
        if not self.layers:
            raise ValueError("the model has no layers")
        rng = np.random.default_rng(self.seed)
        width = input_dim
        for layer in self.layers:
            width = layer.build(width, self.dtype, rng)
        self.input_dim = input_dim
        self._reset_training_state()

    def __repr__(self):
        layers = "".join(f"    {layer!r},\n" for layer in self.layers)
        return (f"Sequential([\n{layers}], input_dim={self.input_dim}, "
                f"dtype={self.dtype.name!r}, seed={self.seed})")

    @property
    def built(self):
        return self.input_dim is not None

    @property
    def output_dim(self):
        if not self.layers:
            raise ValueError("the model has no layers")
        return self.layers[-1].units

    def _reset_training_state(self):
        self._net = self._inference_net = None
        self._optimizer_state = None
        self._optimizer_state_names = None  # the optimizer's state_names() when it was made
        self._gradients = None  # the C network writes each batch's gradients here
        self._step = 0

    def count_params(self):
        self._require_built()
        return sum(w.size for layer in self.layers for w in layer.weights)

    def summary(self, print_fn=print):
        """Print a table of the layers, output widths and parameters, through
        `print_fn` (Keras's argument: e.g. a logger's info, or list.append)."""
        self._require_built()
        rows = [("layer", "output", "params")]
        for i, layer in enumerate(self.layers):
            name = f"{type(layer).__name__.lower()}_{i}"
            detail = f" ({layer.activation.name})" if hasattr(layer, "activation") else ""
            rows.append((name + detail, f"(None, {layer.units})",
                         str(sum(w.size for w in layer.weights))))
        widths = [max(len(r[c]) for r in rows) for c in range(3)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)) for r in rows]
        rule = "-" * len(lines[0])
        text = "\n".join([lines[0], rule, *lines[1:], rule,
                          f"total params: {self.count_params()}  dtype: {self.dtype}"])
        print_fn(text)

    def get_weights(self):
        """Copies of the parameters: [W1 (in, out), b1 (out,), W2, b2, ...]."""
        self._require_built()
        self._require_fit_thread("get_weights()")
        return [w.copy() for layer in self.layers for w in layer.weights]

    def set_weights(self, weights):
        """Replace every parameter with `weights` (as get_weights returns)."""
        self._require_built()
        self._require_fit_thread("set_weights()")
        own = [w for layer in self.layers for w in layer.weights]
        weights = list(weights)
        if len(weights) != len(own):
            raise ValueError(f"expected {len(own)} arrays, got {len(weights)}")
        new = []
        for i, (mine, theirs) in enumerate(zip(own, weights)):
            arr = np.asarray(theirs)
            if arr.shape != mine.shape:
                raise ValueError(f"weights[{i}] has shape {arr.shape}, expected {mine.shape}")
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"weights[{i}] must be numeric, not {arr.dtype}")
            # a copy: `theirs` may be one of the arrays overwritten below
            new.append(_finite_cast(arr, self.dtype, f"weights[{i}]").copy())
        for mine, arr in zip(own, new):  # in place: the C network points at these arrays
            np.copyto(mine, arr)

    # ---- compile -----------------------------------------------------------

    def compile(self, loss, optimizer="adam", metrics=None):
        """Choose the loss, the optimizer (an fm.optim object or a name) and
        metrics (["accuracy"] or none). Nothing changes unless all are valid."""
        self._require_idle("compile")
        loss = losses.get(loss)
        optimizer = optim.get(optimizer)
        if isinstance(metrics, str):
            metrics = [metrics]
        chosen = []
        for metric in metrics or []:
            if metric not in ("accuracy", "acc"):
                raise ValueError(f"unknown metric {metric!r}; expected 'accuracy'")
            if not chosen:  # one accuracy, logged as first spelled
                chosen.append(metric)
        if not self.layers:
            raise ValueError("the model has no layers")
        last = self.layers[-1]
        if last.kind == "dropout":
            raise ValueError("the last layer must be Dense or Maxout, not Dropout")
        out_act = getattr(getattr(last, "activation", None), "name", None)
        if loss.output and out_act != loss.output:
            raise ValueError(f"loss {loss.name!r} needs a Dense output layer with "
                             f"activation={loss.output!r}, got {out_act!r}")
        if out_act == "softmax" and last.units == 1:
            raise ValueError("a softmax over one output is always 1; for two classes use one "
                             "sigmoid output and binary_cross_entropy, or two softmax outputs")
        if chosen and self._accuracy_kind(loss) is None:
            raise ValueError(f"accuracy is not defined for loss {loss.name!r} with a "
                             f"{out_act} output")
        self.loss, self.optimizer, self.metrics = loss, optimizer, chosen
        self._reset_training_state()

    def _accuracy_kind(self, loss=None):
        """How accuracy counts hits with this output layer and `loss` (the
        model's own by default); None where it is not defined."""
        loss = loss or self.loss
        out_act = getattr(self.layers[-1], "activation", None)
        if out_act is not None and out_act.name in ("softmax", "sigmoid"):
            return "argmax" if out_act.name == "softmax" else "sigmoid"
        return loss.accuracy if loss is not None else None

    # ---- the C network -----------------------------------------------------

    def _specs(self, training):
        specs = []
        if training:
            self._gradients = [_aligned.full(w.shape, w.dtype)
                               for layer in self.layers for w in layer.weights]
        grads = iter(self._gradients if training else ())
        for i, layer in enumerate(self.layers):
            spec = layer.spec()
            if layer.weights:
                spec["w"], spec["b"] = layer.weights
                if training:
                    spec["dw"], spec["db"] = next(grads), next(grads)
                    spec["w_state"], spec["b_state"] = self._optimizer_state[i]
            specs.append(spec)
        return specs

    def _native(self, training):
        """The C network over this model's arrays (cached)."""
        if training:
            if self._optimizer_state is None:
                self._new_optimizer_state()
            self._check_optimizer_state()
            if self._net is None:
                self._net = _core.NativeNet(self._specs(True), self.loss.name, self.loss.delta,
                                            self._accuracy_kind(), self.dtype, self.seed)
            return self._net
        if self._inference_net is None:
            loss = self.loss or losses.MSE()
            self._inference_net = _core.NativeNet(
                self._specs(False), loss.name, loss.delta,
                self._accuracy_kind() if self.loss else None, self.dtype, self.seed)
        return self._inference_net

    def _optimizer_state_arrays(self):
        """Every state array of the optimizer, in one list."""
        return [a for pair in self._optimizer_state for states in pair for a in states]

    def _new_optimizer_state(self):
        """The optimizer's state for every parameter, as init_state makes it:
        per layer [W's states, b's states], [[], []] for a layer without any."""
        self._optimizer_state = [[self.optimizer.init_state(w) for w in layer.weights]
                                 or [[], []] for layer in self.layers]
        self._optimizer_state_names = self.optimizer.state_names()
        return self._optimizer_state

    def _check_optimizer_state(self):
        """Raise unless the optimizer still reads the state arrays it has: a
        setting such as momentum, amsgrad or centered changes what it reads,
        and the C update would use arrays that were never made."""
        if (self._optimizer_state is not None
                and self.optimizer.state_names() != self._optimizer_state_names):
            raise ValueError("the optimizer needs other state arrays since a setting changed "
                             "(momentum, amsgrad, centered) after training began; compile "
                             "again to start the optimizer afresh")

    def _require_idle(self, what):
        if self._fitting.locked():
            raise RuntimeError(f"{what}() while fit() runs on this model (in a callback, or "
                               "another thread); wait for fit to return")

    def _require_fit_thread(self, what):
        """While fit runs, only its own thread (its callbacks, between epochs)
        may use the parameters: another thread would read or write them in
        the middle of a batch. A check when a call starts: a call already
        under way when a fit starts is not stopped."""
        if self._fitting.locked() and self._fit_thread != threading.get_ident():
            raise RuntimeError(f"{what} from another thread while fit() runs on this model; "
                               "wait for fit to return, or call it from a callback")

    # ---- data --------------------------------------------------------------

    def _inputs(self, x, name="X"):
        if (type(x) is np.ndarray and x.dtype == self.dtype and x.ndim == 2
                and x.flags.c_contiguous and x.flags.aligned and x.shape[0]
                and x.shape[1] == self.input_dim):
            _check_finite(x, name)  # the common case, at the cost of one C pass
            return x
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers, not {arr.dtype}")
        if arr.ndim != 2:
            hint = "; for one sample, reshape it: X.reshape(1, -1)" if arr.ndim == 1 else ""
            raise ValueError(f"{name} must be 2-D (samples, features), got shape {arr.shape}"
                             f"{hint}")
        if arr.shape[0] == 0:
            raise ValueError(f"{name} has no rows")
        if arr.shape[1] == 0:
            raise ValueError(f"{name} has no features (shape {arr.shape})")
        if not self.built:
            self._build(arr.shape[1])
        if arr.shape[1] != self.input_dim:
            raise ValueError(f"{name} has {arr.shape[1]} features; the model takes "
                             f"{self.input_dim}")
        return _finite_cast(arr, self.dtype, name)

    def _targets(self, y, rows, name="y"):
        if y is None or np.ndim(y) == 0:
            raise TypeError(f"{name} must hold one target (or row of targets) per sample, "
                            f"got {y!r}")
        try:
            t = self.loss.targets(y, self.output_dim, self.dtype)
        except (TypeError, ValueError) as e:  # the loss calls them y
            if name == "y":
                raise
            raise type(e)(f"{name}: {e}") from None
        if len(t) != rows:
            raise ValueError(f"{name} has {len(t)} rows but X has {rows}")
        return t

    def _row_weights(self, sample_weight, rows, name="sample_weight"):
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight)
        if w.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers, not {w.dtype}")
        if w.ndim != 1 or len(w) != rows:
            raise ValueError(f"{name} must have shape ({rows},), got {w.shape}")
        w = _finite_cast(w, self.dtype, name).reshape(rows, 1)
        if (w < 0).any():
            raise ValueError(f"{name} must be >= 0")
        return w

    def _require_built(self):
        if not self.built:
            raise ValueError("the model is not built: give input_dim or fit it first")

    def _require_compiled(self):
        if self.loss is None:
            raise ValueError("compile the model (loss, optimizer) before fit or evaluate")

    # ---- fit, evaluate, predict ---------------------------------------------

    def fit(self, X, y, epochs=1, batch_size=32, shuffle=True, validation_split=0.0,
            validation_data=None, sample_weight=None, callbacks=None, verbose=1,
            initial_epoch=0):
        """Train for `epochs` epochs of mini-batches; returns the History.

        validation_split: the last fraction of X, y (before shuffling) is held
        out and evaluated after each epoch; validation_data: (X, y) or
        (X, y, sample_weight) instead. Raises DivergenceError when a loss,
        gradient or weight stops being finite (or, checked at the epoch's
        end, the optimizer's state); the model then keeps the weights and
        optimizer state it had at the start of that epoch.
        """
        self._require_compiled()
        if not self._fitting.acquire(blocking=False):
            raise RuntimeError("fit() is already running on this model (fit called from a "
                               "callback, or from another thread)")
        try:
            self._fit_thread = threading.get_ident()
            return self._fit(X, y, epochs, batch_size, shuffle, validation_split,
                             validation_data, sample_weight, callbacks, verbose, initial_epoch)
        finally:
            self._fit_thread = None
            self._fitting.release()

    def _fit(self, X, y, epochs, batch_size, shuffle, validation_split, validation_data,
             sample_weight, callbacks, verbose, initial_epoch):
        epochs = _epoch("epochs", epochs)
        verbose = _verbosity(verbose)
        batch_size = _count("batch_size", batch_size, 1)
        initial_epoch = _epoch("initial_epoch", initial_epoch)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
        X = self._inputs(X)
        T = self._targets(y, len(X))
        W = self._row_weights(sample_weight, len(X))
        val = self._validation(X, T, W, validation_split, validation_data)
        if val is not None and validation_data is None:
            held = len(val[0])
            X, T, W = X[:-held], T[:-held], None if W is None else W[:-held]
        if len(X) == 0:
            raise ValueError("no training rows left after the validation split")
        batch_size = min(batch_size, len(X))

        # before History replaces self.history: this refuses a stale optimizer state
        net = self._native(training=True)
        history = callbacks_module.History()
        cbs = callbacks_module.CallbackList(callbacks, self, history=history)
        self.history = history  # as in Keras: callbacks may read it during fit
        # What a diverging epoch returns to (see _fit_epoch).
        epoch_start = _Snapshot([w for layer in self.layers for w in layer.weights]
                                + self._optimizer_state_arrays())
        batches = -(-len(X) // batch_size)
        progress = None
        if verbose:  # 2: no live line, only one per epoch
            progress = ProgressLine(batches, epochs, live=None if verbose == 1 else False)
        self.stop_training = False
        # A worker thread runs the native calls (see _fit_worker) while this
        # thread waits, draws progress and turns Ctrl-C into a stop at a
        # batch boundary.
        worker = _fit_worker()
        net.begin_fit(batch_size, len(X))
        try:
            cbs.on_train_begin()
            for epoch in range(initial_epoch, epochs):
                cbs.on_epoch_begin(epoch)
                logs = self._fit_epoch(worker, net, X, T, W, batch_size, epoch, shuffle,
                                       progress, epoch_start)
                if val is not None:
                    stats = self._wait(_submit(worker, net.evaluate, *val, _PREDICT_BATCH),
                                       net)
                    logs.update(self._validation_logs(stats))
                logs["lr"] = self.optimizer.lr
                seconds = logs.pop("_seconds")
                if progress:
                    progress.clear()  # what callbacks print starts on a line of its own
                # History is the last callback and the epoch's line comes after
                # them all, as in Keras: both show what callbacks add to logs.
                cbs.on_epoch_end(epoch, logs)
                if progress:
                    progress.end_epoch(logs, seconds)
                if self.stop_training:
                    break
            cbs.on_train_end()
        finally:
            _settle(worker, net)  # the native loop may still run after an error here
            net.end_fit()
            if progress:
                progress.close()
        return history

    def _validation(self, X, T, W, split, data):
        if isinstance(split, bool) or not isinstance(split, numbers.Real) or not 0 <= split < 1:
            raise ValueError(f"validation_split must be a number in [0, 1), got {split!r}")
        if data is not None:
            if split:
                raise ValueError("give validation_split or validation_data, not both")
            if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
                raise ValueError("validation_data must be (X, y) or (X, y, sample_weight)")
            xv = self._inputs(data[0], "validation X")
            return (xv, self._targets(data[1], len(xv), "validation y"),
                    self._row_weights(data[2] if len(data) == 3 else None, len(xv),
                                      "validation sample_weight"))
        if not split:
            return None
        held = len(X) - int(len(X) * (1.0 - split))  # Keras's count: floor(n (1 - split)) train
        if held == 0:
            raise ValueError(f"validation_split={split} of {len(X)} rows holds out no row")
        return X[-held:], T[-held:], None if W is None else W[-held:]

    def _fit_epoch(self, worker, net, X, T, W, batch_size, epoch, shuffle, progress,
                   epoch_start):
        self._check_optimizer_state()  # a callback may have changed a setting
        net.set_optimizer(self.optimizer.config(), self._step)
        epoch_start.take()
        step_at_start = self._step
        start = time.perf_counter()
        if progress:
            progress.start_epoch(epoch)
        net.clear_stop()
        try:
            stats = self._wait(
                # keyed by the step count, every epoch the model trains (in this
                # fit or another) shuffles and drops out afresh
                _submit(worker, net.train_epoch, X, T, W, batch_size, self._step, shuffle),
                net, progress, start)
        finally:  # also after Ctrl-C: the weights are those after the last whole batch
            self._step = net.step
        if stats["status"] == "no memory":
            raise MemoryError("out of memory during training")
        bad_batch = stats["bad_batch"] if stats["status"] == "diverged" else None
        # Counted from 1 in the message, as the progress line counts; from 0
        # in the error's attributes, as the callbacks' epoch argument.
        if bad_batch is not None:
            where, what = f"epoch {epoch + 1}, batch {bad_batch + 1}", "the loss or a gradient"
        elif not all(_core.all_finite(s) for s in self._optimizer_state_arrays()):
            # A squared gradient that overflows makes Adam's exp_avg_sq (or
            # Adagrad's sum, ...) infinite and the updates of those weights
            # zero, every weight still finite. The C loop checks the weights
            # after each batch; the state once an epoch is enough, since a
            # diverging epoch goes back to its start anyway.
            where, what = f"epoch {epoch + 1}", "the optimizer's state"
        else:
            logs = self._logs(stats)
            logs["_seconds"] = time.perf_counter() - start
            return logs
        # The weights just before the bad batch are finite but, as a rule,
        # already blown up: the last good state is the epoch's start.
        epoch_start.restore()
        self._step = step_at_start
        raise DivergenceError(
            f"training diverged in {where}: {what} is not finite. The model keeps its weights "
            f"and optimizer state from the start of epoch {epoch + 1}; try a lower learning rate, "
            "or scale the inputs.", epoch, bad_batch)

    @staticmethod
    def _wait(future, net, progress=None, start=None):
        """The result of future, waited for in short slices while the progress
        line is redrawn from the native loop's live counters (the loop itself
        never calls Python). Ctrl-C asks the loop to stop at the next batch
        boundary, waits for it, then raises KeyboardInterrupt: the model and
        its history stay usable."""
        interrupted = False
        while True:
            try:  # Ctrl-C may come anywhere in here, the redraw included
                if future.done():
                    break
                try:
                    future.result(timeout=0.1)
                except FutureTimeout:
                    if progress:
                        batches, rows, loss_sum = net.progress()
                        if rows:
                            progress.update(batches, loss_sum / rows,
                                            rows / (time.perf_counter() - start))
            except KeyboardInterrupt:
                net.request_stop()
                interrupted = True
        if interrupted:
            raise KeyboardInterrupt("fit interrupted; the model keeps the weights after the "
                                    "last whole batch")
        return future.result()

    def _logs(self, stats, prefix=""):
        logs = {prefix + "loss": stats["loss_sum"] / stats["rows"]}
        if self.metrics:  # ["accuracy"], or Keras's ["acc"] (logged as spelled)
            per_row = 1 if self._accuracy_kind() == "argmax" else self.output_dim
            logs[prefix + self.metrics[0]] = stats["correct"] / (stats["rows"] * per_row)
        return logs

    def _overflow_message(self, loss, what):
        return (f"the {what} is {loss}: it overflows {self.dtype} on these inputs or targets "
                "(are they scaled?)")

    def _validation_logs(self, stats):
        """The val_ logs. A validation loss that is not finite is logged as
        it is, with a warning (Python's default filter shows it once per
        text), and training goes on, as in Keras: the training loss is
        finite, so the weights are still good ones."""
        logs = self._logs(stats, "val_")
        if not np.isfinite(logs["val_loss"]):
            warnings.warn(self._overflow_message(logs["val_loss"], "validation loss"),
                          RuntimeWarning, stacklevel=4)
        return logs

    def evaluate(self, X, y, sample_weight=None, batch_size=None, verbose=0):
        """{"loss": ..., and each metric}: the mean loss over X, y without
        dropout. verbose (as in fit): print them too."""
        self._require_compiled()
        self._require_fit_thread("evaluate()")
        verbose = _verbosity(verbose)
        X = self._inputs(X)
        T = self._targets(y, len(X))
        W = self._row_weights(sample_weight, len(X))
        batch = _count("batch_size", batch_size, 1) if batch_size is not None else _PREDICT_BATCH
        batch = min(batch, len(X))
        # The inference network: evaluating must not start the optimizer's state.
        logs = self._logs(self._native(training=False).evaluate(X, T, W, batch))
        if not np.isfinite(logs["loss"]):
            raise FloatingPointError(self._overflow_message(logs["loss"], "loss"))
        if verbose:
            print(format_logs(logs), flush=True)
        return logs

    def predict(self, X, batch_size=None, verbose=0):
        """The outputs for X, shape (samples, outputs), without dropout.
        Raises FloatingPointError when an output is not finite. verbose (as
        in fit): print the rows and the time taken."""
        self._require_fit_thread("predict()")
        verbose = _verbosity(verbose)
        start = time.perf_counter() if verbose else None
        out = None
        if batch_size is None and self._inference_net is not None:
            # None unless X needed no conversion and holds no NaN or inf
            out = self._inference_net.predict_checked(X, _PREDICT_BATCH)
        if out is None:
            self._require_built()
            X = self._inputs(X)
            batch = (_count("batch_size", batch_size, 1) if batch_size is not None
                     else _PREDICT_BATCH)
            out = self._native(training=False).predict(X, min(batch, len(X)))
        if not _core.all_finite(out):
            rows = np.flatnonzero(~np.isfinite(out).all(axis=1))
            raise FloatingPointError(
                f"the outputs of {len(rows)} of {len(out)} rows (the first: row {rows[0]}) are "
                f"not finite: the network overflows {self.dtype} on them (are they scaled?)")
        if verbose:
            print(f"predict: {len(out)} rows - {time.perf_counter() - start:.3f}s", flush=True)
        return out

    # ---- files and pickling --------------------------------------------------

    def save(self, path):
        """Write the model (architecture, weights, compile settings, optimizer
        state) to `path` atomically, in fastmlp's own format (fm.load reads it)."""
        from fastmlp import io

        io.save(self, path)


    def __getstate__(self):
        self._require_fit_thread("pickling or copying the model")
        state = self.__dict__.copy()
        # Compiled handles are rebuilt on use; gradients are scratch, recreated with them.
        state["_net"] = state["_inference_net"] = state["_gradients"] = None
        del state["_fitting"], state["_fit_thread"]
        return state

    def __copy__(self):
        raise TypeError("a shallow copy would share the layers, which belong to one model; "
                        "use copy.deepcopy(model)")

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._fitting, self._fit_thread = threading.Lock(), None
        for layer in self.layers:
            layer.attach(self)
            # Unpickled arrays have NumPy's alignment; give the kernels the model's own.
            if layer.weights:
                layer.weights = [_aligned.copy(w) for w in layer.weights]
        if self._optimizer_state is not None:
            self._optimizer_state = [[[_aligned.copy(s) for s in states] for states in pair]
                                     for pair in self._optimizer_state]
