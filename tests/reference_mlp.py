"""A float64 NumPy multilayer perceptron: the oracle the MLP engine's tests
compare to. (Not a test module: pytest does not collect it.)

Written from the documented formulas, not from csrc/nn: PyTorch's activations,
losses and optimizer updates; Keras's weight penalties and sample weights. A
network is a list of layer dicts:

    {"kind": "dense", "act": "relu", "param": 0.0, "W": (in, out), "b": (out,),
     "l1": 0.0, "l2": 0.0, "max_norm": None}
    {"kind": "maxout", "pieces": 2, "W": (in, units * pieces), "b": ..., ...}
    {"kind": "dropout", "rate": 0.0}          (the identity: no dropout here)

`from_model(model)` reads one from a fastmlp Sequential; `weights(net)` gives
the arrays in get_weights order.
"""
import math

import numpy as np

# Element-wise erf (NumPy has none; the tests need no SciPy).
erf = np.vectorize(math.erf, otypes=[np.float64])


# ---- activations ----------------------------------------------------------

def _sigmoid(x):
    # 1 / (1 + e^-x) without overflow: e^-|x| is at most 1.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def activation(name, x, p=0.0):
    """f(x), element-wise (softmax: row-wise)."""
    x = np.asarray(x, dtype=np.float64)
    if name in ("linear", "identity"):
        return x.copy()
    if name == "sigmoid":
        return _sigmoid(x)
    if name == "tanh":
        return np.tanh(x)
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "leaky_relu":
        return np.where(x > 0, x, p * x)
    if name == "elu":
        return np.where(x > 0, x, p * np.expm1(np.minimum(x, 0.0)))
    if name == "softplus":  # log(1 + e^x), linear above 20 (torch.nn.Softplus)
        return np.where(x > 20, x, np.log1p(np.exp(np.minimum(x, 20.0))))
    if name == "gelu":  # exact: x Phi(x)
        return x * 0.5 * (1 + erf(x / math.sqrt(2)))
    if name in ("silu", "swish"):
        return x * _sigmoid(x)
    if name == "softmax":
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise ValueError(name)


def activation_derivative(name, x, p=0.0):
    """f'(x), element-wise (not for softmax)."""
    x = np.asarray(x, dtype=np.float64)
    if name in ("linear", "identity"):
        return np.ones_like(x)
    if name == "sigmoid":
        s = _sigmoid(x)
        return s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(x) ** 2
    if name == "relu":
        return (x > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(x > 0, 1.0, p)
    if name == "elu":
        return np.where(x > 0, 1.0, p * np.exp(np.minimum(x, 0.0)))
    if name == "softplus":
        return np.where(x > 20, 1.0, _sigmoid(x))
    if name == "gelu":
        return 0.5 * (1 + erf(x / math.sqrt(2))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    if name in ("silu", "swish"):
        s = _sigmoid(x)
        return s + x * s * (1 - s)
    raise ValueError(name)


def _log_softmax(z):
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


# ---- losses ---------------------------------------------------------------

def row_losses(loss, z, a, t, delta=1.0):
    """Each row's loss (before sample weights): the mean over its elements,
    the sum over classes for cross-entropy. z: the output layer's
    pre-activation, a: its output, t: targets (rows, outputs), hinge labels
    already -1/1."""
    d = a - t
    if loss == "mse":
        return (d * d).mean(axis=1)
    if loss == "mae":
        return np.abs(d).mean(axis=1)
    if loss == "huber":
        ad = np.abs(d)
        return np.where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta)).mean(axis=1)
    if loss == "hinge":
        return np.maximum(0.0, 1 - t * a).mean(axis=1)
    if loss == "cross_entropy":
        return -(t * _log_softmax(z)).sum(axis=1)
    if loss == "kl_divergence":
        logt = np.log(np.where(t > 0, t, 1.0))
        return (np.where(t > 0, t * (logt - _log_softmax(z)), 0.0)).mean(axis=1)
    if loss == "binary_cross_entropy":
        # -(t log s(z) + (1 - t) log(1 - s(z))) = softplus(z) - t z, stable
        softplus = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))
        return (softplus - t * z).mean(axis=1)
    raise ValueError(loss)


