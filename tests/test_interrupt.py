"""Ctrl-C during fit stops at a batch boundary and leaves a usable model."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import fastmlp

# Subprocesses start here: `python -c` puts its working directory first on
# sys.path, and from the repository root the uncompiled source tree would
# shadow the installed package.
HERE = os.path.dirname(os.path.abspath(__file__))

SCRIPT = textwrap.dedent("""
    import json, signal, sys
    import numpy as np
    # A shell may start this process with SIGINT ignored (background jobs);
    # Python then installs no handler. Give it the interactive one.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import fastmlp as fm
    from fastmlp import _progress
    rows, batch, where = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    if where == "redraw":
        def ctrl_c(*args):  # as if Ctrl-C came while the progress line was redrawn
            raise KeyboardInterrupt
        _progress.ProgressLine.update = ctrl_c
    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, 64), dtype=np.float32)
    y = np.argmax(X @ rng.standard_normal((64, 5)), axis=1)
    m = fm.Sequential([fm.Dense(256, activation="relu"), fm.Dense(5, activation="softmax")],
                      input_dim=64, seed=0)
    m.compile("cross_entropy", "adam")
    print("ready", flush=True)
    try:
        m.fit(X, y, epochs=10_000, batch_size=batch, verbose=int(where == "redraw"))
        outcome = "finished"
    except KeyboardInterrupt:
        outcome = "interrupted"
    p = m.predict(X[:10])
    m.fit(X[:100], y[:100], epochs=1, verbose=0)  # the model trains on
    print(json.dumps({"outcome": outcome, "epochs": len(m.history.epoch),
                      "finite": bool(all(np.isfinite(w).all() for w in m.get_weights())),
                      "probabilities": bool(np.allclose(p.sum(axis=1), 1, atol=1e-5)),
                      "step": m._step}))
""")


def _start(rows, batch, where):
    """The script in a child that imports the fastmlp these tests import
    (installed or in place), once it is ready to fit."""
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(fastmlp.__file__)))
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(rows), str(batch), where],
                            stdout=subprocess.PIPE, text=True, cwd=HERE,
                            env=dict(os.environ, PYTHONPATH=package_root))
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _outcome(proc, signal_after=None):
    """The child's report, after a SIGINT `signal_after` seconds on, if given."""
    try:
        if signal_after is not None:
            time.sleep(signal_after)
            proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()  # never leave a 10,000-epoch fit running
        proc.wait()
    assert proc.returncode == 0
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("batch", [8, 128], ids=["one-thread-batches", "split-batches"])
def test_ctrl_c_stops_fit_and_keeps_a_usable_model(batch):
    """Batches of 8 rows run on one thread; batches of 128 split between
    threads (where the team agrees on the stop at a barrier)."""
    # inside the native loop, a few epochs in
    result = _outcome(_start(20_000, batch, "wait"), signal_after=1.5)
    assert result["outcome"] == "interrupted"
    assert result["finite"] and result["probabilities"]
    assert result["step"] > 0


def test_ctrl_c_during_the_progress_redraw():
    """The interrupt lands in the waiting thread's redraw, not in its wait:
    the fit must still stop the native loop before freeing its buffers (this
    crashed the interpreter). 400,000 rows: the first redraw comes inside an
    epoch of several seconds."""
    result = _outcome(_start(400_000, 16, "redraw"))
    assert result["outcome"] == "interrupted" and result["step"] > 0
