"""Memory: training, prediction and evaluation do not leak, and one epoch of
the MNIST-sized benchmark needs little memory beyond its data.

Each measurement runs in a fresh interpreter (a subprocess running a script
below), so other tests' allocations and the allocator's state do not blur it.
Resident set size (RSS) comes from /proc/self/statm, peak RSS from
getrusage's ru_maxrss.

glibc moves its mmap threshold up when a large block is freed, so the first
few fits grow the heap by 0.5-1.3 MB each until the allocator settles (about
ten epochs or fits), though nothing leaks. The subprocesses fix the threshold
(MALLOC_MMAP_THRESHOLD_=65536): blocks of 64 kB and more are then always
mapped and returned on free, RSS is flat from the first call, and a leaked
buffer shows at once. Under AddressSanitizer (tools/sanitize.sh) RSS counts
shadow memory and the quarantine of freed blocks, so these tests skip there.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

import fastmlp as fm

MB = 1 << 20

pytestmark = [
    pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                       reason="reads RSS from /proc/self/statm (Linux only)"),
    pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                       reason="RSS is meaningless under AddressSanitizer (shadow memory, "
                              "quarantine of freed blocks)"),
]

_PRELUDE = """
import json, os, resource, sys
import numpy as np
import fastmlp as fm

PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1 << 20

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux

def hwm():  # peak RSS of this process image (VmHWM): ru_maxrss's cross-check
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
"""


def _run(script, timeout=300):
    """Runs the prelude + script in a fresh interpreter (the same fastmlp as
    this process) and returns the JSON object it prints last."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(fm.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    env["MALLOC_MMAP_THRESHOLD_"] = "65536"  # see the top of this file
    # cwd: `python -c` puts its working directory first on sys.path, and from
    # the repository root the source tree would shadow an installed fastmlp.
    # Through sh, which forks the interpreter rather than exec'ing it: Linux
    # carries a process's ru_maxrss over an exec from the memory it had
    # before, so a child exec'd straight from this (large) pytest process
    # would report pytest's peak as its own.
    launch = ["sh", "-c", '"$@"; exit $?', "sh", sys.executable, "-c"]
    proc = subprocess.run(launch + [_PRELUDE + textwrap.dedent(script)],
                          capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=os.path.dirname(os.path.abspath(__file__)))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _growth(samples, warm_up):
    """RSS growth from the end of the warm-up to the largest later sample."""
    return max(samples[warm_up:]) - samples[warm_up - 1]


def test_rss_does_not_grow_from_epoch_to_epoch():
    """30 epochs in one fit, RSS recorded at the end of each: after a few
    warm-up epochs it stays flat. The data is a few MB, so leaking any
    per-epoch copy of it, or of the training workspace, shows."""
    out = _run("""
        rng = np.random.default_rng(0)
        X = rng.standard_normal((4000, 128), dtype=np.float32)       # 2 MB
        y = rng.integers(0, 10, len(X))
        model = fm.Sequential([fm.Dense(256, activation="relu"), fm.Dropout(0.2),
                               fm.Maxout(64, pieces=2), fm.Dense(10, activation="softmax")],
                              input_dim=128, seed=0)
        model.compile("cross_entropy", fm.optim.Adam(lr=1e-3), metrics=["accuracy"])
        samples = []
        record = fm.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: samples.append(rss()))
        model.fit(X, y, epochs=30, batch_size=256, validation_split=0.1, callbacks=[record],
                  verbose=0)
        # the control: a callback that keeps 1 MB per epoch must show
        kept, leaky = [], []
        def leak(epoch, logs):
            kept.append(np.ones(MB // 4, np.float32))
            leaky.append(rss())
        model.fit(X, y, epochs=10, batch_size=256, verbose=0,
                  callbacks=[fm.callbacks.LambdaCallback(on_epoch_end=leak)])
        print(json.dumps({"rss": samples, "leaky": leaky}))
    """)
    samples = out["rss"]
    assert len(samples) == 30
    growth = _growth(samples, warm_up=3)
    assert growth < 2 * MB, (
        f"RSS grew by {growth / MB:.2f} MB over epochs 3..30: "
        f"{[round(s / MB, 1) for s in samples]} MB")
    assert _growth(out["leaky"], warm_up=1) > 7 * MB, (
        f"the measurement missed a leak of 1 MB per epoch: {out['leaky']}")