def loss_gradient(loss, z, a, t, delta=1.0):
    """(d row_loss / d a, or d row_loss / d z for the losses fused with their
    output), and whether it is with respect to z."""
    cols = t.shape[1]
    d = a - t
    if loss == "mse":
        return 2 * d / cols, False
    if loss == "mae":
        return np.sign(d) / cols, False
    if loss == "huber":
        return np.where(np.abs(d) < delta, d, delta * np.sign(d)) / cols, False
    if loss == "hinge":
        return np.where(t * a < 1, -t, 0.0) / cols, False
    if loss == "cross_entropy":
        p = activation("softmax", z)
        return p * t.sum(axis=1, keepdims=True) - t, True
    if loss == "kl_divergence":
        p = activation("softmax", z)
        return (p * t.sum(axis=1, keepdims=True) - t) / cols, True
    if loss == "binary_cross_entropy":
        return (_sigmoid(z) - t) / cols, True
    raise ValueError(loss)


def hinge_labels(y):
    """0/1 labels become -1/1; -1/1 stay."""
    y = np.asarray(y, dtype=np.float64)
    return 2 * y - 1 if set(np.unique(y).tolist()) <= {0.0, 1.0} else y


def one_hot(labels, classes):
    t = np.zeros((len(labels), classes))
    t[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)] = 1
    return t


# ---- the network ----------------------------------------------------------

def from_model(model):
    """The layers of a built fastmlp Sequential, with float64 copies of its weights."""
    net = []
    for layer in model.layers:
        kind = layer.kind
        if kind == "dropout":
            net.append({"kind": "dropout", "rate": layer.rate})
            continue
        entry = {"kind": kind, "W": layer.weights[0].astype(np.float64),
                 "b": layer.weights[1].astype(np.float64), "l1": layer.l1, "l2": layer.l2,
                 "max_norm": layer.max_norm, "pieces": layer.pieces}
        if kind == "dense":
            entry["act"], entry["param"] = layer.activation.name, layer.activation.param
        net.append(entry)
    return net


def weights(net):
    return [w for layer in net if layer["kind"] != "dropout" for w in (layer["W"], layer["b"])]


def forward(net, x):
    """The output, and per layer (input, z, output) for backward."""
    cache = []
    a = np.asarray(x, dtype=np.float64)
    for layer in net:
        inp = a
        if layer["kind"] == "dropout":  # inference, or training with rate 0
            z = a = inp
        elif layer["kind"] == "maxout":
            z = inp @ layer["W"] + layer["b"]
            a = z.reshape(len(z), -1, layer["pieces"]).max(axis=2)
        else:
            z = inp @ layer["W"] + layer["b"]
            a = activation(layer["act"], z, layer.get("param", 0.0))
        cache.append((inp, z, a))
    return a, cache


def penalty(net):
    return sum(layer["l1"] * np.abs(layer["W"]).sum() + layer["l2"] * (layer["W"] ** 2).sum()
               for layer in net if layer["kind"] != "dropout")


def loss_value(net, x, t, loss, sample_weight=None, delta=1.0, with_penalty=True):
    """Batch loss: (1/rows) sum_i w_i L_i (+ penalty)."""
    out, cache = forward(net, x)
    rows = row_losses(loss, cache[-1][1], out, t, delta)
    if sample_weight is not None:
        rows = rows * np.asarray(sample_weight, dtype=np.float64)
    return rows.mean() + (penalty(net) if with_penalty else 0.0)


