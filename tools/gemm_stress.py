"""Random GEMMs compared bit for bit across thread counts.

    PYTHONPATH=. python tools/gemm_stress.py [--seconds 60] [--seed 1]

Draws shapes across the kernels' tile and cache-block edges (NC, MC, KC),
every orientation, both dtypes and every ISA this CPU runs; computes each
product on 1 thread, then three times each on 2, 3 and 4 threads, and
reports any product whose bits differ. The thread tests in tests/ check
chosen cases; this is the long, random search that finds a rare race.
Exits 1 when a difference was found.
"""
import argparse
import sys
import time

import numpy as np

import fastmlp as fm
from fastmlp import _core

ROWS = [1, 2, 3, 5, 7, 13, 40, 77, 150, 290, 500]
COLUMNS = [1, 3, 10, 16, 33, 100, 257, 1000, 4081, 4200, 8200]
DEPTHS = [1, 2, 9, 100, 257, 300, 700]
MAX_FLOPS = 3e8


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    deadline = time.monotonic() + args.seconds
    products = differences = 0
    while time.monotonic() < deadline:
        _core.set_isa(str(rng.choice(_core.isas_available())))
        dtype = rng.choice([np.float32, np.float64])
        m, n, k = int(rng.choice(ROWS)), int(rng.choice(COLUMNS)), int(rng.choice(DEPTHS))
        if m * n * k > MAX_FLOPS:
            continue
        trans_a, trans_b = bool(rng.integers(2)), bool(rng.integers(2))
        a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
        b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
        fm.set_num_threads(1)
        reference = fm.gemm(a, b, trans_a=trans_a, trans_b=trans_b).tobytes()
        for threads in (2, 3, 4):
            fm.set_num_threads(threads)
            for _ in range(3):
                products += 1
                if fm.gemm(a, b, trans_a=trans_a, trans_b=trans_b).tobytes() != reference:
                    differences += 1
                    print(f"differs: {_core.active_isa()} {np.dtype(dtype).name} m={m} n={n} k={k}"
                          f" trans_a={trans_a} trans_b={trans_b} threads={threads}", flush=True)
    print(f"{products} products compared with 1 thread's, {differences} differed")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
