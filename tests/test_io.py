"""Model files (Sequential.save, fm.load): round trips of every layer,
activation, optimizer and loss, bitwise; continuing training after a load;
the file layout; atomic saves, also when the saving process is killed."""
import hashlib
import json
import os
import random
import re
import signal
import stat
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

import fastmlp as fm
from fastmlp import activations as A, init, io, losses, optim

# Subprocesses start here: `python -c` puts its working directory first on
# sys.path, and from the repository root the uncompiled source tree would
# shadow the installed package.
HERE = os.path.dirname(os.path.abspath(__file__))


def _data(rows=48, features=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((rows, features)), rng.integers(0, classes, rows)


def _classifier(dtype="float32", optimizer=None, seed=7):
    model = fm.Sequential([fm.Dense(8, A.LeakyReLU(0.2), l2=1e-3), fm.Dropout(0.25),
                           fm.Maxout(6, pieces=3, max_norm=2.0), fm.Dense(3, "softmax")],
                          input_dim=5, dtype=dtype, seed=seed)
    model.compile("cross_entropy", optimizer or optim.Adam(lr=0.01), metrics=["accuracy"])
    return model


def _round_trip(model, tmp_path, name="model.fmlp"):
    path = tmp_path / name
    model.save(path)
    return fm.load(path)


def _config(obj):
    """A comparable description of a layer, loss or optimizer."""
    return None if obj is None else (type(obj).__name__, obj.get_config())


def _assert_same(a, b, X=None):
    """Same architecture, settings, weights, optimizer state and predictions, bitwise."""
    assert (a.dtype, a.seed, a.input_dim, a.metrics) == (b.dtype, b.seed, b.input_dim, b.metrics)
    assert [_config(x) for x in a.layers] == [_config(x) for x in b.layers]
    assert (_config(a.loss), _config(a.optimizer)) == (_config(b.loss), _config(b.optimizer))
    assert a._step == b._step
    if not a.built:
        return
    assert len(a.get_weights()) == len(b.get_weights())
    for x, y in zip(a.get_weights(), b.get_weights()):
        assert x.dtype == y.dtype and np.array_equal(x, y)
    if a._optimizer_state is None:
        assert b._optimizer_state is None
    else:
        flat = [[s for pair in layer for states in pair for s in states]
                for layer in (a._optimizer_state, b._optimizer_state)]
        assert len(flat[0]) == len(flat[1])
        assert all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(*flat))
    if X is not None:
        assert np.array_equal(a.predict(X), b.predict(X))


# ---- round trips ---------------------------------------------------------------

def test_unbuilt_uncompiled(tmp_path):
    model = fm.Sequential([fm.Dense(4, "tanh"), fm.Dense(2)], seed=3)
    loaded = _round_trip(model, tmp_path)
    _assert_same(model, loaded)
    assert not loaded.built and loaded.loss is None and loaded.optimizer is None


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_built_uncompiled(tmp_path, dtype):
    X, _ = _data()
    model = fm.Sequential([fm.Dense(6, "relu"), fm.Dense(2)], input_dim=5, dtype=dtype, seed=1)
    loaded = _round_trip(model, tmp_path)
    _assert_same(model, loaded, X)
    assert loaded.loss is None and loaded.get_weights()[0].dtype == np.dtype(dtype)


def test_compiled_never_fit(tmp_path):
    X, _ = _data()
    model = _classifier()
    loaded = _round_trip(model, tmp_path)
    _assert_same(model, loaded, X)
    assert loaded._optimizer_state is None and loaded._step == 0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fitted(tmp_path, dtype):
    X, y = _data()
    model = _classifier(dtype)
    model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    loaded = _round_trip(model, tmp_path)
    _assert_same(model, loaded, X)
    assert loaded._step == 12
    assert loaded.evaluate(X, y) == model.evaluate(X, y)


def test_changed_learning_rate_is_kept(tmp_path):
    model = _classifier()
    model.optimizer.lr = 0.0123  # as ReduceLROnPlateau or a schedule leaves it
    assert _round_trip(model, tmp_path).optimizer.lr == 0.0123


