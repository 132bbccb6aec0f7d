"""Two GEMM blockings of fastmlp alternated in one process, for tuning.

    PYTHONPATH=. python bench/blocking_ab.py 128x784x256 128x784x256:TN@1 \\
        --a kc=256 --b kc=400 [--dtype float32] [--threads 2] [--rounds 15]

Shapes are gemm_sweep.py's (MxKxN[:ORIENT][@THREADS]). --a and --b each
set some fields of the active kernel set's blocking (mc, kc, kc_strided_a,
nc: fastmlp._core.gemm_blocking); the others keep the kernel set's values.
Each round times every shape under A and under B, in an order that
alternates from round to round, each sample at least 20 ms of back-to-back
calls. Per shape the table gives the median time under each, the median and
range of the per-round speedups (A's time / B's: above 1, B is faster) and
the rounds B won. Samples taken side by side in one process see through the
drifts of a shared machine that alternating two builds run after run does
not: settings that make no difference come out near 1.00x, winning about
half the rounds.
"""
import argparse
import statistics

import numpy as np

import fastmlp as fm
from fastmlp import _core
from gemm_sweep import on_threads, product
from timing import per_call


def blocking_fields(items):
    """{field: int} from ['kc=400', ...]."""
    fields = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not value.isdigit():
            raise ValueError(item)
        fields[name] = int(value)
    return fields


def describe(blocking):
    return " ".join(f"{name}={value}" for name, value in blocking.items())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("shapes", nargs="+", metavar="MxKxN[:ORIENT][@THREADS]")
    ap.add_argument("--a", nargs="*", default=[], metavar="FIELD=VALUE")
    ap.add_argument("--b", nargs="*", default=[], metavar="FIELD=VALUE")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    try:
        products = [product(spec, rng, args.threads, args.dtype) for spec in args.shapes]
    except ValueError:
        ap.error("a shape is MxKxN with an optional :NN, :TN, :NT or :TT, then an optional "
                 "@THREADS (at least 1)")
    try:
        defaults = _core.gemm_blocking(args.dtype)
        blockings = {"A": dict(defaults, **blocking_fields(args.a)),
                     "B": dict(defaults, **blocking_fields(args.b))}
        for blocking in blockings.values():  # checked before any timing
            _core.set_gemm_blocking(args.dtype, **blocking)
    except (ValueError, TypeError) as error:
        ap.error(f"--a and --b take FIELD=VALUE with FIELD one of {', '.join(defaults)}: {error}")
    print(f"fastmlp {fm.__version__} ({fm.config()['isa']}), {args.dtype}, {args.rounds} rounds")
    for name, blocking in blockings.items():
        print(f"  {name}: {describe(blocking)}")
    times = {(label, name): [] for label, *_ in products for name in blockings}
    for r in range(args.rounds):
        for label, _, threads, call in products:
            for name in ("A", "B") if r % 2 == 0 else ("B", "A"):
                _core.set_gemm_blocking(args.dtype, **blockings[name])
                sample = on_threads(threads, call)
                per_call(sample)  # untimed: a sample never starts on idle threads
                times[label, name].append(per_call(sample))
    _core.set_isa(_core.active_isa())  # the kernel set's own blocking again
    for label, *_ in products:
        a, b = times[label, "A"], times[label, "B"]
        speedups = [ta / tb for ta, tb in zip(a, b)]
        print(f"  {label:25s} A {statistics.median(a) * 1e6:10.1f} us  "
              f"B {statistics.median(b) * 1e6:10.1f} us  "
              f"speedup {statistics.median(speedups):.3f} "
              f"({min(speedups):.2f}-{max(speedups):.2f})  "
              f"B won {sum(s > 1 for s in speedups)}/{len(speedups)}")


if __name__ == "__main__":
    main()
