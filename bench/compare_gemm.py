"""Time fastmlp.gemm against numpy.matmul (OpenBLAS) in one process.

Both libraries are pinned to the same thread count (threadpoolctl for OpenBLAS
and OpenMP, plus fastmlp.set_num_threads), both write into a preallocated
output, and each round times fastmlp then numpy, so machine noise hits both
alike. Before each sample the script sleeps --settle seconds: both libraries'
idle worker threads spin for a while after a call (OpenBLAS ~0.1 s), and on a
small machine that spinning would slow whichever library runs next. Then
--warm seconds of untimed calls bring the cores back up to speed. Medians
over rounds are reported with the spec's goal per case.

    PYTHONPATH=. python bench/compare_gemm.py [--threads 1 2] [--repeat N]
        [--quick] [--isa NAME] [--markdown] [--only TEXT ...]

Square cases run at every --threads count; the MLP cases at the largest one.
--only keeps the cases whose label (as in the table: "square 1024 NN
float64", "mlp 256x1024x2048 TN float32") contains one of the texts given,
to time a row again on its own.
"""
import argparse
import math
import platform
import shlex
import statistics
import sys
import time
from dataclasses import dataclass
from functools import partial

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import fastmlp
from fastmlp import _core
from timing import foreign_cpu, percent

SQUARE = [(1024, "float32", 0.95), (2048, "float32", 0.95), (1024, "float64", 0.90)]
MLP_SHAPES = [(128, 784, 256), (256, 1024, 2048), (64, 32, 64), (32, 512, 512), (1, 784, 256)]
MLP_GOAL = 1.3
ROLE = {"NN": "fwd", "TN": "dW", "NT": "dX"}  # training use of each orientation
RATE_SIZE = 2048  # float32 n x n x n by OpenBLAS: the machine's large-GEMM rate
RATE_FRACTION = 0.90  # the spec's fallback where a ratio goal is beyond the machine
LIBS = ("fastmlp", "numpy")


@dataclass(frozen=True)
class Case:
    """C[m,n] = op(A) @ op(B) in one orientation: NN, TN (A stored k x m) or
    NT (B stored n x k)."""

    name: str
    m: int
    k: int
    n: int
    orient: str
    dtype: str
    goal: float

    @property
    def flop(self):
        return 2 * self.m * self.n * self.k

    @property
    def label(self):
        return f"{self.name} {self.orient} {self.dtype}"

    def calls(self, seed=0):
        """{library: zero-argument call}: the same product, each library
        writing into its own preallocated output (returned by the call)."""
        rng = np.random.default_rng(seed)
        ta, tb = self.orient[0] == "T", self.orient[1] == "T"
        a = rng.uniform(-1, 1, (self.k, self.m) if ta else (self.m, self.k)).astype(self.dtype)
        b = rng.uniform(-1, 1, (self.n, self.k) if tb else (self.k, self.n)).astype(self.dtype)
        out = {lib: np.empty((self.m, self.n), self.dtype) for lib in LIBS}
        return {
            "fastmlp": partial(fastmlp.gemm, a, b, trans_a=ta, trans_b=tb, out=out["fastmlp"]),
            # transposed views: OpenBLAS reads them in place, no copy
            "numpy": partial(np.matmul, a.T if ta else a, b.T if tb else b, out=out["numpy"]),
        }


def all_cases():
    square = [Case(f"square {s}", s, s, s, "NN", dt, goal) for s, dt, goal in SQUARE]
    mlp = [Case(f"mlp {m}x{k}x{n}", m, k, n, o, "float32", MLP_GOAL)
           for m, k, n in MLP_SHAPES for o in ROLE]
    return square, mlp


def plan(thread_counts, only=None):
    """[(case, threads)]: square cases at every count, MLP cases at the largest;
    with `only`, just the cases whose label contains one of its texts."""
    square, mlp = all_cases()
    if only:
        square, mlp = ([c for c in cases if any(text in c.label for text in only)]
                       for cases in (square, mlp))
    return [(c, t) for t in thread_counts for c in square] + [(c, max(thread_counts)) for c in mlp]


# ---- timing ---------------------------------------------------------------

def sample(fn, calls):
    """Seconds per call, over `calls` back-to-back calls."""
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def calls_per_sample(fn, target):
    """Calls that make one sample last >= target seconds (doubles as warm-up)."""
    calls = 1
    while (elapsed := sample(fn, calls) * calls) < target:
        calls = max(2 * calls, math.ceil(1.2 * calls * target / max(elapsed, 1e-7)))
    return calls


