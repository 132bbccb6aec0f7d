"""Batches split between threads (csrc/nn/net_impl.h, team_size).

Each thread of a team takes a part of every batch's rows through the forward
and backward passes, then a part of every parameter's gradient and update;
evaluation and batch prediction split the rows the same way. The cuts
(fm_sgemm_row_range, gemm_row.h) give each part at least 5 rows, and a GEMM of
that many rows computes the bits of those rows of the whole product, so any
thread count gives the same bits, and so does any cut a training batch takes
from its threads' speeds. These tests check the
cuts on the GEMM itself, then whole trainings of small networks (the ones a
team splits) with what touches the split: dropout between layers of
different widths, maxout, row weights, weight penalties, max-norm, short last
batches, validation, evaluation and prediction.
"""
import numpy as np
import pytest

import fastmlp as fm
from fastmlp import _core

THREADS = (1, 2, 3)


@pytest.fixture
def threads_restored():
    yield
    fm.set_num_threads(None)


# ---- the cuts -----------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuts_cover_the_rows_evenly(isa, dtype):
    for m in range(1, 300):
        for parts in (1, 2, 3, 4, 7):
            cuts = _core.gemm_row_cuts(m, parts, dtype)
            assert len(cuts) == parts
            assert cuts[0][0] == 0 and cuts[-1][1] == m
            for (lo, hi), (next_lo, _) in zip(cuts, cuts[1:]):
                assert lo <= hi == next_lo
            used = [(lo, hi) for lo, hi in cuts if lo < hi]
            # the parts that get rows come first; the others are empty at m
            assert cuts[:len(used)] == used
            sizes = [hi - lo for lo, hi in used]
            assert max(sizes) - min(sizes) <= 1, (m, parts, cuts)
            if len(used) > 1:
                assert min(sizes) > 4, (m, parts, cuts)  # never the dot-product path
            # as many parts as fit
            assert len(used) == max(1, min(parts, m // 5)), (m, parts, cuts)


SHARES = [(0.8, 0.2), (0.3, 0.7), (1, 1, 1), (0.1, 0.3, 0.6), (0.01, 0.98, 0.01), (5, 1, 1, 1),
          (1, 2, 3, 4, 5, 6, 7)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_shared_cuts_follow_the_shares_with_at_least_5_rows(isa, dtype):
    """A training batch is cut by the threads' speeds (net_impl.h, reshare):
    each part as near its share of the rows as parts of at least 5 allow."""
    for shares in SHARES:
        parts = len(shares)
        fractions = np.array(shares, dtype=float) / sum(shares)
        for m in range(1, 300):
            cuts = _core.gemm_row_cuts(m, parts, dtype, shares)
            assert cuts[0][0] == 0 and cuts[-1][1] == m
            for (lo, hi), (next_lo, _) in zip(cuts, cuts[1:]):
                assert lo <= hi == next_lo
            used = [(lo, hi) for lo, hi in cuts if lo < hi]
            assert len(used) == max(1, min(parts, m // 5)), (m, shares, cuts)
            if len(used) < parts:  # too few rows for every part: even, as without shares
                assert cuts == _core.gemm_row_cuts(m, parts, dtype), (m, shares, cuts)
                continue
            sizes = np.array([hi - lo for lo, hi in cuts])
            assert sizes.min() >= 5, (m, shares, cuts)
            if (fractions * m).min() >= 7:  # no part held up by the minimum
                assert np.abs(sizes - fractions * m).max() <= 1.5, (m, shares, cuts)


def test_shared_cuts_reject_bad_shares():
    for shares in ([0.5], [1, 0], [1, -1], [1, float("nan")], [[1, 1]]):
        with pytest.raises(ValueError, match="shares must be 2 positive finite numbers"):
            _core.gemm_row_cuts(100, 2, "float32", shares)


def test_cuts_reject_bad_arguments():
    for m, parts in ((-5, 2), (10, 0)):
        with pytest.raises(ValueError, match="m must be >= 0 and parts >= 1"):
            _core.gemm_row_cuts(m, parts, "float32")
    with pytest.raises(ValueError, match="dtype must be float32 or float64, not int32"):
        _core.gemm_row_cuts(10, 2, "int32")


ORIENTATIONS = [(False, False), (True, False), (False, True)]
# m leaves each remainder below a tile's height on some ISA (AVX2 tiles 6
# rows, AVX-512 12, generic 4); n = 600 is wide enough that A^T is packed
# on every ISA, n = 1 takes the dot products
SHAPES = [(12, 16, 7), (64, 64, 32), (100, 10, 300), (203, 256, 64), (130, 1, 129),
          (62, 40, 33), (128, 600, 20), (25, 600, 9), (50, 48, 70)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("trans_a, trans_b", ORIENTATIONS)
def test_a_part_of_the_rows_has_the_bits_of_the_whole_product(isa, dtype, trans_a, trans_b):
    """The cuts rely on this for any rows [lo, hi) of at least 5: a product of
    that many rows is cut into tiles that all compute a row the same way."""
    rng = np.random.default_rng(3)
    for m, n, k in SHAPES:
        a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
        whole = fm.gemm(a, b, trans_a=trans_a, trans_b=trans_b)
        windows = [cut for parts in (2, 3, 5) for cut in _core.gemm_row_cuts(m, parts, dtype)]
        windows += [cut for shares in SHARES for cut in _core.gemm_row_cuts(m, len(shares), dtype,
                                                                             shares)]
        windows += [(lo, lo + size) for lo in (0, 1, 2, 5, 7) for size in (5, 6, 7, 8, 13, 14)
                    if lo + size <= m]
        for lo, hi in windows:
            rows = a[:, lo:hi] if trans_a else a[lo:hi]
            part = fm.gemm(rows, b, trans_a=trans_a, trans_b=trans_b)
            assert part.tobytes() == whole[lo:hi].tobytes(), (m, n, k, lo, hi)


# ---- whole trainings ----------------------------------------------------------------

def _regression(dtype):
    model = fm.Sequential([
        fm.Dense(64, activation="relu", l1=1e-4, l2=1e-3), fm.Dropout(0.2),
        fm.Dense(24, activation="tanh", max_norm=1.5),
        fm.Dense(1),
    ], input_dim=32, dtype=dtype, seed=11)
    model.compile(loss="huber", optimizer=fm.optim.Adam(lr=3e-3))
    return model


def _classifier(dtype):
    model = fm.Sequential([
        fm.Dropout(0.1), fm.Maxout(16, pieces=3), fm.Dense(48, activation="elu"),
        fm.Dropout(0.3), fm.Dense(5, activation="softmax"),
    ], input_dim=32, dtype=dtype, seed=12)
    model.compile(loss="cross_entropy",
                  optimizer=fm.optim.SGD(lr=0.05, momentum=0.9, nesterov=True),
                  metrics=["accuracy"])
    return model


def _multilabel(dtype):
    model = fm.Sequential([fm.Dense(40, activation="silu"), fm.Dense(3, activation="sigmoid")],
                          input_dim=32, dtype=dtype, seed=13)
    model.compile(loss="binary_cross_entropy", optimizer=fm.optim.RMSprop(lr=1e-3, momentum=0.5),
                  metrics=["accuracy"])
    return model


def _targets(kind, X):
    if kind is _regression:
        return np.tanh(X[:, :4].sum(axis=1))
    if kind is _classifier:
        return np.argmax(X[:, :5], axis=1)
    return (X[:, :3] > 0).astype(X.dtype)


def _run(kind, dtype, threads):
    fm.set_num_threads(threads)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((331, 32)).astype(dtype)
    y = _targets(kind, X)
    w = rng.uniform(0.5, 2.0, len(X))
    model = kind(dtype)
    # 331 rows, a tenth held out: batches of 64 end with one of 42 rows;
    # evaluation and prediction in batches of 50 end with one of 31 or 9
    history = model.fit(X, y, sample_weight=w, epochs=3, batch_size=64, validation_split=0.1,
                        verbose=0)
    return (model.get_weights(), history.history, model.predict(X, batch_size=50),
            model.predict(X[:9]), model.predict(X[:1]),
            model.evaluate(X, y, sample_weight=w, batch_size=50))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", [_regression, _classifier, _multilabel],
                         ids=["regression", "classifier", "multilabel"])
def test_small_networks_train_to_the_same_bits_for_any_thread_count(isa, dtype, kind,
                                                                     threads_restored):
    runs = [_run(kind, dtype, t) for t in THREADS]
    weights, history, *outputs, scores = runs[0]
    for t, (w, h, *o, s) in zip(THREADS[1:], runs[1:]):
        assert all(a.tobytes() == b.tobytes() for a, b in zip(weights, w)), f"{t} threads"
        assert h == history and s == scores, f"{t} threads"
        assert all(a.tobytes() == b.tobytes() for a, b in zip(outputs, o)), f"{t} threads"
    initial = kind(dtype).get_weights()
    assert not any(np.array_equal(a, b) for a, b in zip(initial, weights))


def test_threads_never_share_the_rows_of_a_layer_of_another_width(threads_restored):
    """Threads run ahead of each other between barriers: a thread still in a
    narrow layer's backward pass must not share memory with a thread already
    in a wider one's (each layer has its own gradient buffers). A race here
    shows in some runs only, so the batch is trained many times."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 100)).astype(np.float32)
    y = rng.integers(0, 10, 256)

    def one_batch(threads):
        fm.set_num_threads(threads)
        model = fm.Sequential([fm.Dense(256, activation="relu"), fm.Dropout(0.0),
                               fm.Dense(128, activation="tanh"),
                               fm.Dense(10, activation="softmax")], input_dim=100, seed=42)
        model.compile(loss="cross_entropy", optimizer="sgd")
        model.fit(X, y, epochs=1, batch_size=256, shuffle=False, verbose=0)
        return model.get_weights()

    reference = one_batch(1)
    for _ in range(40):
        assert all(a.tobytes() == b.tobytes() for a, b in zip(reference, one_batch(2)))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("lr", [1e30, 3e38], ids=["bad-gradient", "bad-update"])
def test_divergence_stops_every_thread_at_the_same_batch(lr, threads_restored):
    """A split batch whose gradient (or update) is not finite stops the fit on
    every thread count at the same epoch and batch, with the same weights."""
    rng = np.random.default_rng(1)
    X = (100 * rng.standard_normal((640, 16))).astype(np.float32)
    y = rng.integers(0, 4, 640)
    outcomes = []
    for threads in THREADS:
        fm.set_num_threads(threads)
        model = fm.Sequential([fm.Dense(32, activation="relu"), fm.Dense(4, activation="softmax")],
                              input_dim=16, seed=3)
        model.compile(loss="cross_entropy", optimizer=fm.optim.SGD(lr=lr))
        with pytest.raises(fm.DivergenceError) as info:
            model.fit(X, y, epochs=3, batch_size=64, verbose=0)
        weights = model.get_weights()
        assert all(np.isfinite(w).all() for w in weights)
        outcomes.append((info.value.epoch, info.value.batch, [w.tobytes() for w in weights]))
    assert all(o == outcomes[0] for o in outcomes[1:])
