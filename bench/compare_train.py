"""One training epoch of fastmlp, PyTorch (CPU) and scikit-learn, side by side.

    python bench/compare_train.py [--workloads tabular mnist wide] [--rounds 5]
                                  [--threads 2] [--no-sklearn] [--markdown]

Same data, same network, float32, Adam (lr 1e-3), shuffled mini-batches. In
each round every library trains one more epoch, one after the other (each
round starting with the next library, so none always runs first), so
machine noise hits all alike; the table gives the median epoch time and the
ratio to fastmlp, and the final training loss of each model, computed the same
way (NumPy, from each model's predictions) after the last round; PyTorch
starts from fastmlp's initial weights, scikit-learn from its own. All
libraries are pinned to the same thread count (threadpoolctl, torch,
fastmlp). Before the timed rounds, each library trains a throwaway model on
a few batches, so that none pays for its first call (PyTorch's first epoch
is about 40% slower than the next) in a timed one. The column "other" is
the share of the machine's CPU time that other processes took during the
rounds: a ratio measured while it is high is not worth much.

Each round also times OpenBLAS on a 2048^3 float32 product (numpy.matmul),
the machine's large-GEMM rate, and the table gives fastmlp's epoch as a
share of it: the epoch's matrix products (forward, dW, and dX for every
layer but the first) in GFLOP/s against that rate, the median over rounds.
Where a ratio goal is beyond the machine, that share is the figure to show.
"""
import argparse
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

import fastmlp as fm
from timing import foreign_cpu, percent, per_call

SETTLE_S = 0.2  # idle thread pools of the previous library stop spinning
RATE_SIZE = 2048  # float32 n x n x n by OpenBLAS: the machine's large-GEMM rate


@dataclass
class Workload:
    name: str
    rows: int
    features: int
    hidden: tuple
    outputs: int  # 1: regression with mse; else softmax classes with cross-entropy
    batch: int
    goal: float  # PyTorch epoch time / fastmlp epoch time to reach

    @property
    def regression(self):
        return self.outputs == 1

    @property
    def epoch_flop(self):
        """The floating-point operations of an epoch's matrix products."""
        widths = (self.features, *self.hidden, self.outputs)
        products = [a * b for a, b in zip(widths, widths[1:])]
        return 2 * self.rows * (2 * sum(products) + sum(products[1:]))

    def data(self, seed=0):
        """X standard normal; labels argmax(X R), or y = tanh(X w)."""
        rng = np.random.default_rng(seed)
        X = rng.standard_normal((self.rows, self.features), dtype=np.float32)
        if self.regression:
            w = rng.standard_normal(self.features, dtype=np.float32) / np.sqrt(self.features)
            return X, np.tanh(X @ w).astype(np.float32)
        R = rng.standard_normal((self.features, self.outputs), dtype=np.float32)
        return X, np.argmax(X @ R, axis=1)


WORKLOADS = {
    w.name: w for w in (
        Workload("tabular", 100_000, 32, (64, 64), 1, 64, 20.0),
        Workload("mnist", 60_000, 784, (256, 128), 10, 128, 3.0),
        Workload("wide", 20_000, 1024, (2048, 2048), 10, 256, 1.1),
    )
}


def final_loss(w, y, outputs):
    """mse, or mean cross-entropy from class probabilities."""
    if w.regression:
        return float(np.mean((outputs.reshape(-1) - y) ** 2))
    p = np.clip(outputs[np.arange(len(y)), y], 1e-12, None)
    return float(-np.mean(np.log(p)))


class FastMLP:
    name = "fastmlp"

    def __init__(self, w, X, y):
        layers = [fm.Dense(h, activation="relu") for h in w.hidden]
        layers.append(fm.Dense(w.outputs, activation=None if w.regression else "softmax"))
        self.model = fm.Sequential(layers, input_dim=w.features, seed=0)
        self.model.compile(loss="mse" if w.regression else "cross_entropy",
                           optimizer=fm.optim.Adam(lr=1e-3))
        self.w, self.X, self.y, self.epoch = w, X, y, 0

    def train_epoch(self):
        self.model.fit(self.X, self.y, epochs=self.epoch + 1, initial_epoch=self.epoch,
                       batch_size=self.w.batch, verbose=0)
        self.epoch += 1

    def outputs(self):
        return self.model.predict(self.X)


class Torch:
    name = "pytorch"

    def __init__(self, w, X, y, start_weights):
        """start_weights: fastmlp's initial [W1 (in, out), b1, ...], so both
        start from the same point and their losses can be compared."""
        import torch

        torch.manual_seed(0)
        widths = (w.features, *w.hidden, w.outputs)
        mods = []
        for i, (a, b) in enumerate(zip(widths, widths[1:])):
            linear = torch.nn.Linear(a, b)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(start_weights[2 * i].T.copy()))
                linear.bias.copy_(torch.from_numpy(start_weights[2 * i + 1]))
            mods.append(linear)
            if i < len(widths) - 2:
                mods.append(torch.nn.ReLU())
        self.torch, self.w = torch, w
        self.net = torch.nn.Sequential(*mods)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3)
        self.loss = torch.nn.MSELoss() if w.regression else torch.nn.CrossEntropyLoss()
        self.X = torch.from_numpy(X)
        self.y = torch.from_numpy(y if w.regression else y.astype(np.int64))

    def train_epoch(self):
        """The idiomatic fast loop: a random permutation, index the tensors."""
        order = self.torch.randperm(len(self.X))
        for start in range(0, len(self.X), self.w.batch):
            idx = order[start:start + self.w.batch]
            self.opt.zero_grad()
            out = self.net(self.X[idx])
            loss = self.loss(out.squeeze(1) if self.w.regression else out, self.y[idx])
            loss.backward()
            self.opt.step()

    def outputs(self):
        with self.torch.no_grad():
            out = self.net(self.X)
            return (out if self.w.regression else self.torch.softmax(out, 1)).numpy()


