"""fastmlp.gemm alone on shapes given on the command line, in GFLOP/s.

    PYTHONPATH=. python bench/gemm_sweep.py 128x256x128 128x512x128:TN [--threads 1]
                                            [--rounds 5]

Each shape is m x k x n, optionally followed by :NN, :TN (A stored k x m),
:NT (B stored n x k) or :TT, then optionally by @T to run it on T threads
instead of --threads (32x512x256@1 32x512x512@2 shows how two threads
scale; when the counts differ, each call first sets its own, which adds
about 0.1 us). The shapes are timed in turn, round after round, each sample
lasting at least 20 ms of back-to-back calls into a preallocated output;
the table gives the median over rounds. No peer runs in the process: this
is for seeing how fastmlp's own rate moves with a dimension.
"""
import argparse

import numpy as np

import fastmlp as fm
from timing import median_times


def product(spec, rng, default_threads, dtype=np.float32):
    """(label, flop, threads, call) for 'MxKxN[:ORIENT][@THREADS]'."""
    spec, _, own_threads = spec.partition("@")
    threads = int(own_threads) if own_threads else default_threads
    if threads < 1:
        raise ValueError(threads)
    dims, _, orient = spec.partition(":")
    orient = orient or "NN"
    if orient not in ("NN", "TN", "NT", "TT"):
        raise ValueError(orient)
    m, k, n = (int(d) for d in dims.split("x"))
    ta, tb = orient[0] == "T", orient[1] == "T"
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    out = np.empty((m, n), dtype)
    return (f"{m}x{k}x{n} {orient} @{threads}", 2 * m * n * k, threads,
            lambda: fm.gemm(a, b, trans_a=ta, trans_b=tb, out=out))


def on_threads(threads, call):
    """call, made on `threads` threads."""
    def wrapped():
        fm.set_num_threads(threads)
        call()
    return wrapped


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("shapes", nargs="+", metavar="MxKxN[:ORIENT][@THREADS]")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    try:
        products = [product(spec, rng, args.threads) for spec in args.shapes]
    except ValueError:
        ap.error("a shape is MxKxN with an optional :NN, :TN, :NT or :TT, then an optional "
                 "@THREADS (at least 1)")
    counts = {threads for _, _, threads, _ in products}
    if len(counts) == 1:
        fm.set_num_threads(counts.pop())
        calls = [(label, call) for label, _, _, call in products]
    else:
        calls = [(label, on_threads(threads, call)) for label, _, threads, call in products]
    print(f"fastmlp {fm.__version__} ({fm.config()['isa']}), float32, "
          f"medians of {args.rounds} rounds")
    times = median_times(calls, args.rounds)
    for label, flop, _, _ in products:
        print(f"  {label:25s} {times[label] * 1e6:10.1f} us  {flop / times[label] / 1e9:6.1f} GFLOP/s")


if __name__ == "__main__":
    main()
