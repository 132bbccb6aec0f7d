"""Thread safety: many Python threads using one model (and fastmlp.gemm) at
once get bitwise the answers of the same calls made one after another.

predict and gemm release the GIL, so the calls really overlap in C; each
thread starts its calls at a barrier to make them overlap as much as
possible, and every round is repeated several times. Each thread gets its own
input (of its own size), so a result written to the wrong place shows.
"""
import copy
import os
import pickle
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastmlp as fm

N_THREADS = 8
ROUNDS = 5


def _model(dtype):
    model = fm.Sequential([fm.Dense(96, activation="relu"), fm.Dropout(0.2),
                           fm.Maxout(32, pieces=3), fm.Dense(6, activation="softmax")],
                          input_dim=40, dtype=dtype, seed=0)
    model.compile("cross_entropy", fm.optim.Adam(lr=1e-3), metrics=["accuracy"])
    rng = np.random.default_rng(1)
    X = rng.standard_normal((500, 40))
    model.fit(X, rng.integers(0, 6, len(X)), epochs=1, batch_size=64, verbose=0)
    return model


def _inputs(dtype):
    """Per thread: X of its own row count (1 row: the one-row GEMM paths; a
    few rows; many rows: several predict batches), labels."""
    rng = np.random.default_rng(2)
    rows = [1, 3, 17, 64, 250, 1100, 2500, 5]
    return [(rng.standard_normal((n, 40)).astype(dtype), rng.integers(0, 6, n)) for n in rows]


def _concurrently(fn, args):
    """[fn(*a) for a in args], each on its own thread, started together."""
    barrier = threading.Barrier(len(args))

    def run(a):
        barrier.wait()
        return fn(*a)

    with ThreadPoolExecutor(max_workers=len(args)) as pool:
        return list(pool.map(run, args))


def _assert_same_bits(got, want, what):
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == w.dtype and g.shape == w.shape, f"{what}, thread {i}"
        assert g.tobytes() == w.tobytes(), (
            f"{what}, thread {i}: max |diff| {np.max(np.abs(g.astype(float) - w)):.3g}")


@pytest.fixture(params=["float32", "float64"])
def model_and_data(request):
    return _model(request.param), _inputs(request.param)


def test_concurrent_predict_on_one_model(model_and_data):
    model, data = model_and_data
    want = [model.predict(x) for x, _ in data]
    for r in range(ROUNDS):
        got = _concurrently(model.predict, [(x,) for x, _ in data])
        _assert_same_bits(got, want, f"round {r}")


def test_concurrent_predict_with_small_batches(model_and_data):
    """Many batches per call: the per-call workspace is reused batch after
    batch while other threads use theirs."""
    model, data = model_and_data
    want = [model.predict(x, batch_size=7) for x, _ in data]
    for r in range(ROUNDS):
        got = _concurrently(lambda x: model.predict(x, batch_size=7), [(x,) for x, _ in data])
        _assert_same_bits(got, want, f"round {r}")


def test_first_predict_from_many_threads_at_once():
    """The inference network is built lazily on the first predict: eight
    threads making that first call together still get the right answers."""
    for r in range(ROUNDS):
        model, data = _model("float32"), _inputs("float32")
        fresh = fm.Sequential([fm.Dense(96, activation="relu"), fm.Dropout(0.2),
                               fm.Maxout(32, pieces=3), fm.Dense(6, activation="softmax")],
                              input_dim=40, dtype="float32", seed=0)
        fresh.set_weights(model.get_weights())
        got = _concurrently(fresh.predict, [(x,) for x, _ in data])
        _assert_same_bits(got, [model.predict(x) for x, _ in data], f"round {r}")


def _gemm_cases(dtype):
    """Operands for every GEMM path: blocked with and without packing, the
    dot path (few rows times a transposed B), the one-row wide path, strided
    and Fortran-ordered operands, alpha/beta into an existing out."""
    rng = np.random.default_rng(3)

    def m(*shape):
        return rng.standard_normal(shape).astype(dtype)

    return [
        dict(a=m(300, 200), b=m(200, 150)),
        dict(a=m(64, 784), b=m(784, 256)),
        dict(a=m(3, 512), b=m(300, 512), trans_b=True),
        dict(a=m(1, 784), b=m(784, 257)),
        dict(a=m(200, 90), b=m(200, 70), trans_a=True),
        dict(a=m(160, 120)[::2], b=np.asfortranarray(m(120, 33))),
        dict(a=m(50, 60), b=m(60, 40), alpha=0.5, beta=2.0, out=m(50, 40)),
        dict(a=m(7, 5), b=m(5, 3)),
    ]


