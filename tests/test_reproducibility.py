"""Reproducibility: one seed gives bitwise the same weights and predictions,
run after run and for any thread count (fastmlp.set_num_threads 1, 2, 3),
with shuffling and dropout on, in float32 and float64.

Each kernel set (ISA) may round differently from the others (FMA or not,
other blockings), so thread counts are compared within one ISA, for every ISA
this CPU runs (the `isa` fixture of conftest.py switches in-process and
restores the original afterwards). A fresh process gets the same bits too.
"""
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import _core

THREADS = (1, 2, 3)


def _data(dtype):
    rng = np.random.default_rng(42)
    X = rng.standard_normal((1000, 48)).astype(dtype)
    y = np.argmax(X[:, :6] @ rng.standard_normal((6, 5)), axis=1)
    return X, y


def _model(dtype, seed=7):
    """Big enough that, with batches of 256 rows, the GEMMs, the element-wise
    kernels (dropout included: 256 x 256 elements) and the optimizer update of
    the 256 x 256 maxout weights each split over several threads."""
    model = fm.Sequential([
        fm.Dense(256, activation="relu"), fm.Dropout(0.3),
        fm.Maxout(128, pieces=2), fm.Dropout(0.1),
        fm.Dense(5, activation="softmax"),
    ], input_dim=48, dtype=dtype, seed=seed)
    model.compile(loss="cross_entropy", optimizer=fm.optim.Adam(lr=3e-3), metrics=["accuracy"])
    return model


def _train(dtype, threads, epochs=3, **fit_kwargs):
    """(weights, predictions, history) of one fresh model trained with
    `threads` threads."""
    fm.set_num_threads(threads)
    assert fm.get_num_threads() == (threads if fm.config()["openmp"] else 1)
    X, y = _data(dtype)
    model = _model(dtype)
    model.fit(X, y, epochs=epochs, batch_size=256, shuffle=True, verbose=0, **fit_kwargs)
    return model.get_weights(), model.predict(X), model.history.history


def _assert_bitwise_equal(a, b, what):
    assert len(a) == len(b)
    for i, (x, y) in enumerate(zip(a, b)):
        assert x.dtype == y.dtype and x.shape == y.shape
        # array_equal on the bytes: NaN payloads and -0.0 count too
        assert x.tobytes() == y.tobytes(), (
            f"{what}[{i}] differs: max |diff| {np.max(np.abs(x.astype(float) - y)):.3g}")


@pytest.fixture
def threads_restored():
    yield
    fm.set_num_threads(None)