@dataclass(frozen=True)
class Pacing:
    """How samples are taken: each lasts at least `sample` seconds, after
    `settle` seconds of sleep and then `warm` seconds of untimed calls."""

    sample: float
    settle: float
    warm: float


def settled(fn, pacing):
    """fn, ready to time: after a sleep in which the other library's idle
    threads stop spinning, and untimed calls until the cores are up to speed
    again (after 0.2 s idle, the first calls of a 300 µs product took up to
    3x as long, for about 3 ms; a 20 ms sample would carry that as a 10%
    loss)."""
    time.sleep(pacing.settle)
    start = time.perf_counter()
    fn()
    while time.perf_counter() - start < pacing.warm:
        fn()
    return fn


def time_alternating(fns, rounds, pacing):
    """Seconds per call of each fn, one sample per round, the fns in turn."""
    counts = [calls_per_sample(settled(fn, pacing), pacing.sample) for fn in fns]
    samples = [[] for _ in fns]
    for _ in range(rounds):
        for fn, calls, s in zip(fns, counts, samples):
            s.append(sample(settled(fn, pacing), calls))
    return samples


def mismatch(case, calls):
    """None when fastmlp's product matches numpy's, else what is wrong. The
    fastmlp output starts as NaN, so a product not written shows up too."""
    fm, ref = (calls[lib] for lib in LIBS)
    fm.keywords["out"].fill(np.nan)
    got, want = fm(), ref()
    tol = 1e-4 if case.dtype == "float32" else 1e-11
    scale = float(np.max(np.abs(want), initial=1.0))
    if np.allclose(got, want, rtol=tol, atol=tol * scale):
        return None
    err = float(np.nanmax(np.abs(got - want))) if not np.isnan(got).all() else math.nan
    return (f"fastmlp.gemm disagrees with numpy for {case.label} "
            f"(max abs error {err:.3g}, |C| up to {scale:.3g})")


def rate_call():
    """The product that measures the machine's large-GEMM rate (GFLOP, call)."""
    ref = Case("rate", RATE_SIZE, RATE_SIZE, RATE_SIZE, "NN", "float32", 0.0)
    return ref.flop / 1e9, ref.calls()["numpy"]


def run_case(case, threads, rounds, pacing, rate):
    """{library: seconds per call, one per round, and "rate": the large-GEMM
    rate's GFLOP/s in the same rounds}, all pinned to `threads`. The rate is
    timed beside each case because this machine's speed drifts: for 20 s at
    a time, both libraries ran about 20% slower (other tenants of the host,
    unseen from inside)."""
    calls = case.calls()
    rate_gflop, rate_fn = rate
    with threadpool_limits(limits=threads):
        fastmlp.set_num_threads(threads)
        blas = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        if fastmlp.get_num_threads() != threads or not set(blas) <= {threads}:
            sys.exit(f"error: could not pin {threads} thread(s): "
                     f"fastmlp has {fastmlp.get_num_threads()}, BLAS {blas}")
        if error := mismatch(case, calls):
            sys.exit(f"error: {error}; not timing a wrong result")
        others = foreign_cpu()
        *samples, rate_times = time_alternating([calls[lib] for lib in LIBS] + [rate_fn],
                                                rounds, pacing)
    fastmlp.set_num_threads(None)
    return {**dict(zip(LIBS, samples)), "rate": [rate_gflop / t for t in rate_times]}, others()


# ---- report ---------------------------------------------------------------

def fmt_time(s):
    return f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.2f} ms"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def header():
    libs = "; ".join(
        f"{i['user_api']}: " + " ".join(str(i[key]) for key in (
            "internal_api", "version", "architecture", "threading_layer", "filepath") if i.get(key))
        for i in threadpool_info())
    return [
        f"command: {shlex.join([sys.executable, *sys.argv])}",
        f"cpu: {cpu_model()} ({platform.machine()}), python {platform.python_version()}",
        f"fastmlp: {fastmlp.config()}",
        f"numpy {np.__version__}; {libs}",
    ]


