"""fm.load on damaged and hostile files: every one raises ModelFileError (a
ValueError) quickly, without allocating more than the file holds; nothing
else escapes. Damage to the bytes is caught by the framing or the checksum;
a header that is valid JSON but wrong is written here with a correct
checksum, so that the semantic checks are what must catch it.

A path that does not exist raises FileNotFoundError, as open() does: that is
not a damaged file. A directory, or anything else that is not a regular
file, raises ModelFileError.
"""
import copy
import hashlib
import json
import os
import pickle
import socket
import struct
import threading
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import fastmlp as fm

# About 200 examples in all; a load that hangs fails its 1 s deadline.
FUZZ = settings(deadline=1000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


def fuzz(examples):
    return settings(FUZZ, max_examples=examples)
PRELUDE = struct.Struct("<8sIQ")


def _good_model():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 4)), rng.integers(0, 3, 40)
    model = fm.Sequential([fm.Dense(5, fm.activations.ELU(0.5)), fm.Dropout(0.2),
                           fm.Maxout(4, pieces=2), fm.Dense(3, "softmax")],
                          input_dim=4, seed=9)
    model.compile(fm.losses.CrossEntropy(), fm.optim.SGD(lr=0.1, momentum=0.9),
                  metrics=["accuracy"])
    model.fit(X, y, epochs=1, batch_size=8, verbose=0)
    return model


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """The bytes of a fitted model's file."""
    path = tmp_path_factory.mktemp("good") / "m.fmlp"
    _good_model().save(path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def path(tmp_path_factory):
    """Where each test writes the file it loads."""
    return tmp_path_factory.mktemp("fuzz") / "m.fmlp"


def _split(raw):
    """(header dict, data bytes) of a good file."""
    _, _, n = PRELUDE.unpack_from(raw)
    return json.loads(raw[20:20 + n]), raw[20 + n:-32]


def _file(header, data=b"", version=1, magic=b"FASTMLP\0"):
    """A file with a correct checksum; `header` a dict or the header's bytes."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    body = PRELUDE.pack(magic, version, len(text)) + text + data
    return body + hashlib.sha256(body).digest()


def _rejected(path, raw, match=None):
    path.write_bytes(raw)
    with pytest.raises(fm.ModelFileError, match=match) as info:
        fm.load(path)
    assert isinstance(info.value, ValueError)
    return str(info.value)


def _loads_or_rejected(path, raw):
    """Loads to a working model or raises ModelFileError; nothing else."""
    path.write_bytes(raw)
    try:
        model = fm.load(path)
    except fm.ModelFileError:
        return
    assert isinstance(model, fm.Sequential)
    if model.built:
        out = model.predict(np.ones((2, model.input_dim)))
        assert np.isfinite(out).all()


def test_the_good_file_loads(good, path):
    path.write_bytes(good)
    model = fm.load(path)
    X = np.random.default_rng(1).standard_normal((5, 4))
    assert np.array_equal(model.predict(X), _good_model().predict(X))
    assert _file(*_split(good)) == good  # the writer here is the format's


# ---- damaged bytes ------------------------------------------------------------------

@fuzz(25)
@given(st.data())
def test_truncated(good, path, data):
    n = data.draw(st.integers(0, len(good) - 1))
    _rejected(path, good[:n])


@pytest.mark.parametrize("n", [0, 1, 7, 8, 12, 19, 20, 21, -33, -32, -1])
def test_truncated_at_boundaries(good, path, n):
    _rejected(path, good[:n])


@pytest.mark.parametrize("n", [1, 7, 8, 12, 19])
def test_a_file_cut_inside_its_prelude_is_called_truncated(good, path, n):
    _rejected(path, good[:n], match="truncated")


@fuzz(40)
@given(st.data())
def test_flipped_bit(good, path, data):
    pos = data.draw(st.integers(0, len(good) - 1))
    raw = bytearray(good)
    raw[pos] ^= 1 << data.draw(st.integers(0, 7))
    _rejected(path, bytes(raw))


@fuzz(20)
@given(st.data())
def test_overwritten_bytes(good, path, data):
    pos = data.draw(st.integers(0, len(good) - 1))
    new = data.draw(st.binary(min_size=1, max_size=64))
    raw = good[:pos] + new + good[pos + len(new):]
    assume(raw != good)
    _rejected(path, raw[:len(good)])


@fuzz(15)
@given(st.data())
def test_inserted_bytes(good, path, data):
    pos = data.draw(st.integers(0, len(good)))
    _rejected(path, good[:pos] + data.draw(st.binary(min_size=1, max_size=64)) + good[pos:])


@fuzz(15)
@given(st.data())
def test_deleted_bytes(good, path, data):
    pos = data.draw(st.integers(0, len(good) - 1))
    _rejected(path, good[:pos] + good[pos + data.draw(st.integers(1, 64)):])


@fuzz(15)
@given(st.binary(max_size=4096), st.booleans())
def test_random_bytes(path, raw, with_magic):
    _rejected(path, (b"FASTMLP\0" if with_magic else b"") + raw)


# ---- other formats, versions, framing -----------------------------------------------

def test_empty_file(path):
    _rejected(path, b"", match="empty")


def test_other_formats(good, path, tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(3))
    _rejected(path, (tmp_path / "a.npy").read_bytes(), match="not a fastmlp model file")
    _rejected(path, pickle.dumps(_good_model()), match="not a fastmlp model file")
    _rejected(path, b"PK\x03\x04" + good[4:], match="not a fastmlp model file")
    _rejected(path, _file(*_split(good), magic=b"FASTMLQ\0"), match="not a fastmlp")


@pytest.mark.parametrize("version", [0, 2, 2**32 - 1])
def test_other_versions(good, path, version):
    message = _rejected(path, _file(*_split(good), version=version), match="format version")
    assert ("newer" in message) == (version > 1)


@pytest.mark.parametrize("length", [2**64 - 1, 2**63, 10**9])
def test_header_length_beyond_the_file(good, path, length):
    _rejected(path, good[:12] + struct.pack("<Q", length) + good[20:], match="does not fit")


@pytest.mark.parametrize("text", [
    b"", b"{", b"\xff\xfe{}", b"[" * 100_000 + b"]" * 100_000, b'{"model": NaN}',
    b"null", b"[]", b'"model"', b"42", b"{}",
])
def test_header_not_a_json_object_of_the_format(good, path, text):
    _rejected(path, _file(text, _split(good)[1]))


def test_directory(tmp_path):
    with pytest.raises(fm.ModelFileError, match="directory"):
        fm.load(tmp_path)


def _load_fifo(path):
    """fm.load(path), where path names a FIFO, in a thread: a load that
    blocks fails the test instead of hanging it. Returns what load raised."""
    raised = []

    def load():
        try:
            fm.load(path)
        except Exception as e:
            raised.append(e)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(10)
    if thread.is_alive():
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # lets the blocked open return
        thread.join(10)
        pytest.fail("load blocked on a FIFO")
    assert len(raised) == 1
    return raised[0]


needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


@needs_fifo
def test_fifo(tmp_path):
    """Opening a FIFO for reading waits for a writer: load must look first."""
    path = tmp_path / "m.fmlp"
    os.mkfifo(path)
    error = _load_fifo(path)
    assert isinstance(error, fm.ModelFileError) and str(error).endswith("not a regular file")


@needs_fifo
def test_fifo_swapped_in_after_the_look(tmp_path, monkeypatch):
    """A FIFO that takes the place of a regular file between os.stat and open."""
    path = tmp_path / "m.fmlp"
    (tmp_path / "regular").write_bytes(b"x")
    os.mkfifo(path)
    real_stat, regular = os.stat, os.stat(tmp_path / "regular")
    monkeypatch.setattr(os, "stat", lambda p, *args, **kwargs: regular if p == str(path)
                        else real_stat(p, *args, **kwargs))
    error = _load_fifo(path)
    assert isinstance(error, fm.ModelFileError) and str(error).endswith("not a regular file")


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets on this platform")
def test_socket(tmp_path):
    path = tmp_path / "m.fmlp"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        with pytest.raises(fm.ModelFileError, match="not a regular file"):
            fm.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        fm.load(tmp_path / "no such file.fmlp")


# ---- valid JSON, wrong meaning ----------------------------------------------------------

def _set(key_path, value):
    def mutate(header):
        *parents, last = key_path
        node = header
        for key in parents:
            node = node[key]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return mutate


_DELETE = object()
DENSE0 = ("model", "layers", 0, "config")
ARRAY0 = ("arrays", 0)
OPT = ("compile", "optimizer", "config")

WRONG = {
    # missing keys, at every level
    "no model": _set(("model",), _DELETE),
    "no layers": _set(("model", "layers"), _DELETE),
    "no dtype": _set(("model", "dtype"), _DELETE),
    "no seed": _set(("model", "seed"), _DELETE),
    "no input_dim": _set(("model", "input_dim"), _DELETE),
    "no compile": _set(("compile",), _DELETE),
    "no loss": _set(("compile", "loss"), _DELETE),
    "no optimizer": _set(("compile", "optimizer"), _DELETE),
    "no metrics": _set(("compile", "metrics"), _DELETE),
    "no training": _set(("training",), _DELETE),
    "no step": _set(("training", "step"), _DELETE),
    "no initial_lr": _set(("training", "initial_lr"), _DELETE),
    "no arrays": _set(("arrays",), _DELETE),
    "no layer class": _set(("model", "layers", 0, "class"), _DELETE),
    "no units": _set(DENSE0 + ("units",), _DELETE),
    "no l2 (a default exists)": _set(DENSE0 + ("l2",), _DELETE),
    "no activation param": _set(DENSE0 + ("activation", "config", "alpha"), _DELETE),
    "no lr": _set(OPT + ("lr",), _DELETE),
    "no array offset": _set(ARRAY0 + ("offset",), _DELETE),
    "no array shape": _set(ARRAY0 + ("shape",), _DELETE),
    # wrong types and values
    "model a list": _set(("model",), []),
    "layers a dict": _set(("model", "layers"), {}),
    "layer a string": _set(("model", "layers", 0), "Dense"),
    "config a list": _set(DENSE0, [5]),
    "dtype float16": _set(("model", "dtype"), "float16"),
    "dtype object": _set(("model", "dtype"), "object"),
    "seed a string": _set(("model", "seed"), "9"),
    "seed a bool": _set(("model", "seed"), True),
    "seed a float": _set(("model", "seed"), 9.0),
    "seed negative": _set(("model", "seed"), -1),
    "seed 2**64": _set(("model", "seed"), 2**64),
    "input_dim 0": _set(("model", "input_dim"), 0),
    "input_dim huge": _set(("model", "input_dim"), 10**30),
    "input_dim other": _set(("model", "input_dim"), 5),
    "input_dim null with arrays": _set(("model", "input_dim"), None),
    "units a string": _set(DENSE0 + ("units",), "5"),
    "units 0": _set(DENSE0 + ("units",), 0),
    "units huge": _set(DENSE0 + ("units",), 10**12),
    "units other": _set(DENSE0 + ("units",), 6),
    "units a huge number": _set(DENSE0 + ("units",), 10**400),
    "l2 a huge int": _set(DENSE0 + ("l2",), 10**400),
    "l2 negative": _set(DENSE0 + ("l2",), -1.0),
    "extra setting": _set(DENSE0 + ("bias",), True),
    "pieces 0": _set(("model", "layers", 2, "config", "pieces"), 0),
    "pieces other": _set(("model", "layers", 2, "config", "pieces"), 3),
    "dropout rate 1": _set(("model", "layers", 1, "config", "rate"), 1.0),
    "activation param a string": _set(DENSE0 + ("activation", "config", "alpha"), "x"),
    "activation a string": _set(DENSE0 + ("activation",), "relu"),
    "initializer config wrong": _set(DENSE0 + ("kernel_initializer", "config"), {"x": 1}),
    "step negative": _set(("training", "step"), -1),
    "step a float": _set(("training", "step"), 5.0),
    "step 2**63": _set(("training", "step"), 2**63),
    "state flag a string": _set(("training", "optimizer_state"), "yes"),
    "state but not compiled": _set(("compile",), None),
    "no state but step": _set(("training", "optimizer_state"), False),
    "initial_lr negative": _set(("training", "initial_lr"), -0.1),
    "initial_lr a string": _set(("training", "initial_lr"), "0.1"),
    "initial_lr a bool": _set(("training", "initial_lr"), True),
    "initial_lr but not compiled": lambda h: h.update(
        compile=None, training={"step": 0, "optimizer_state": False, "initial_lr": 0.1}),
    "metrics mse": _set(("compile", "metrics"), ["mse"]),
    "metrics a string": _set(("compile", "metrics"), "accuracy"),
    "loss needs sigmoid": _set(("compile", "loss", "class"), "BinaryCrossEntropy"),
    "loss config wrong": _set(("compile", "loss", "config"), {"delta": 0.5}),
    "optimizer with more state": _set(("compile", "optimizer", "class"), "Adam"),
    "lr negative": _set(OPT + ("lr",), -0.1),
    "lr a list": _set(OPT + ("lr",), [0.1]),
    "nesterov a string": _set(OPT + ("nesterov",), "false"),
    "momentum 0 drops state": _set(OPT + ("momentum",), 0.0),
    # unknown classes: nothing outside the tables is ever looked up
    "layer os.system": _set(("model", "layers", 0, "class"), "os.system"),
    "layer Sequential": _set(("model", "layers", 0, "class"), "Sequential"),
    "layer base class": _set(("model", "layers", 0, "class"), "Layer"),
    "activation eval": _set(DENSE0 + ("activation", "class"), "eval"),
    "activation base class": _set(DENSE0 + ("activation", "class"), "Activation"),
    "initializer __import__": _set(DENSE0 + ("kernel_initializer", "class"), "__import__"),
    "loss subprocess.Popen": _set(("compile", "loss", "class"), "subprocess.Popen"),
    "optimizer base class": _set(("compile", "optimizer", "class"), "Optimizer"),
    "class not a string": _set(("model", "layers", 0, "class"), ["Dense"]),
    # the array table
    "array dtype object": _set(ARRAY0 + ("dtype",), "|O"),
    "array dtype big-endian": _set(ARRAY0 + ("dtype",), ">f4"),
    "array dtype float64": _set(ARRAY0 + ("dtype",), "<f8"),
    "array dtype float16": _set(ARRAY0 + ("dtype",), "<f2"),
    "array shape huge": _set(ARRAY0 + ("shape",), [2**40, 2**40]),
    "array shape 3-D": _set(ARRAY0 + ("shape",), [4, 5, 1]),
    "array shape negative": _set(ARRAY0 + ("shape",), [-4, -5]),
    "array shape floats": _set(ARRAY0 + ("shape",), [4.0, 5.0]),
    "array shape transposed": _set(ARRAY0 + ("shape",), [5, 4]),
    "array nbytes wrong": _set(ARRAY0 + ("nbytes",), 79),
    "array offset negative": _set(ARRAY0 + ("offset",), -8),
    "array offset past the end": _set(ARRAY0 + ("offset",), 2**62),
    "arrays overlap": _set(("arrays", 1, "offset"), 4),
    "array renamed": _set(ARRAY0 + ("name",), "layers.0.X"),
    "array duplicated": lambda h: h["arrays"].append(dict(h["arrays"][0])),
    "array dropped": lambda h: h["arrays"].pop(),
    "arrays a dict": _set(("arrays",), {}),
}


@pytest.mark.parametrize("mutate", WRONG.values(), ids=WRONG.keys())
def test_wrong_header(good, path, mutate):
    header, data = _split(good)
    header = copy.deepcopy(header)
    mutate(header)
    _rejected(path, _file(header, data))


def test_swapped_offsets_of_arrays_of_one_shape(good, path):
    """Not an error: the table says where each array is, and is believed."""
    header, data = _split(good)
    a, b = header["arrays"][0], header["arrays"][6]  # layers.0.W and its momentum
    assert a["shape"] == b["shape"]
    a["offset"], b["offset"] = b["offset"], a["offset"]
    path.write_bytes(_file(header, data))
    model = fm.load(path)
    state = model._optimizer_state[0][0][0]
    assert np.array_equal(model.get_weights()[0], _good_model()._optimizer_state[0][0][0])
    assert np.array_equal(state, _good_model().get_weights()[0])


def test_unused_bytes_after_the_arrays(good, path):
    header, data = _split(good)
    _rejected(path, _file(header, data + b"\0" * 8), match="unused bytes")


def test_non_finite_weights(good, path):
    header, data = _split(good)
    nan = np.array([np.nan], "<f4").tobytes()
    _rejected(path, _file(header, nan + data[4:]), match="NaN")


def test_non_finite_optimizer_state(good, path):
    header, data = _split(good)
    first = next(a for a in header["arrays"] if ".state." in a["name"])
    inf = np.array([np.inf], "<f4").tobytes()
    offset = first["offset"]
    _rejected(path, _file(header, data[:offset] + inf + data[offset + 4:]),
              match=f"optimizer state: {first['name']} contains NaN or infinity")


@pytest.mark.parametrize("case", ["array shape huge", "units huge", "input_dim huge"])
def test_no_large_allocation(good, path, case):
    header, data = _split(good)
    header = copy.deepcopy(header)
    WRONG[case](header)
    if case == "units huge":  # a table that agrees with the huge layer
        header["arrays"][0].update(shape=[4, 10**12], nbytes=4 * 10**12 * 4)
    path.write_bytes(_file(header, data))
    tracemalloc.start()
    try:
        with pytest.raises(fm.ModelFileError):
            fm.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000 + 10 * len(good)


# ---- random edits of the header --------------------------------------------------

def _paths(node, prefix=()):
    """Every key path in a JSON tree."""
    yield prefix
    items = node.items() if isinstance(node, dict) else (
        enumerate(node) if isinstance(node, list) else ())
    for key, child in items:
        yield from _paths(child, prefix + (key,))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False,
                                                                        allow_infinity=False)
    | st.text(max_size=12) | st.sampled_from(["Dense", "Adam", "ReLU", "float64", "<f8"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.text(max_size=8), children, max_size=3),
    max_leaves=6)


@fuzz(50)
@given(st.data())
def test_random_header_edits(good, path, data):
    """Replace or delete any node of the header: the result loads (the edit
    may be harmless, e.g. another learning rate) or raises ModelFileError."""
    header, body = _split(good)
    header = copy.deepcopy(header)
    key_path = data.draw(st.sampled_from(list(_paths(header))[1:]))
    value = data.draw(st.one_of(st.just(_DELETE), JSON))
    if value is _DELETE and isinstance(key_path[-1], int):
        value = None
    _set(key_path, value)(header)
    _loads_or_rejected(path, _file(header, body))


@fuzz(20)
@given(st.data())
def test_random_array_table_edits(good, path, data):
    header, body = _split(good)
    entry = data.draw(st.sampled_from(header["arrays"]))
    field = data.draw(st.sampled_from(["offset", "nbytes", "shape"]))
    old = entry[field]
    if field == "shape":
        entry[field] = data.draw(st.lists(st.integers(-2**63, 2**63), max_size=3))
    else:
        entry[field] = data.draw(st.integers(-2**64, 2**64))
    assume(entry[field] != old)
    _rejected(path, _file(header, body))
