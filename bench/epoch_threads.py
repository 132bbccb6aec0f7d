"""fastmlp's training epoch on 1 and 2 threads: how a workload scales.

    PYTHONPATH=. python bench/epoch_threads.py [tabular|mnist|wide] [--epochs 7]
                                               [--threads 1 2] [--pause 0]

The workloads and network are compare_train.py's (float32, Adam, shuffled);
for each thread count a fresh model trains --epochs epochs, and the script
prints the median and fastest epoch and the median time per batch. No peer
runs in the process, so this isolates fastmlp's own threading (for instance,
to compare two builds by running it on each in turn). --pause S sleeps S
seconds before each epoch, as compare_train.py does between libraries, so an
epoch starts on idle cores.
"""
import argparse
import statistics
import time

import fastmlp as fm
from compare_train import WORKLOADS, FastMLP


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workload", nargs="?", default="tabular", choices=list(WORKLOADS))
    ap.add_argument("--epochs", type=int, default=7)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--pause", type=float, default=0.0, help="seconds of sleep before each epoch")
    args = ap.parse_args()
    w = WORKLOADS[args.workload]
    X, y = w.data()
    batches = -(-w.rows // w.batch)
    for threads in args.threads:
        fm.set_num_threads(threads)
        model = FastMLP(w, X, y)
        times = []
        for _ in range(args.epochs):
            time.sleep(args.pause)
            start = time.perf_counter()
            model.train_epoch()
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        print(f"{w.name}: {threads} thread(s): median epoch {median:.4f} s, "
              f"fastest {min(times):.4f} s, {median / batches * 1e6:.1f} µs/batch")


if __name__ == "__main__":
    main()