@pytest.mark.parametrize("activation", [
    A.Linear(), A.Sigmoid(), A.Tanh(), A.ReLU(), A.LeakyReLU(0.2), A.ELU(0.5),
    A.Softplus(), A.GELU(), A.SiLU(), A.Softmax()], ids=repr)
def test_every_activation(tmp_path, activation):
    X, _ = _data()
    model = fm.Sequential([fm.Dense(4, activation), fm.Dense(3, activation)],
                          input_dim=5, dtype="float64", seed=2)
    loaded = _round_trip(model, tmp_path)
    _assert_same(model, loaded, X)
    assert loaded.layers[0].activation == activation


@pytest.mark.parametrize("initializer", [
    init.Uniform(-0.1, 0.3), init.Normal(0.1, 0.2), init.Constant(0.25), init.Zeros(),
    init.LecunNormal(), init.LecunUniform(), init.GlorotNormal(), init.GlorotUniform(),
    init.HeNormal(), init.HeUniform()], ids=repr)
def test_every_initializer(tmp_path, initializer):
    model = fm.Sequential([fm.Dense(3, kernel_initializer=initializer,
                                    bias_initializer=initializer),
                           fm.Maxout(2, pieces=4, kernel_initializer=initializer, l1=1e-4)],
                          input_dim=4, seed=5)
    loaded = _round_trip(model, tmp_path)
    _assert_same(model, loaded, _data(features=4)[0])
    assert loaded.layers[0].kernel_initializer == initializer


def _continue(model, X, y, tmp_path, first=2, total=4, **fit):
    """Fits `first` epochs, then `total - first` more both on the model and on
    a saved-and-loaded copy; returns (continued, loaded), which must agree."""
    model.fit(X, y, epochs=first, verbose=0, **fit)
    loaded = _round_trip(model, tmp_path)
    model.fit(X, y, epochs=total, initial_epoch=first, verbose=0, **fit)
    loaded.fit(X, y, epochs=total, initial_epoch=first, verbose=0, **fit)
    return model, loaded


@pytest.mark.parametrize("optimizer", [
    optim.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    optim.SGD(lr=0.05, momentum=0.5, dampening=0.3),
    optim.Adagrad(lr=0.05, lr_decay=0.01, weight_decay=1e-4, initial_accumulator_value=0.1,
                  eps=1e-9),
    optim.RMSprop(lr=0.005, alpha=0.9, eps=1e-7, weight_decay=1e-4, momentum=0.5,
                  centered=True),
    optim.Adadelta(lr=0.5, rho=0.8, eps=1e-5, weight_decay=1e-3),
    optim.Adam(lr=0.02, betas=(0.8, 0.99), eps=1e-7, weight_decay=1e-3, amsgrad=True),
    optim.AdamW(lr=0.02, betas=(0.85, 0.995), weight_decay=0.05, amsgrad=True),
], ids=repr)
def test_every_optimizer_continues_bitwise(tmp_path, optimizer):
    X, y = _data()
    model, loaded = _continue(_classifier("float64", optimizer), X, y, tmp_path, batch_size=8)
    assert _config(loaded.optimizer) == _config(optimizer)
    _assert_same(model, loaded, X)