def test_rss_does_not_grow_over_repeated_calls():
    """Twelve fit calls in a row (each allocates and frees its workspace and
    a new History), then 50 rounds of predict, evaluate, gemm on each path and
    pickling: RSS after the warm-up calls stays flat."""
    out = _run("""
        import pickle
        rng = np.random.default_rng(0)
        X = rng.standard_normal((3000, 64))                           # float64: converted
        y = rng.integers(0, 5, len(X))
        sw = rng.uniform(0.5, 1.5, len(X))
        model = fm.Sequential([fm.Dense(128, activation="tanh"), fm.Dropout(0.1),
                               fm.Dense(5, activation="softmax")], input_dim=64, seed=0)
        model.compile("cross_entropy", "adam", metrics=["accuracy"])
        fits = []
        for _ in range(12):
            model.fit(X, y, epochs=2, batch_size=128, sample_weight=sw,
                      validation_data=(X[:300], y[:300]), verbose=0)
            fits.append(rss())
        calls = []
        a = rng.standard_normal((300, 200)).astype(np.float32)
        b = rng.standard_normal((200, 150)).astype(np.float32)
        for _ in range(10):
            for _ in range(5):
                model.predict(X)
                model.evaluate(X, y, sample_weight=sw)
                fm.gemm(a, b)
                fm.gemm(a[:1], b)
                fm.gemm(a, b.T[:40], trans_b=True)
                pickle.loads(pickle.dumps(model)).predict(X[:10])
            calls.append(rss())
        print(json.dumps({"fits": fits, "calls": calls}))
    """)
    for name, warm_up in (("fits", 3), ("calls", 3)):
        samples = out[name]
        growth = _growth(samples, warm_up)
        assert growth < 2 * MB, (
            f"RSS grew by {growth / MB:.2f} MB over repeated {name}: "
            f"{[round(s / MB, 1) for s in samples]} MB")


def test_fits_from_short_lived_threads_leave_no_threads_or_memory_behind():
    """fit runs on a worker thread kept per calling thread, with its OpenMP
    team and GEMM buffers: when the calling thread ends, all of that goes."""
    out = _run("""
        import gc, threading, time
        def threads():
            with open("/proc/self/status") as f:
                return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))
        rng = np.random.default_rng(0)
        X = rng.standard_normal((3000, 64), dtype=np.float32)
        y = rng.integers(0, 5, len(X))
        model = fm.Sequential([fm.Dense(128, activation="relu"), fm.Dense(5, activation="softmax")],
                              input_dim=64, seed=0)
        model.compile("cross_entropy", "adam")
        model.predict(X)  # this thread's OpenMP team, before the baseline
        base_threads = threads()
        samples = []
        for _ in range(16):
            t = threading.Thread(target=model.fit, args=(X, y),
                                 kwargs=dict(epochs=1, batch_size=128, verbose=0))
            t.start()
            t.join()
            gc.collect()
            samples.append(rss())
        deadline = time.monotonic() + 10  # workers exit asynchronously
        while threads() > base_threads and time.monotonic() < deadline:
            gc.collect()
            time.sleep(0.05)
        print(json.dumps({"rss": samples, "threads": threads(), "base_threads": base_threads}))
    """)
    assert out["threads"] <= out["base_threads"], (
        f"{out['threads'] - out['base_threads']} threads left behind by 16 finished fits")
    growth = _growth(out["rss"], warm_up=3)
    assert growth < 2 * MB, (
        f"RSS grew by {growth / MB:.2f} MB over fits from 16 short-lived threads: "
        f"{[round(s / MB, 1) for s in out['rss']]} MB")


def test_peak_memory_of_one_benchmark_epoch_stays_near_the_data_size():
    """One epoch of the README's benchmark (60000 x 784 float32, 784-256-128-10,
    batch 128, Adam): the peak RSS over the baseline (after importing and
    creating the data) stays under the size of the data (X and labels) plus
    100 MB; and, X being float32 and C-contiguous, under half the data size
    (no copy of X). The model, optimizer state, one-hot targets and workspace
    are a few MB (about 8 MB measured)."""
    out = _run("""
        rng = np.random.default_rng(0)
        X = rng.standard_normal((60000, 784), dtype=np.float32)      # 188 MB, no temporaries
        y = np.argmax(X[:, :32] @ rng.standard_normal((32, 10), dtype=np.float32), axis=1)
        model = fm.Sequential([fm.Dense(256, activation="relu"), fm.Dense(128, activation="relu"),
                               fm.Dense(10, activation="softmax")], input_dim=784, seed=0)
        model.compile("cross_entropy", fm.optim.Adam(lr=1e-3))
        # One kernel thread: the memory is the same (the GEMM workspace is per
        # calling thread), and the epoch takes seconds even on a busy machine,
        # where OpenMP threads spinning at barriers can slow it a hundredfold.
        fm.set_num_threads(1)
        model.predict(X[:1])  # the inference network and first buffers: part of the baseline
        baseline, peak_before = rss(), peak()
        model.fit(X, y, epochs=1, batch_size=128, verbose=0)
        print(json.dumps({"baseline": baseline, "peak_before": peak_before, "peak": peak(),
                          "hwm": hwm(), "data": X.nbytes + y.nbytes}))
    """)
    # The peak before fit must not already hide the fit's (e.g. a temporary
    # copy while creating the data): then the measurement would be vacuous.
    assert out["peak_before"] < out["baseline"] + 20 * MB, out
    assert abs(out["peak"] - out["hwm"]) < 4 * MB, out  # two views of one peak
    extra = out["peak"] - out["baseline"]
    budget = out["data"] + 100 * MB
    assert extra < budget, (
        f"one epoch raised the peak RSS by {extra / MB:.0f} MB over the baseline of "
        f"{out['baseline'] / MB:.0f} MB; the budget is the data ({out['data'] / MB:.0f} MB) "
        f"+ 100 MB")
    # X is float32 and C-contiguous already: fit reads it in place, so not
    # even one copy of it should be made
    assert extra < out["data"] / 2, (
        f"one epoch raised the peak RSS by {extra / MB:.0f} MB: a copy of the "
        f"{out['data'] / MB:.0f} MB of data?")