def table(results, markdown):
    cols = ["case", "orient", "dtype", "thr", "fastmlp", "numpy", "fastmlp GF/s",
            "numpy GF/s", "ratio", "goal", "% rate", "ok", "spread", "other"]
    rows = []
    for (case, t), samples, others in results:
        times = {lib: statistics.median(samples[lib]) for lib in LIBS}
        gflops = {lib: case.flop / times[lib] / 1e9 for lib in LIBS}
        spread = max((max(samples[lib]) - min(samples[lib])) / times[lib] for lib in LIBS)
        ratio = times["numpy"] / times["fastmlp"]
        # round by round, so that a slow phase of the machine cancels out
        pct = statistics.median(case.flop / 1e9 / t_fm / r
                                for t_fm, r in zip(samples["fastmlp"], samples["rate"]))
        ok = "pass" if ratio >= case.goal else "pass*" if pct >= RATE_FRACTION else "FAIL"
        orient = f"{case.orient} ({ROLE[case.orient]})" if case.name.startswith("mlp") else case.orient
        rows.append([case.name, orient, case.dtype, str(t), fmt_time(times["fastmlp"]),
                     fmt_time(times["numpy"]), f"{gflops['fastmlp']:.1f}",
                     f"{gflops['numpy']:.1f}", f"{ratio:.2f}x", f">={case.goal:.2f}x",
                     f"{math.floor(100 * pct)}%", ok, f"{100 * spread:.0f}%",
                     percent(others)])
    if markdown:
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    else:
        widths = [max(len(r[i]) for r in [cols, *rows]) for i in range(len(cols))]
        fmt = lambda r: "  ".join(v.rjust(w) if i > 2 else v.ljust(w)  # noqa: E731
                                  for i, (v, w) in enumerate(zip(r, widths)))
        lines = [fmt(cols), "-" * len(fmt(cols)), *map(fmt, rows)]
    passed = sum(r[-3] != "FAIL" for r in rows)
    lines += ["", f"{passed}/{len(rows)} cases meet their goal. ratio = numpy time / fastmlp "
              "time (>1: fastmlp faster); % rate = fastmlp GFLOP/s as % of the large-GEMM "
              f"rate (OpenBLAS at {RATE_SIZE}^3 float32, timed in every round beside the case; "
              "median over rounds); "
              f"pass* = ratio goal missed but >= {RATE_FRACTION:.0%} of that rate; "
              "spread = (max - min) / median of the samples, the larger of the two libraries; "
              "other = CPU share other processes took meanwhile (high: rerun that row)."]
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], metavar="T",
                   help="thread counts (default: 1 2); MLP cases use the largest")
    p.add_argument("--repeat", type=int, help="timed rounds per case (default 11, --quick 3)")
    p.add_argument("--quick", action="store_true", help="few rounds, for smoke testing")
    p.add_argument("--isa", help=f"fastmlp kernel set (available: {_core.isas_available()})")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--min-sample", type=float, default=0.02, metavar="S",
                   help="seconds one timing sample lasts at least (default 0.02)")
    p.add_argument("--settle", type=float, default=0.2, metavar="S",
                   help="seconds of sleep before each sample (default 0.2)")
    p.add_argument("--warm", type=float, default=0.02, metavar="S",
                   help="seconds of untimed calls after the sleep (default 0.02)")
    p.add_argument("--only", nargs="+", metavar="TEXT",
                   help='only the cases whose label contains one of these ("square 1024 NN '
                        'float64", "256x1024x2048 TN")')
    args = p.parse_args(argv)
    rounds = args.repeat if args.repeat is not None else 3 if args.quick else 11
    if min(args.threads) < 1 or rounds < 1:
        p.error("--threads and --repeat must be >= 1")
    if args.isa:
        try:
            _core.set_isa(args.isa)
        except (ValueError, RuntimeError) as e:
            p.error(str(e))
    threads = sorted(set(args.threads))
    cases = plan(threads, args.only)
    if not cases:
        p.error(f"no case matches --only {' '.join(map(shlex.quote, args.only))}")
    pacing = Pacing(args.min_sample, args.settle, args.warm)

    print("\n".join(header()), flush=True)
    rate = rate_call()
    results = []
    for case, t in cases:
        print(f"  timing {case.label} at {t} thread(s) ...", file=sys.stderr, flush=True)
        results.append(((case, t), *run_case(case, t, rounds, pacing, rate)))

    for t in threads:
        rates = sorted(r for (_, ct), samples, _ in results if ct == t for r in samples["rate"])
        print(f"large-GEMM rate at {t} thread(s) (OpenBLAS, {RATE_SIZE}^3 float32, every round "
              f"of every case): median {statistics.median(rates):.1f} GFLOP/s, "
              f"range {rates[0]:.1f}-{rates[-1]:.1f}")
    print(f"rounds per case: {rounds} (medians), sample >= {pacing.sample * 1e3:.0f} ms, "
          f"after {pacing.settle * 1e3:.0f} ms of sleep and {pacing.warm * 1e3:.0f} ms "
          "of untimed calls\n")
    print("\n".join(table(results, args.markdown)))


if __name__ == "__main__":
    main()