@pytest.mark.parametrize("loss, output, targets", [
    (losses.MSE(), "linear", lambda y: np.eye(3)[y]),
    (losses.MAE(), "tanh", lambda y: np.eye(3)[y]),
    (losses.Huber(0.5), "linear", lambda y: np.eye(3)[y] * 2),
    (losses.Hinge(), "linear", lambda y: np.eye(3)[y]),
    (losses.BinaryCrossEntropy(), "sigmoid", lambda y: np.eye(3)[y]),
    (losses.KLDivergence(), "softmax", lambda y: np.eye(3)[y] * 0.9 + 0.1 / 3),
    (losses.CrossEntropy(), "softmax", lambda y: y),
], ids=lambda v: repr(v) if isinstance(v, losses.Loss) else "")
def test_every_loss_continues_bitwise(tmp_path, loss, output, targets):
    X, y = _data()
    model = fm.Sequential([fm.Dense(6, "elu"), fm.Dropout(0.2), fm.Dense(3, output)],
                          input_dim=5, seed=4)
    model.compile(loss, optim.RMSprop(lr=0.01, momentum=0.3))
    model, loaded = _continue(model, X, targets(y), tmp_path, batch_size=16)
    assert _config(loaded.loss) == _config(loss)
    _assert_same(model, loaded, X)


def test_continuing_equals_uninterrupted_training(tmp_path):
    """Shuffling and dropout depend on the seed and epoch only, the optimizer
    on its state and step: a save and load between epochs changes nothing."""
    X, y = _data(rows=50)
    fit = dict(batch_size=7, shuffle=True, validation_split=0.2)
    straight = _classifier()
    straight.fit(X, y, epochs=5, verbose=0, **fit)
    _, loaded = _continue(_classifier(), X, y, tmp_path, first=3, total=5, **fit)
    _assert_same(straight, loaded, X)


def test_overwrites_and_keeps_permissions(tmp_path):
    path = tmp_path / "m.fmlp"
    _classifier(seed=1).save(str(path))
    os.chmod(path, 0o640)
    second = _classifier(seed=2)
    second.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    _assert_same(second, fm.load(path))
    assert os.listdir(tmp_path) == ["m.fmlp"]


def test_new_file_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        _classifier().save(tmp_path / "m.fmlp")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "m.fmlp").st_mode) == 0o640


def test_save_into_missing_directory(tmp_path):
    target = tmp_path / "no such dir" / "m.fmlp"
    with pytest.raises(FileNotFoundError) as info:
        _classifier().save(target)
    assert info.value.filename == str(target)  # the user's path, not a temporary file's
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("where, error", [("", FileNotFoundError), (".", IsADirectoryError)])
def test_save_to_an_empty_path_or_a_directory_is_refused(tmp_path, monkeypatch, where, error):
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    with pytest.raises(error) as info:
        _classifier().save(where)
    assert info.value.filename == where
    assert os.listdir(tmp_path) == ["cwd"] and os.listdir(tmp_path / "cwd") == []


def test_save_through_a_symlink_replaces_its_target(tmp_path):
    (tmp_path / "models").mkdir()
    target, link = tmp_path / "models" / "m.fmlp", tmp_path / "latest.fmlp"
    _classifier(seed=1).save(target)
    link.symlink_to(target)
    second = _classifier(seed=2)
    second.save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    _assert_same(second, fm.load(target))
    # The temporary file was made, and renamed, next to the target.
    assert os.listdir(tmp_path / "models") == ["m.fmlp"]


def test_save_through_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.fmlp"
    link.symlink_to("m.fmlp")
    model = _classifier()
    model.save(link)
    assert link.is_symlink()
    _assert_same(model, fm.load(tmp_path / "m.fmlp"))


