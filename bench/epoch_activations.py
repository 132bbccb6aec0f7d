"""fastmlp's training epoch for each hidden activation: what an activation
costs next to ReLU.

    PYTHONPATH=. python bench/epoch_activations.py [--rows 20000] [--rounds 3] [--dtype float64]

A 784-256-128-10 network (softmax output, cross-entropy, Adam), batches of
128 rows of standard normal data, 2 threads; the hidden layers use each
activation in turn. Prints the fastest of --rounds epochs and its ratio to
ReLU's. No peer runs here: this measures fastmlp's own element-wise kernels.
"""
import argparse
import time

import numpy as np

import fastmlp as fm

ACTIVATIONS = ["relu", "leaky_relu", "elu", "sigmoid", "tanh", "silu", "softplus", "gelu"]


def epoch_seconds(activation, X, y, rounds):
    model = fm.Sequential([fm.Dense(256, activation=activation),
                           fm.Dense(128, activation=activation),
                           fm.Dense(10, activation="softmax")], input_dim=X.shape[1],
                          dtype=X.dtype, seed=0)
    model.compile("cross_entropy", "adam")
    model.fit(X, y, epochs=1, batch_size=128, verbose=0)  # warm-up: allocations, caches
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        model.fit(X, y, epochs=1, batch_size=128, verbose=0)
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = ap.parse_args()
    fm.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.rows, 784)).astype(args.dtype)
    y = rng.integers(0, 10, args.rows)
    seconds = {act: epoch_seconds(act, X, y, args.rounds) for act in ACTIVATIONS}
    for act, s in seconds.items():
        print(f"{act:11s} {s:.3f} s  {s / seconds['relu']:.2f}x relu")


if __name__ == "__main__":
    main()