def _gemm(case):
    case = dict(case)
    if "out" in case:
        case["out"] = case["out"].copy()  # each call writes its own out
    return fm.gemm(**case)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_concurrent_gemm(dtype):
    cases = _gemm_cases(dtype)
    want = [_gemm(c) for c in cases]
    for r in range(ROUNDS):
        got = _concurrently(_gemm, [(c,) for c in cases])
        _assert_same_bits(got, want, f"gemm round {r}")


def test_predict_and_gemm_at_the_same_time():
    model, data = _model("float32"), _inputs("float32")
    cases = _gemm_cases("float32")
    want = [model.predict(x) for x, _ in data[:4]] + [_gemm(c) for c in cases[:4]]
    calls = [(model.predict, x) for x, _ in data[:4]] + [(_gemm, c) for c in cases[:4]]
    for r in range(ROUNDS):
        got = _concurrently(lambda f, a: f(a), calls)
        _assert_same_bits(got, want, f"round {r}")


def test_concurrent_predict_with_one_kernel_thread_each(restore_threads):
    """set_num_threads(1): the kernels run on the calling threads alone, the
    configuration of a server that parallelises over requests."""
    fm.set_num_threads(1)
    model, data = _model("float32"), _inputs("float32")
    want = [model.predict(x) for x, _ in data]
    for r in range(ROUNDS):
        got = _concurrently(model.predict, [(x,) for x, _ in data])
        _assert_same_bits(got, want, f"round {r}")


def test_evaluate_while_another_thread_evaluates():
    """A long evaluate runs on one thread; a short one on the same model runs
    (and ends) meanwhile on another. Both must get their sequential answers.
    Made deterministic: the short call starts after the long one entered C
    and the long one must still be running when the short one returns (else
    the long call is made longer and the round repeated)."""
    model = _model("float32")
    rng = np.random.default_rng(4)
    small = (rng.standard_normal((50, 40)).astype(np.float32), rng.integers(0, 6, 50))
    want_small = model.evaluate(*small, batch_size=8)
    rows = 20000
    for _ in range(6):
        big = (rng.standard_normal((rows, 40)).astype(np.float32), rng.integers(0, 6, rows))
        want_big = model.evaluate(*big, batch_size=1)
        with ThreadPoolExecutor(max_workers=1) as pool:
            started = time.perf_counter()
            future = pool.submit(model.evaluate, *big, batch_size=1)
            time.sleep(0.05)  # the long call is past its Python checks, in C
            got_small = model.evaluate(*small, batch_size=8)
            overlapped = not future.done()
            got_big = future.result()
        if overlapped:
            break
        rows *= 2  # the long call ended too soon: make it longer
    else:
        pytest.skip("could not make two evaluate calls overlap "
                    f"(the long one took {time.perf_counter() - started:.2f} s)")
    assert got_small == want_small
    assert got_big == want_big


def test_other_threads_are_refused_the_parameters_while_a_fit_runs(tmp_path):
    """They would read or write them in the middle of a batch (a file saved
    so would not even match its own checksum). The fit's own thread may use
    them between epochs, in callbacks."""
    model = _model("float32")
    X, y = _inputs("float32")[3]
    weights = model.get_weights()
    in_callback, release = threading.Event(), threading.Event()

    def between_epochs(epoch, logs):
        model.predict(X), model.evaluate(X, y), model.set_weights(model.get_weights())
        model.save(tmp_path / "from_the_fit.fmlp")
        pickle.dumps(model)
        in_callback.set()
        release.wait(60)

    hold = fm.callbacks.LambdaCallback(on_epoch_end=between_epochs)
    fit = threading.Thread(target=model.fit, args=(X, y),
                           kwargs=dict(epochs=1, verbose=0, callbacks=[hold]))
    fit.start()
    try:
        assert in_callback.wait(60)
        for name, call in [("predict()", lambda: model.predict(X)),
                           ("evaluate()", lambda: model.evaluate(X, y)),
                           ("get_weights()", model.get_weights),
                           ("set_weights()", lambda: model.set_weights(weights)),
                           ("save()", lambda: model.save(tmp_path / "elsewhere.fmlp")),
                           ("save()", lambda: fm.io.save(model, tmp_path / "elsewhere.fmlp")),
                           ("pickling or copying the model", lambda: pickle.dumps(model)),
                           ("pickling or copying the model", lambda: copy.deepcopy(model))]:
            with pytest.raises(RuntimeError,
                               match=re.escape(name) + " from another thread while fit"):
                call()
    finally:
        release.set()
        fit.join(60)
    assert not (tmp_path / "elsewhere.fmlp").exists()
    assert fm.load(tmp_path / "from_the_fit.fmlp").predict(X).shape == (len(X), 6)
    model.predict(X)  # fit has returned: any thread again