def test_save_through_a_symlink_loop_is_refused(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.symlink_to(b)
    b.symlink_to(a)
    with pytest.raises(OSError, match="symbolic links"):
        _classifier().save(a)
    assert a.is_symlink() and b.is_symlink() and sorted(os.listdir(tmp_path)) == ["a", "b"]


def test_bytes_paths(tmp_path):
    path = os.fsencode(tmp_path / "m.fmlp")
    model = _classifier()
    model.save(path)
    _assert_same(model, fm.load(path))
    (tmp_path / "m.fmlp").write_bytes(b"not a model")
    with pytest.raises(fm.ModelFileError, match=f"^{re.escape(str(tmp_path / 'm.fmlp'))}: "):
        fm.load(path)  # the message names the file as a str, not as b'...'


def test_file_descriptors_are_refused(tmp_path):
    """open() takes a descriptor, but a save renames a new file into place,
    and load must neither close the caller's descriptor nor read from it."""
    path = tmp_path / "m.fmlp"
    _classifier().save(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(TypeError, match="not int"):
            fm.load(fd)
        with pytest.raises(TypeError, match="not int"):
            _classifier().save(fd)
        os.fstat(fd)  # still open
    finally:
        os.close(fd)


@pytest.mark.parametrize("optimizer, change", [
    (optim.Adam(), dict(amsgrad=True)),
    (optim.RMSprop(centered=True), dict(centered=False, momentum=0.5)),
], ids=["Adam amsgrad", "RMSprop centered to momentum"])
def test_optimizer_changed_after_training_is_refused(tmp_path, optimizer, change):
    """Adam's state has two arrays per parameter, with amsgrad three: a file
    with two that claims amsgrad could not be loaded. RMSprop's has two both
    ways, but grad_avg would be loaded as the momentum buffer."""
    X, y = _data()
    model = _classifier(optimizer=optimizer)
    model.fit(X, y, epochs=1, verbose=0)
    for name, value in change.items():
        setattr(model.optimizer, name, value)
    with pytest.raises(ValueError, match="compile again"):
        model.save(tmp_path / "m.fmlp")
    assert os.listdir(tmp_path) == []


def test_unsaveable_custom_class(tmp_path):
    class Mine(A.ReLU):
        pass

    model = fm.Sequential([fm.Dense(2, Mine())], input_dim=3)
    with pytest.raises(ValueError, match="Mine"):
        model.save(tmp_path / "m.fmlp")
    assert os.listdir(tmp_path) == []


# ---- the layout, read here independently of fastmlp.io ------------------------

def test_file_layout(tmp_path):
    X, y = _data()
    model = _classifier()
    model.fit(X, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.fmlp")
    raw = (tmp_path / "m.fmlp").read_bytes()
    magic, version, n = struct.unpack_from("<8sIQ", raw)
    assert (magic, version) == (b"FASTMLP\0", 1)
    header = json.loads(raw[20:20 + n].decode("utf-8"))
    assert raw[-32:] == hashlib.sha256(raw[:-32]).digest()
    assert set(header) == {"written_by", "model", "compile", "training", "arrays"}
    assert header["model"]["layers"][0] == {
        "class": "Dense", "config": {
            "units": 8, "activation": {"class": "LeakyReLU", "config": {"negative_slope": 0.2}},
            "kernel_initializer": {"class": "HeUniform", "config": {
                "a": 0.2, "mode": "fan_in", "nonlinearity": "leaky_relu"}},
            "bias_initializer": {"class": "Zeros", "config": {}},
            "l1": 0.0, "l2": 1e-3, "max_norm": None}}
    assert header["compile"]["optimizer"]["class"] == "Adam"
    assert header["training"] == {"step": 2, "optimizer_state": True, "initial_lr": None}
    data = raw[20 + n:-32]
    weights = model.get_weights()
    assert [a["name"] for a in header["arrays"][:len(weights)]] == [
        "layers.0.W", "layers.0.b", "layers.2.W", "layers.2.b", "layers.3.W", "layers.3.b"]
    for entry, w in zip(header["arrays"], weights):
        assert entry["dtype"] == "<f4" and entry["shape"] == list(w.shape)
        stored = np.frombuffer(data, "<f4", w.size, entry["offset"]).reshape(w.shape)
        assert np.array_equal(stored, w)
    # Adam: exp_avg, exp_avg_sq for each parameter array, after the weights.
    assert len(header["arrays"]) == 3 * len(weights)
    assert header["arrays"][len(weights)]["name"] == "layers.0.W.state.0"


# ---- atomic saves ------------------------------------------------------------------

@pytest.fixture
def saved(tmp_path):
    """A saved model: (path, its bytes)."""
    path = tmp_path / "m.fmlp"
    _classifier(seed=1).save(path)
    return path, path.read_bytes()


def _boom(*args, **kwargs):
    raise OSError("disk full")


@pytest.mark.parametrize("target", ["os.replace", "os.fsync", "writer midway"])
def test_failed_save_leaves_old_file(saved, monkeypatch, target):
    path, before = saved
    if target == "writer midway":
        real_write = io._write

        def write_then_fail(f, header, arrays):
            real_write(f, header, arrays[:1])
            raise OSError("disk full")

        monkeypatch.setattr(io, "_write", write_then_fail)
    else:
        monkeypatch.setattr(target, _boom)
    with pytest.raises(OSError, match="disk full"):
        _classifier(seed=2).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]  # no temporary file left
    _assert_same(_classifier(seed=1), fm.load(path))


@pytest.mark.parametrize("failure", [OSError("disk full"), KeyboardInterrupt()],
                         ids=["error", "interrupt"])
def test_failed_save_to_a_new_path_leaves_nothing(tmp_path, monkeypatch, failure):
    def fail_midway(f, header, arrays):
        f.write(b"FASTMLP\0 part of a file")
        raise failure

    monkeypatch.setattr(io, "_write", fail_midway)
    with pytest.raises(type(failure)):
        _classifier().save(tmp_path / "new.fmlp")
    assert os.listdir(tmp_path) == []


def test_interrupted_save_leaves_old_file(saved, monkeypatch):
    path, before = saved

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(io, "_write", interrupt)
    with pytest.raises(KeyboardInterrupt):
        _classifier(seed=2).save(path)
    assert path.read_bytes() == before and os.listdir(path.parent) == [path.name]


@pytest.mark.parametrize("where", ["weights", "optimizer state"])
def test_non_finite_values_are_not_saved(saved, where):
    """load refuses them, so save must not write a file that cannot be read
    back; the file there before stays."""
    path, before = saved
    X, y = _data()
    model = _classifier(seed=2)
    model.fit(X, y, epochs=1, verbose=0)
    if where == "weights":
        model.layers[2].weights[0][1, 2] = np.inf
        name = "layers.2.W"
    else:
        model._optimizer_state[3][1][1][0] = np.nan  # Adam's exp_avg_sq of layer 3's bias
        name = "layers.3.b.state.1"
    with pytest.raises(ValueError, match=f"cannot save the model: {name} contains NaN"):
        model.save(path)
    assert path.read_bytes() == before and os.listdir(path.parent) == [path.name]


_SAVER = """
import sys
import fastmlp as fm

def big(seed):
    return fm.Sequential([fm.Dense(1000)], input_dim=1000, dtype="float64", seed=seed)

models = [big(1), big(2)]
models[0].save(sys.argv[1])
print("ready", flush=True)
i = 0
while True:
    i += 1
    models[i % 2].save(sys.argv[1])
"""


def test_killed_saver_leaves_a_loadable_file(tmp_path):
    """A process SIGKILLed while it saves 8 MB models over one file, again and
    again: the file is always one of the two models, whole."""
    path = tmp_path / "m.fmlp"
    X = np.random.default_rng(0).standard_normal((4, 1000))
    expected = [fm.Sequential([fm.Dense(1000)], input_dim=1000, dtype="float64",
                              seed=seed).predict(X) for seed in (1, 2)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(fm.__file__)), os.environ.get("PYTHONPATH", "")]))
    rng = random.Random(0)
    for _ in range(4):
        child = subprocess.Popen([sys.executable, "-c", _SAVER, str(path)], cwd=HERE,
                                 stdout=subprocess.PIPE, env=env)
        try:
            assert child.stdout.readline() == b"ready\n"
            time.sleep(rng.uniform(0.0, 0.3))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
            child.stdout.close()
        got = fm.load(path).predict(X)
        assert any(np.array_equal(got, e) for e in expected)
        # A killed save can leave only its temporary file behind.
        for name in os.listdir(tmp_path):
            if name != path.name:
                assert name.startswith(".m.fmlp.") and name.endswith(".tmp")
                os.unlink(tmp_path / name)