def loss_and_gradients(net, x, t, loss, sample_weight=None, delta=1.0):
    """The batch loss and its gradient for each array of weights(net)."""
    out, cache = forward(net, x)
    n = len(x)
    z_out = cache[-1][1]
    rows = row_losses(loss, z_out, out, t, delta)
    scale = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
    value = (rows * scale).mean() + penalty(net)
    g, wrt_z = loss_gradient(loss, z_out, out, t, delta)
    g = g * (scale / n)[:, None]
    grads = []
    for index in range(len(net) - 1, -1, -1):
        layer = net[index]
        inp, z, a = cache[index]
        if layer["kind"] == "dropout":
            continue  # identity
        if index == len(net) - 1 and wrt_z:
            dz = g
        elif layer["kind"] == "maxout":
            k = layer["pieces"]
            zr = z.reshape(len(z), -1, k)
            win = zr.argmax(axis=2)  # the first maximum
            dz = np.zeros_like(zr)
            np.put_along_axis(dz, win[:, :, None], g[:, :, None], axis=2)
            dz = dz.reshape(z.shape)
        elif layer["act"] == "softmax":
            dz = a * (g - (g * a).sum(axis=1, keepdims=True))
        else:
            dz = g * activation_derivative(layer["act"], z, layer.get("param", 0.0))
        dW = inp.T @ dz + layer["l1"] * np.sign(layer["W"]) + 2 * layer["l2"] * layer["W"]
        db = dz.sum(axis=0)
        grads[:0] = [dW, db]
        g = dz @ layer["W"].T
    return value, grads


def numeric_gradients(net, x, t, loss, sample_weight=None, delta=1.0, eps=1e-6):
    """Central differences of loss_value for every element of every weight array."""
    grads = []
    for w in weights(net):
        g = np.zeros_like(w)
        flat, gflat = w.reshape(-1), g.reshape(-1)
        for e in range(flat.size):
            saved = flat[e]
            flat[e] = saved + eps
            up = loss_value(net, x, t, loss, sample_weight, delta)
            flat[e] = saved - eps
            down = loss_value(net, x, t, loss, sample_weight, delta)
            flat[e] = saved
            gflat[e] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


# ---- optimizers (torch.optim's update rules) -------------------------------

class SGD:
    def __init__(self, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        self.lr, self.momentum, self.dampening = lr, momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov
        self.buffers = {}

    def step(self, key, p, g, t):
        d = g + self.weight_decay * p if self.weight_decay else g
        if self.momentum:
            buf = self.buffers.get(key)
            buf = d.copy() if buf is None else self.momentum * buf + (1 - self.dampening) * d
            self.buffers[key] = buf
            d = d + self.momentum * buf if self.nesterov else buf
        p -= self.lr * d


class Adam:
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.lr, (self.b1, self.b2), self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.m, self.v = {}, {}

    def step(self, key, p, g, t):
        d = g + self.weight_decay * p if self.weight_decay else g
        m = self.b1 * self.m.get(key, 0.0) + (1 - self.b1) * d
        v = self.b2 * self.v.get(key, 0.0) + (1 - self.b2) * d * d
        self.m[key], self.v[key] = m, v
        bc1, bc2 = 1 - self.b1 ** t, 1 - self.b2 ** t
        p -= (self.lr / bc1) * m / (np.sqrt(v) / math.sqrt(bc2) + self.eps)


def apply_max_norm(layer):
    if layer.get("max_norm"):
        norms = np.sqrt((layer["W"] ** 2).sum(axis=0))
        scale = np.where(norms > layer["max_norm"], layer["max_norm"] / np.maximum(norms, 1e-300),
                         1.0)
        layer["W"] *= scale


def train(net, x, t, loss, optimizer, batch_size, epochs=1, sample_weight=None, delta=1.0):
    """Mini-batch training without shuffling or dropout, in place; returns
    each epoch's loss (mean of the row losses plus the penalty, each batch's
    before its update)."""
    n = len(x)
    step = 0
    history = []
    for _ in range(epochs):
        total = 0.0
        for start in range(0, n, batch_size):
            sl = slice(start, start + batch_size)
            sw = None if sample_weight is None else sample_weight[sl]
            value, grads = loss_and_gradients(net, x[sl], t[sl], loss, sw, delta)
            total += value * len(x[sl])
            step += 1
            arrays = weights(net)
            for key, (p, g) in enumerate(zip(arrays, grads)):
                optimizer.step(key, p, g, step)
            for layer in net:
                if layer["kind"] != "dropout":
                    apply_max_norm(layer)
        history.append(total / n)
    return history