FORK_SCRIPT = """
import os, sys
import numpy as np
import fastmlp as fm
rng = np.random.default_rng(0)
X = rng.standard_normal((600, 64)).astype(np.float32)
y = rng.integers(0, 3, 600)

def model():
    m = fm.Sequential([fm.Dense(128, activation="relu"), fm.Dense(3, activation="softmax")],
                      input_dim=64, seed=1)
    m.compile("cross_entropy", "adam")
    return m

fm.set_num_threads(2)
parent = model()
parent.fit(X, y, epochs=1, batch_size=256, verbose=0)  # a team, and the fit worker
parent.predict(X)
expected = model()
expected.fit(X, y, epochs=1, batch_size=256, verbose=0)
pid = os.fork()
if pid == 0:
    m = model()
    m.fit(X, y, epochs=1, batch_size=256, verbose=0)
    same = all(np.array_equal(a, b) for a, b in zip(m.get_weights(), expected.get_weights()))
    m.predict(X)
    os._exit(0 if same and fm.get_num_threads() == 1 else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
def test_a_forked_child_fits_and_predicts_on_one_thread():
    """After the parent ran a team and the fit worker (multiprocessing's
    default start on Linux), the child's fit and predict finish (they hung:
    the worker's thread and OpenMP's pool do not survive fork), on one
    thread, with the bits of any thread count."""
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(fm.__file__)))
    done = subprocess.run([sys.executable, "-c", FORK_SCRIPT], capture_output=True, text=True,
                          timeout=120, cwd=os.path.dirname(os.path.abspath(__file__)),
                          env=dict(os.environ, PYTHONPATH=package_root))
    assert done.returncode == 0, done.stderr


def test_a_stop_asked_for_before_the_epoch_starts_is_kept():
    """Ctrl-C between handing an epoch to the worker and the worker starting
    it stops that epoch at its first batch boundary (the epoch used to clear
    the request, and ran to its end)."""
    model = _model("float32")
    X, y = _inputs("float32")[6]  # 2,500 rows: 40 batches of 64
    net = model._native(training=True)
    net.begin_fit(64, len(X))
    try:
        net.clear_stop()
        net.request_stop()
        stats = net.train_epoch(X, model._targets(y, len(X)), None, 64, model._step, True)
    finally:
        net.end_fit()
    assert stats["status"] == "interrupted" and stats["batches"] <= 1  # of 40


def test_a_worker_thread_that_cannot_start_leaves_nothing_queued(monkeypatch):
    """"can't start new thread" during fit (seen under ulimit -v) left the
    epoch queued; the next fit's new thread ran it on freed buffers."""
    model = _model("float32")
    X, y = _inputs("float32")[5]
    start, failures = threading.Thread.start, [1]

    def start_once_failing(thread):
        if thread.name.startswith("fastmlp-fit") and failures[0]:
            failures[0] -= 1
            raise RuntimeError("can't start new thread")
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", start_once_failing)
    outcome = []

    def fit_twice():  # on a thread of its own: a fresh fit worker, not started yet
        try:
            model.fit(X, y, epochs=1, batch_size=2500, verbose=0)
        except RuntimeError as e:
            outcome.append(str(e))
        outcome.append(model.fit(X[:4], y[:4], epochs=1, batch_size=2, verbose=0))

    caller = threading.Thread(target=fit_twice)
    start(caller)
    caller.join(60)
    assert outcome[0] == "can't start new thread"
    assert outcome[1].epoch == [0] and all(np.isfinite(w).all() for w in model.get_weights())