def test_the_isa_fixture_covers_every_available_isa():
    assert _core.active_isa() in _core.isas_available()
    assert "generic" in _core.isas_available()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_seed_same_bits_for_any_thread_count(isa, dtype, threads_restored):
    assert _core.active_isa() == isa
    runs = {t: _train(dtype, t) for t in THREADS}
    again = _train(dtype, THREADS[-1])  # the same thread count twice
    reference_w, reference_p, reference_h = runs[THREADS[0]]
    for t in THREADS[1:]:
        weights, predictions, history = runs[t]
        _assert_bitwise_equal(reference_w, weights, f"{isa}/{dtype}: weights with {t} threads")
        _assert_bitwise_equal([reference_p], [predictions],
                              f"{isa}/{dtype}: predictions with {t} threads")
        assert history == reference_h
    _assert_bitwise_equal(runs[THREADS[-1]][0], again[0], f"{isa}/{dtype}: a second run")
    # the training did something: not all weights stayed at their initial values
    initial = _model(dtype).get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(initial, reference_w))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_any_gemm_blocking_keeps_the_bits_of_any_thread_count(isa, dtype, threads_restored):
    """Under a blocking far from the kernel set's (thin k slices, row blocks of
    two tiles, column blocks of two panels), the row and column parts that
    training cuts still give every thread count the same bits."""
    mr, nr = _core.gemm_tile(dtype)
    _core.set_gemm_blocking(dtype, mc=2 * mr, kc=11, kc_strided_a=5, nc=2 * nr)
    try:
        runs = [_train(dtype, t, epochs=1) for t in THREADS]
    finally:
        _core.set_isa(isa)
    for t, (weights, predictions, _) in zip(THREADS[1:], runs[1:]):
        _assert_bitwise_equal(runs[0][0], weights, f"{isa}/{dtype}: weights with {t} threads")
        _assert_bitwise_equal([runs[0][1]], [predictions],
                              f"{isa}/{dtype}: predictions with {t} threads")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_and_shuffle_are_seeded(isa, dtype, threads_restored):
    """The seed really drives shuffling and dropout: another seed with the same
    initial weights trains differently (so the equalities above are not
    vacuous), and the same seed does not."""
    fm.set_num_threads(2)
    X, y = _data(dtype)
    results = []
    for seed in (7, 7, 8):
        model = _model(dtype, seed=seed)
        model.set_weights(_model(dtype, seed=7).get_weights())
        model.fit(X, y, epochs=1, batch_size=256, verbose=0)
        results.append(model.get_weights())
    _assert_bitwise_equal(results[0], results[1], f"{isa}/{dtype}: same seed")
    assert not all(np.array_equal(a, b) for a, b in zip(results[0], results[2]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_resuming_with_initial_epoch_continues_the_same_stream(isa, dtype, threads_restored):
    """fit(2 epochs) == fit(1 epoch) then fit(epochs=2, initial_epoch=1), with
    a different thread count for each part."""
    X, y = _data(dtype)
    fm.set_num_threads(3)
    whole = _model(dtype)
    whole.fit(X, y, epochs=2, batch_size=256, verbose=0)
    split = _model(dtype)
    fm.set_num_threads(1)
    split.fit(X, y, epochs=1, batch_size=256, verbose=0)
    fm.set_num_threads(2)
    split.fit(X, y, epochs=2, initial_epoch=1, batch_size=256, verbose=0)
    _assert_bitwise_equal(whole.get_weights(), split.get_weights(), f"{isa}/{dtype}: resumed")


def test_validation_split_and_sample_weights_keep_thread_independence(isa, threads_restored):
    X, y = _data("float32")
    w = np.random.default_rng(3).uniform(0.5, 2.0, len(X))
    runs = {t: _train("float32", t, epochs=2, sample_weight=w, validation_split=0.2)
            for t in THREADS}
    for t in THREADS[1:]:
        _assert_bitwise_equal(runs[THREADS[0]][0], runs[t][0], f"{isa}: weights, {t} threads")
        assert runs[t][2] == runs[THREADS[0]][2]  # val_loss and val_accuracy included
    assert "val_loss" in runs[THREADS[0]][2]


def test_gemm_thread_independence_on_training_shapes(isa, threads_restored):
    """The three GEMMs of a training step (x W, x^T dz, dz W^T) at the shapes
    above, in every thread count."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 48)).astype(np.float32)
    w = rng.standard_normal((48, 256)).astype(np.float32)
    dz = rng.standard_normal((256, 256)).astype(np.float32)
    results = {}
    for t in THREADS:
        fm.set_num_threads(t)
        results[t] = [fm.gemm(x, w), fm.gemm(x, dz, trans_a=True), fm.gemm(dz, w, trans_b=True)]
    for t in THREADS[1:]:
        _assert_bitwise_equal(results[THREADS[0]], results[t], f"{isa}: gemm with {t} threads")


_FRESH_PROCESS = """
import hashlib, json, sys
sys.path.insert(0, {tests!r})
import fastmlp as fm
from fastmlp import _core
import test_reproducibility as t
out = {{}}
for isa in _core.isas_available():
    _core.set_isa(isa)
    for dtype in ("float32", "float64"):
        weights, predictions, _ = t._train(dtype, 3)
        out[isa + "/" + dtype] = hashlib.sha256(
            b"".join(w.tobytes() for w in weights + [predictions])).hexdigest()
print(json.dumps(out))
"""


def test_same_bits_in_a_fresh_process(threads_restored):
    """Another process (other addresses: ASLR, other allocations) gets the same
    bits: nothing depends on where arrays happen to lie, or on memory left
    over from earlier calls."""
    tests = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(fm.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-c", _FRESH_PROCESS.format(tests=tests)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tests)
    assert proc.returncode == 0, proc.stderr[-3000:]
    theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    original = _core.active_isa()
    try:
        for isa in _core.isas_available():
            _core.set_isa(isa)
            for dtype in ("float32", "float64"):
                weights, predictions, _ = _train(dtype, 1)
                mine = hashlib.sha256(
                    b"".join(w.tobytes() for w in weights + [predictions])).hexdigest()
                assert theirs[f"{isa}/{dtype}"] == mine, f"{isa}/{dtype}"
    finally:
        _core.set_isa(original)
