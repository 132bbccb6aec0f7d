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
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20000, 64), dtype=np.float32)
    y = np.argmax(X @ rng.standard_normal((64, 5)), axis=1)
    m = fm.Sequential([fm.Dense(256, activation="relu"), fm.Dense(5, activation="softmax")],
                      input_dim=64, seed=0)
    m.compile("cross_entropy", "adam")
    print("ready", flush=True)
    try:
        m.fit(X, y, epochs=10_000, batch_size=int(sys.argv[1]), verbose=0)
        outcome = "finished"
    except KeyboardInterrupt:
        outcome = "interrupted"
    p = m.predict(X[:10])
    print(json.dumps({"outcome": outcome, "epochs": len(m.history.epoch),
                      "finite": bool(all(np.isfinite(w).all() for w in m.get_weights())),
                      "probabilities": bool(np.allclose(p.sum(axis=1), 1, atol=1e-5)),
                      "step": m._step}))
""")


@pytest.mark.parametrize("batch", [8, 128], ids=["one-thread-batches", "split-batches"])
def test_ctrl_c_stops_fit_and_keeps_a_usable_model(batch):
    """Batches of 8 rows run on one thread; batches of 128 split between
    threads (where the team agrees on the stop at a barrier)."""
    # The child imports the fastmlp these tests import (installed or in place).
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(fastmlp.__file__)))
    env = dict(os.environ, PYTHONPATH=package_root)
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(batch)], stdout=subprocess.PIPE, text=True,
                            cwd=HERE, env=env)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.5)  # inside the native loop, a few epochs in
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()  # never leave a 10,000-epoch fit running
        proc.wait()
    assert proc.returncode == 0
    result = json.loads(out.strip().splitlines()[-1])
    assert result["outcome"] == "interrupted"
    assert result["finite"] and result["probabilities"]
    assert result["step"] > 0


REDRAW_SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    import fastmlp as fm
    from fastmlp import _progress

    def ctrl_c(*args):  # as if Ctrl-C came while the progress line was redrawn
        raise KeyboardInterrupt
    _progress.ProgressLine.update = ctrl_c
    rng = np.random.default_rng(0)
    # an epoch of several seconds: the first redraw comes inside it
    X = rng.standard_normal((400_000, 64), dtype=np.float32)
    y = np.argmax(X @ rng.standard_normal((64, 5)), axis=1)
    m = fm.Sequential([fm.Dense(256, activation="relu"), fm.Dense(5, activation="softmax")],
                      input_dim=64, seed=0)
    m.compile("cross_entropy", "adam")
    try:
        m.fit(X, y, epochs=10_000, batch_size=16, verbose=1)
        outcome = "finished"
    except KeyboardInterrupt:
        outcome = "interrupted"
    m.fit(X[:100], y[:100], epochs=1, verbose=0)  # the model trains on
    print(json.dumps({"outcome": outcome, "step": m._step}))
""")


def test_ctrl_c_during_the_progress_redraw():
    """The interrupt lands in the waiting thread's redraw, not in its wait:
    the fit must still stop the native loop before freeing its buffers (this
    crashed the interpreter)."""
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(fastmlp.__file__)))
    proc = subprocess.run([sys.executable, "-c", REDRAW_SCRIPT], capture_output=True, text=True,
                          cwd=HERE, env=dict(os.environ, PYTHONPATH=package_root), timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["outcome"] == "interrupted" and result["step"] > 0