class SkLearn:
    name = "sklearn"

    def __init__(self, w, X, y, start_weights):
        """scikit-learn draws its own initial weights (Glorot) on the first
        partial_fit; start_weights is unused."""
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        cls = MLPRegressor if w.regression else MLPClassifier
        self.model = cls(hidden_layer_sizes=w.hidden, activation="relu", solver="adam",
                         learning_rate_init=1e-3, batch_size=w.batch, alpha=0.0,
                         shuffle=True, random_state=0)
        self.w, self.X, self.y = w, X, y

    def train_epoch(self):
        """partial_fit is one pass over the data in shuffled mini-batches."""
        if self.w.regression:
            self.model.partial_fit(self.X, self.y)
        else:
            self.model.partial_fit(self.X, self.y, classes=np.arange(self.w.outputs))

    def outputs(self):
        if self.w.regression:
            return self.model.predict(self.X)
        return self.model.predict_proba(self.X)


def gemm_rate_timer():
    """A function that times OpenBLAS on a RATE_SIZE^3 float32 product, after
    a pause, and returns its FLOP/s (the operands are made once)."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((RATE_SIZE, RATE_SIZE), dtype=np.float32) for _ in range(2))
    out = np.empty_like(a)

    def gemm_rate():
        time.sleep(SETTLE_S)
        return 2 * RATE_SIZE**3 / per_call(lambda: np.matmul(a, b, out=out), min_time=0.1)

    return gemm_rate


def make_models(libraries, w, X, y):
    """One model per library, PyTorch's starting from fastmlp's weights."""
    ours = FastMLP(w, X, y)
    start = ours.model.get_weights()
    return [ours] + [lib(w, X, y, start) for lib in libraries if lib is not FastMLP]


WARM_BATCHES = 20


def run(w, libraries, rounds, threads):
    """({library: median s/epoch}, {library: final loss}, median share of
    the large-GEMM rate that fastmlp's epoch reaches, other processes' share
    of the CPU during the rounds)."""
    X, y = w.data()
    times = {lib.name: [] for lib in libraries}
    gemm_rate, shares = gemm_rate_timer(), []
    with threadpool_limits(limits=threads):
        fm.set_num_threads(threads)
        try:
            import torch

            torch.set_num_threads(threads)
        except ImportError:
            pass
        warm = WARM_BATCHES * w.batch
        for model in make_models(libraries, w, X[:warm], y[:warm]):
            model.train_epoch()
        # made after the warm-up, which would otherwise move torch's seeded RNG
        models = make_models(libraries, w, X, y)
        others = foreign_cpu()
        for r in range(rounds):
            for model in models[r % len(models):] + models[:r % len(models)]:
                time.sleep(SETTLE_S)
                start = time.perf_counter()
                model.train_epoch()
                times[model.name].append(time.perf_counter() - start)
                print(f"  {w.name} round {r + 1}/{rounds} {model.name}: "
                      f"{times[model.name][-1]:.3f} s", file=sys.stderr)
            shares.append(w.epoch_flop / times["fastmlp"][-1] / gemm_rate())
        others = others()
        losses = {model.name: final_loss(w, y, model.outputs()) for model in models}
    return ({name: statistics.median(t) for name, t in times.items()}, losses,
            statistics.median(shares), others)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    ap.add_argument("--rounds", type=int, default=5, help="epochs timed per library")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-sklearn", action="store_true", help="time fastmlp and PyTorch only")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()

    libraries = [FastMLP, Torch] + ([] if args.no_sklearn else [SkLearn])
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "unknown")
    print(f"command: python {' '.join(sys.argv)}")
    print(f"cpu: {cpu}; threads: {args.threads}; rounds: {args.rounds} (median epoch)")
    print(f"fastmlp {fm.__version__} ({fm.config()['isa']})", end="")
    for mod in ("torch", "sklearn"):
        try:
            print(f", {mod} {__import__(mod).__version__}", end="")
        except ImportError:
            pass
    print("\n")

    header = ["workload", "net", "batch", "fastmlp s/epoch", "pytorch s/epoch", "vs pytorch",
              "goal", "fastmlp % rate", "sklearn s/epoch", "vs sklearn",
              "final loss fm / torch / sk", "other"]
    rows = []
    for name in args.workloads:
        w = WORKLOADS[name]
        med, losses, share, others = run(w, libraries, args.rounds, args.threads)
        sk = med.get("sklearn")
        rows.append([
            f"{w.name} {w.rows}x{w.features}", "-".join(map(str, (w.features, *w.hidden, w.outputs))),
            str(w.batch), f"{med['fastmlp']:.3f}", f"{med['pytorch']:.3f}",
            f"{med['pytorch'] / med['fastmlp']:.1f}x", f">={w.goal}x", f"{100 * share:.0f}%",
            f"{sk:.3f}" if sk else "-", f"{sk / med['fastmlp']:.1f}x" if sk else "-",
            " / ".join(f"{losses[k]:.4g}" for k in ("fastmlp", "pytorch", "sklearn") if k in losses),
            percent(others),
        ])
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
        for row in [header, *rows]:
            print("  ".join(cell.ljust(wd) for cell, wd in zip(row, widths)))
    print(f"\n% rate: the GFLOP/s of fastmlp's epoch (its matrix products) as a share of "
          f"OpenBLAS's on a {RATE_SIZE}^3 float32 product, timed in every round; median.\n"
          "final loss: PyTorch starts from fastmlp's initial weights, scikit-learn from its "
          "own.\nother: the share of all cores' time that other processes took during the "
          "rounds.")


if __name__ == "__main__":
    main()
