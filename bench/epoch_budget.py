"""Where fastmlp's training epoch goes: its GEMMs, and its optimizer.

    PYTHONPATH=. python bench/epoch_budget.py [tabular|mnist|wide] [--rounds 5]
                                              [--threads 2]

For a workload of compare_train.py, times the GEMMs of one mini-batch, each
called on its own through fastmlp.gemm at the shapes the training step uses
(forward X.W, dW = X^T.dY, dX = dY.W^T for every layer but the first),
and multiplies their sum by the batches in an epoch: a floor that no
epoch at this GEMM speed can go below. Then it trains whole epochs with
Adam and with plain SGD, alternating, and reports the difference: the cost
of Adam's pass over the weights, gradients and moments.
Medians over --rounds.
"""
import argparse
import statistics
import time

import numpy as np

import fastmlp as fm
from compare_train import WORKLOADS
from timing import median_times


def batch_gemms(widths, batch, rng):
    """[(label, flop, call)] for one training step's products."""
    products = []
    for i, (fan_in, fan_out) in enumerate(zip(widths, widths[1:])):
        x = rng.standard_normal((batch, fan_in), dtype=np.float32)
        w = rng.standard_normal((fan_in, fan_out), dtype=np.float32)
        dy = rng.standard_normal((batch, fan_out), dtype=np.float32)
        flop = 2 * batch * fan_in * fan_out
        products.append((f"forward {batch}x{fan_in}x{fan_out} NN", flop,
                         lambda x=x, w=w: fm.gemm(x, w)))
        products.append((f"dW {fan_in}x{batch}x{fan_out} TN", flop,
                         lambda x=x, dy=dy: fm.gemm(x, dy, trans_a=True)))
        if i > 0:  # the inputs need no gradient
            products.append((f"dX {batch}x{fan_out}x{fan_in} NT", flop,
                             lambda dy=dy, w=w: fm.gemm(dy, w, trans_b=True)))
    return products


def model(w, optimizer):
    layers = [fm.Dense(h, activation="relu") for h in w.hidden]
    layers.append(fm.Dense(w.outputs, activation=None if w.regression else "softmax"))
    m = fm.Sequential(layers, input_dim=w.features, seed=0)
    m.compile(loss="mse" if w.regression else "cross_entropy", optimizer=optimizer)
    return m


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workload", nargs="?", default="mnist", choices=list(WORKLOADS))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    fm.set_num_threads(args.threads)
    w = WORKLOADS[args.workload]
    widths = (w.features, *w.hidden, w.outputs)
    batches = -(-w.rows // w.batch)
    print(f"{w.name}: {'-'.join(map(str, widths))}, batch {w.batch}, {batches} batches, "
          f"{args.threads} thread(s), fastmlp {fm.__version__} ({fm.config()['isa']})\n")

    products = batch_gemms(widths, w.batch, np.random.default_rng(0))
    times = median_times([(label, call) for label, _, call in products], args.rounds)
    total = 0.0
    for label, flop, _ in products:
        t = times[label]
        total += t
        print(f"  {label:26s} {t * 1e6:9.1f} us  {flop / t / 1e9:6.1f} GFLOP/s")
    print(f"GEMMs of one batch: {total * 1e6:.0f} us; x {batches} batches: "
          f"{total * batches:.3f} s per epoch\n")

    X, y = w.data()
    models = {"adam": model(w, fm.optim.Adam(lr=1e-3)), "sgd": model(w, fm.optim.SGD(lr=1e-3))}
    epochs = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, m in models.items():
            start = time.perf_counter()
            m.fit(X, y, epochs=1, batch_size=w.batch, shuffle=True, verbose=0)
            epochs[name].append(time.perf_counter() - start)
    adam, sgd = (statistics.median(epochs[name]) for name in models)
    print(f"epoch with Adam {adam:.3f} s, with SGD {sgd:.3f} s: Adam's update "
          f"{(adam - sgd) * 1e3:.0f} ms; the GEMMs above {total * batches / adam:.0%} "
          "of Adam's epoch")


if __name__ == "__main__":
    main()
