"""Prediction latency of a 784-256-128-10 MLP: fastmlp against PyTorch (CPU).

    python bench/compare_predict.py [--threads 2] [--rounds 15] [--markdown]

One row (the cost of a call from Python: the goal is >= 15x PyTorch, about
10 us) and 10,000 rows (>= 1.0x). Both libraries are pinned to the same
thread count and timed alternately; the table gives medians. The column
"layer 1 alone" times fastmlp.gemm of the same rows by the model's first
weight matrix (784 x 256, 800 KB), a part of the work that a prediction
cannot skip: for one row it is a pass over those weights, so it shows how
close a prediction is to the memory floor of this machine. Each timing
starts after a pause: two OpenMP runtimes in one process (PyTorch bundles
its own) keep their idle threads spinning for a while after each call, and
on a small machine those steal the cores the other library needs. The
column "other" is the share of the machine's CPU time that other processes
took while a case was timed.
"""
import argparse
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

import fastmlp as fm
from timing import foreign_cpu, percent, per_call

WIDTHS = (784, 256, 128, 10)
CASES = ((1, 15.0), (10_000, 1.0))  # (rows, goal: PyTorch time / fastmlp time)


def models():
    """The same weights in both libraries."""
    import torch

    net = fm.Sequential([fm.Dense(256, activation="relu"), fm.Dense(128, activation="relu"),
                         fm.Dense(10, activation="softmax")], input_dim=784, seed=0)
    layers = []
    for i, (a, b) in enumerate(zip(WIDTHS, WIDTHS[1:])):
        lin = torch.nn.Linear(a, b)
        w, bias = net.get_weights()[2 * i: 2 * i + 2]
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.T.copy()))
            lin.bias.copy_(torch.from_numpy(bias))
        layers += [lin, torch.nn.ReLU()] if i < 2 else [lin, torch.nn.Softmax(dim=1)]
    return net, torch.nn.Sequential(*layers).eval()


SETTLE_S = 0.2  # the other library's idle threads stop spinning


def settled_per_call(fn):
    """Seconds per call over at least 50 ms of calls, after letting the
    machine settle."""
    time.sleep(SETTLE_S)
    return per_call(fn, min_time=0.05)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    fm.set_num_threads(args.threads)
    net, tnet = models()
    rng = np.random.default_rng(0)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "unknown")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"cpu: {cpu}; threads: {args.threads}; fastmlp {fm.__version__} "
          f"({fm.config()['isa']}), torch {torch.__version__}\n")
    header = ["rows", "fastmlp", "pytorch", "ratio", "goal", "layer 1 alone", "fastmlp / it",
              "other"]
    w1 = net.layers[0].weights[0]
    rows = []
    with threadpool_limits(limits=args.threads), torch.inference_mode():
        for n, goal in CASES:
            X = rng.standard_normal((n, 784), dtype=np.float32)
            Xt = torch.from_numpy(X)
            ours, theirs = net.predict(X), tnet(Xt).numpy()
            if not np.allclose(ours, theirs, rtol=1e-4, atol=1e-6):
                sys.exit(f"predictions differ for {n} rows")
            z1 = np.empty((n, w1.shape[1]), np.float32)
            t_fm, t_torch, t_layer1 = [], [], []
            others = foreign_cpu()
            for _ in range(args.rounds):
                t_fm.append(settled_per_call(lambda: net.predict(X)))
                t_torch.append(settled_per_call(lambda: tnet(Xt)))
                t_layer1.append(settled_per_call(lambda: fm.gemm(X, w1, out=z1)))
            f, t, l1 = (statistics.median(ts) for ts in (t_fm, t_torch, t_layer1))
            unit, scale = ("us", 1e6) if f < 1e-3 else ("ms", 1e3)
            rows.append([str(n), f"{f * scale:.1f} {unit}", f"{t * scale:.1f} {unit}",
                         f"{t / f:.1f}x", f">={goal}x", f"{l1 * scale:.1f} {unit}",
                         f"{f / l1:.2f}", percent(others())])
    if args.markdown:
        print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        for row in [header, *rows]:
            print("  ".join(cell.ljust(12) for cell in row))


if __name__ == "__main__":
    main()
