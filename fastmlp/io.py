"""Model files: Sequential.save and fm.load.

A file is, in order (integers little-endian)::

    magic     8 bytes   b"FASTMLP\\0"
    version   u32       1
    n         u64       length of the header
    header    n bytes   UTF-8 JSON: architecture, compile settings, training
                        state and the table of arrays (name, dtype, shape,
                        offset into the data, nbytes)
    data                the arrays' raw little-endian bytes, back to back:
                        weights, then optimizer state
    checksum  32 bytes  SHA-256 of everything before it

Loading runs no code from the file: classes are looked up by name in fixed
tables of fastmlp's own classes and rebuilt through their constructors, which
validate every value again. Every length is checked against the file's size
before it is used, and the checksum is verified before the header is parsed,
so a damaged or foreign file raises ModelFileError, never anything worse.
"""
import contextlib
import errno
import hashlib
import json
import math
import os
import secrets
import stat
import struct

import numpy as np

from fastmlp import activations, init, losses, optim
from fastmlp._checks import finite_array as _check_finite
from fastmlp.errors import ModelFileError
from fastmlp.layers import Dense, Dropout, Maxout, _Weighted

MAGIC = b"FASTMLP\0"
VERSION = 1
_PRELUDE = struct.Struct("<8sIQ")  # magic, version, header length
_CHECKSUM_SIZE = 32
_MODEL_DTYPES = {"float32": "<f4", "float64": "<f8"}
_MAX_DIM = 2**31 - 1  # the C network's sizes are Py_ssize_t, but no sane layer is wider
_MAX_STEP = 2**63 - 1  # the C network counts steps in a C long

# The only classes a file may name.
_LAYERS = {cls.__name__: cls for cls in (Dense, Dropout, Maxout)}
_ACTIVATIONS = {cls.__name__: cls for cls in activations._BY_NAME.values()}
_INITIALIZERS = {cls.__name__: cls for cls in init._BY_NAME.values()}
_LOSSES = {cls.__name__: cls for cls in losses._BY_NAME.values()}
_OPTIMIZERS = {cls.__name__: cls for cls in optim._BY_NAME.values()}
# Layer settings that are objects, and the table each is looked up in.
_OBJECT_SETTINGS = {"activation": _ACTIVATIONS, "kernel_initializer": _INITIALIZERS,
                    "bias_initializer": _INITIALIZERS}
# Exceptions the public constructors raise for bad values; a file that makes
# them raise is a bad file.
_BAD_VALUE = (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError,
              RecursionError)


# ---- saving ----------------------------------------------------------------

def save(model, path):
    """Write `model` to `path` atomically: a crash or error midway leaves the
    file that was there before (if any) unchanged. Saving through a symbolic
    link replaces the file it points to, as writing to it would."""
    path = _fspath(path)
    if not path:  # as open("") fails; realpath("") is the current directory
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    header, arrays = _describe(model)
    # The new file is renamed over the old one: over the link's target, not the link.
    target = os.path.realpath(path)
    if os.path.islink(target):  # realpath stops where links loop
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    try:
        fd, tmp = _create_temporary(target)
    except OSError as e:  # name the user's path, not the temporary file's
        raise type(e)(e.errno, e.strerror, path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            _write(f, header, arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(os.path.dirname(tmp))


def _fspath(path):
    """`path` (a str, bytes or os.PathLike) as a str. A file descriptor, which
    open() would also take, is refused: save renames a new file into place,
    and load must not close the caller's descriptor."""
    return os.fsdecode(os.fspath(path))


def _create_temporary(path):
    """A new file next to `path`, with the permissions of the file it replaces
    or else those any new file gets (mkstemp's are always 0600)."""
    directory, name = os.path.split(os.path.abspath(path))
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = None
    for _ in range(100):
        tmp = os.path.join(directory, f".{name[:200]}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                         0o666)  # less the umask
        except FileExistsError:
            continue
        if mode is not None:
            with contextlib.suppress(OSError):
                os.chmod(tmp, mode)
        return fd, tmp
    raise FileExistsError(errno.EEXIST, "no free name for a temporary file next to it", path)


def _describe(model):
    """The header (without its array table's offsets) and the arrays to write."""
    from fastmlp import __version__

    model._require_fit_thread("save()")

    model._check_optimizer_state()  # a file would pair the state with the new settings
    state = model._optimizer_state
    named = [(f"layers.{i}.{p}", w) for i, layer in enumerate(model.layers)
             for p, w in zip("Wb", layer.weights)]
    if state is not None:
        named += [(f"layers.{i}.{p}.state.{k}", a) for i, pair in enumerate(state)
                  for p, states in zip("Wb", pair) for k, a in enumerate(states)]
    compiled = None
    if model.loss is not None:
        compiled = {"loss": _object(model.loss, _LOSSES),
                    "optimizer": _object(model.optimizer, _OPTIMIZERS),
                    "metrics": list(model.metrics)}
    header = {
        "written_by": f"fastmlp {__version__}",  # for people; load ignores it
        "model": {"dtype": model.dtype.name, "seed": model.seed, "input_dim": model.input_dim,
                  "layers": [_layer_entry(layer) for layer in model.layers]},
        "compile": compiled,
        "training": {"step": model._step, "optimizer_state": state is not None,
                     "initial_lr": None if compiled is None else model.optimizer.initial_lr},
    }
    dtype = np.dtype(_MODEL_DTYPES[model.dtype.name])
    arrays = [(name, np.ascontiguousarray(a, dtype=dtype)) for name, a in named]
    for name, a in arrays:  # load refuses them, so a file holding them could not be read
        _check_finite(a, f"cannot save the model: {name}")
    return header, arrays


def _object(obj, table):
    name = type(obj).__name__
    if table.get(name) is not type(obj):
        raise ValueError(f"cannot save a {name}: model files hold only fastmlp's own classes")
    return {"class": name, "config": obj.get_config()}


def _layer_entry(layer):
    entry = _object(layer, _LAYERS)
    entry["config"] = {key: _object(value, _OBJECT_SETTINGS[key]) if key in _OBJECT_SETTINGS
                       else value for key, value in entry["config"].items()}
    return entry


def _write(f, header, arrays):
    offset, table = 0, []
    for name, a in arrays:
        table.append({"name": name, "dtype": a.dtype.str, "shape": list(a.shape),
                      "offset": offset, "nbytes": a.nbytes})
        offset += a.nbytes
    text = json.dumps(dict(header, arrays=table), allow_nan=False).encode("utf-8")
    digest = hashlib.sha256()
    for chunk in [_PRELUDE.pack(MAGIC, VERSION, len(text)), text,
                  *(a.reshape(-1).view(np.uint8) for _, a in arrays)]:
        f.write(chunk)
        digest.update(chunk)
    f.write(digest.digest())


def _fsync_directory(directory):
    """Make the rename itself durable (POSIX; Windows cannot open directories)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---- loading ---------------------------------------------------------------

def load(path):
    """The Sequential saved at `path` by model.save: weights, compile settings
    and optimizer state, so that fitting on continues as if never saved.

    Raises FileNotFoundError (or another OSError) when the path cannot be
    opened, and ModelFileError for anything else that is not an intact model
    file: a directory, a FIFO or anything else not a regular file, a truncated
    or damaged file, another format, a newer format version. `path` is a str,
    bytes or os.PathLike; a file descriptor is refused with TypeError.
    """
    path = _fspath(path)
    try:
        header, data = _read(path)
        try:
            return _rebuild(header, data)
        except ModelFileError:
            raise
        except _BAD_VALUE as e:  # a check this module lacks; the constructors' are wrapped
            raise ModelFileError(f"bad value in the header: {type(e).__name__}: {e}") from e
    except ModelFileError as e:
        # Name the file; chain to the constructor's error, if any, not to ours.
        raise ModelFileError(f"{path}: {e}") from e.__cause__


def _read(path):
    """The parsed header and the data bytes (a memoryview), after checking
    the framing and the checksum."""
    # Look before opening: opening a FIFO blocks until a writer comes, and
    # opening a device can act (a tape rewinds).
    _check_regular(os.stat(path))
    # The path may have changed since: open without blocking and look again.
    with open(path, "rb", opener=_open_nonblocking) as f:
        info = os.fstat(f.fileno())
        _check_regular(info)
        size = info.st_size
        if size == 0:
            raise ModelFileError("the file is empty")
        prelude = f.read(_PRELUDE.size)
        if prelude[:8] != MAGIC[:len(prelude)]:
            raise ModelFileError(f"not a fastmlp model file (it starts with {prelude[:8]!r}, "
                                 f"expected {MAGIC!r})")
        if len(prelude) < _PRELUDE.size:
            raise ModelFileError(f"truncated: {size} bytes is shorter than any model file")
        _, version, header_size = _PRELUDE.unpack(prelude)
        if version != VERSION:
            newer = " (written by a newer fastmlp)" if version > VERSION else ""
            raise ModelFileError(f"format version {version}{newer}; this fastmlp reads "
                                 f"version {VERSION}")
        if size < _PRELUDE.size + _CHECKSUM_SIZE:
            raise ModelFileError(f"truncated: {size} bytes is shorter than any model file")
        if header_size > size - _PRELUDE.size - _CHECKSUM_SIZE:
            raise ModelFileError(f"truncated or damaged: a {header_size}-byte header does not "
                                 f"fit in a {size}-byte file")
        rest = f.read(size - _PRELUDE.size)  # bounded by the size checked above
    if len(rest) != size - _PRELUDE.size:
        raise ModelFileError("the file changed while it was read")
    body = memoryview(rest)[:-_CHECKSUM_SIZE]
    digest = hashlib.sha256(prelude)
    digest.update(body)
    if digest.digest() != rest[-_CHECKSUM_SIZE:]:
        raise ModelFileError("damaged or truncated: the checksum does not match the contents")
    try:
        header = json.loads(bytes(body[:header_size]).decode("utf-8"),
                            parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ModelFileError(f"the header is not valid JSON: {e}") from None
    return header, body[header_size:]


def _check_regular(info):
    if stat.S_ISDIR(info.st_mode):
        raise ModelFileError("is a directory, not a model file")
    if not stat.S_ISREG(info.st_mode):
        raise ModelFileError("not a regular file")


def _open_nonblocking(path, flags):
    # O_NONBLOCK changes nothing for a regular file (POSIX; Windows has no FIFOs).
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def _reject_constant(name):
    raise ValueError(f"{name} is not allowed")


def _rebuild(header, data):
    """The Sequential the header describes, with the arrays from `data`."""
    from fastmlp.model import Sequential  # model imports this module

    spec = _get(header, "model", dict, "the header")
    compiled = _get(header, "compile", (dict, type(None)), "the header")
    training = _get(header, "training", dict, "the header")
    table = _get(header, "arrays", list, "the header")
    dtype = _get(spec, "dtype", str, "model")
    if dtype not in _MODEL_DTYPES:
        raise ModelFileError(f"model: dtype must be float32 or float64, not {dtype!r}")
    seed = _get(spec, "seed", int, "model")  # Sequential checks its range
    input_dim = _get(spec, "input_dim", (int, type(None)), "model")
    step = _get(training, "step", int, "training")
    has_state = _get(training, "optimizer_state", bool, "training")
    initial_lr = _get(training, "initial_lr", (float, type(None)), "training")
    if not 0 <= step <= _MAX_STEP or (step and not has_state):
        raise ModelFileError(f"training: bad step {step}")
    if has_state and (compiled is None or input_dim is None):
        raise ModelFileError("training: optimizer state in a model not compiled and built")
    if initial_lr is not None and compiled is None:
        raise ModelFileError("training: initial_lr in a model not compiled")

    layers = [_construct(entry, _LAYERS, f"layer {i}")
              for i, entry in enumerate(_get(spec, "layers", list, "model"))]
    model = _checked("model", Sequential, layers, dtype=dtype, seed=seed)
    expected = _expected_shapes(layers, input_dim)
    if compiled is not None:
        # Before any array is read: compile checks the loss against the layers.
        _checked("compile", model.compile,
                 _construct(_get(compiled, "loss", dict, "compile"), _LOSSES, "loss"),
                 _construct(_get(compiled, "optimizer", dict, "compile"), _OPTIMIZERS,
                            "optimizer"),
                 _get(compiled, "metrics", list, "compile"))
        _checked("training", setattr, model.optimizer, "initial_lr", initial_lr)
        if has_state:
            count = model.optimizer.state_count()
            expected += [(f"{name}.state.{k}", shape)
                         for name, shape in list(expected) for k in range(count)]
    arrays = _arrays(table, data, _MODEL_DTYPES[dtype], expected)
    if input_dim is None:
        return model
    model.build(input_dim)  # the shapes are checked: this allocates what the file holds
    _checked("weights", model.set_weights, [arrays[name] for name, _ in expected
                                            if ".state." not in name])
    if has_state:
        for i, pair in enumerate(model._new_optimizer_state()):
            for p, states in zip("Wb", pair):
                _fill(states, arrays, f"layers.{i}.{p}")
        model._step = step
    return model


def _checked(where, function, *args, **kwargs):
    """function(*args, **kwargs), its complaints about values as ModelFileError."""
    try:
        return function(*args, **kwargs)
    except _BAD_VALUE as e:
        raise ModelFileError(f"{where}: {e}") from e


_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer",
               float: "a number", bool: "true or false", type(None): "null"}


def _get(mapping, key, types, where):
    """mapping[key], which must be an instance of `types` (a bool is not an int)."""
    if not isinstance(mapping, dict):
        raise ModelFileError(f"{where} must be an object, not {_type_name(mapping)}")
    if key not in mapping:
        raise ModelFileError(f"{where}: {key!r} is missing")
    types = types if isinstance(types, tuple) else (types,)
    value = mapping[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        wanted = " or ".join(_TYPE_NAMES[t] for t in types)
        raise ModelFileError(f"{where}: {key!r} must be {wanted}, not {_type_name(value)}")
    return value


def _type_name(value):
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _construct(entry, table, where):
    """An instance of table[entry["class"]] from entry["config"], which must
    hold every setting that class saves and nothing else."""
    name = _get(entry, "class", str, where)
    config = _get(entry, "config", dict, where)
    if name not in table:
        raise ModelFileError(f"{where}: unknown class {name!r}; expected one of "
                             f"{', '.join(sorted(table))}")
    if table is _LAYERS:
        config = {key: _construct(value, _OBJECT_SETTINGS[key], f"{where} {key}")
                  if key in _OBJECT_SETTINGS else value for key, value in config.items()}
    obj = _checked(f"{where} ({name})", table[name], **config)
    missing = set(obj.get_config()) - set(config)
    if missing:  # a default would silently take the place of the saved value
        raise ModelFileError(f"{where} ({name}): {', '.join(sorted(missing))} missing")
    return obj


def _expected_shapes(layers, input_dim):
    """[(name, shape)] of the weights a model of these layers has once built."""
    if input_dim is None:
        return []
    if not 1 <= input_dim <= _MAX_DIM:
        raise ModelFileError(f"model: input_dim {input_dim} out of range")
    shapes, width = [], input_dim
    for i, layer in enumerate(layers):
        if isinstance(layer, _Weighted):
            cols = layer.units * layer.pieces
            if cols > _MAX_DIM:
                raise ModelFileError(f"layer {i}: units * pieces out of range")
            shapes += [(f"layers.{i}.W", (width, cols)), (f"layers.{i}.b", (cols,))]
            width = layer.units
    return shapes


def _arrays(table, data, dtype, expected):
    """{name: read-only array} from the array table, which must list exactly
    the `expected` (name, shape) pairs and tile the data region exactly."""
    entries = []
    for i, entry in enumerate(table):
        where = f"array {i}"
        name = _get(entry, "name", str, where)
        shape = tuple(_get(entry, "shape", list, where))
        offset = _get(entry, "offset", int, where)
        nbytes = _get(entry, "nbytes", int, where)
        if _get(entry, "dtype", str, where) != dtype:
            raise ModelFileError(f"{where}: dtype must be {dtype}, the model's")
        if not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= _MAX_DIM
                   for n in shape) or len(shape) not in (1, 2):
            raise ModelFileError(f"{where}: bad shape {list(shape)}")
        if nbytes != math.prod(shape) * np.dtype(dtype).itemsize:
            raise ModelFileError(f"{where}: nbytes {nbytes} does not match its shape")
        if not 0 <= offset <= len(data) - nbytes:
            raise ModelFileError(f"{where}: bytes [{offset}, {offset + nbytes}) lie outside "
                                 f"the {len(data)}-byte data region")
        entries.append((offset, nbytes, name, shape))
    _match(entries, expected)
    end = 0
    for offset, nbytes, name, _ in sorted(entries):
        if offset != end:
            raise ModelFileError(f"array {name!r} " + ("overlaps another" if offset < end
                                                       else "leaves a gap before it"))
        end = offset + nbytes
    if end != len(data):
        raise ModelFileError("unused bytes after the arrays")
    return {name: np.frombuffer(data, np.dtype(dtype), math.prod(shape), offset)
            .reshape(shape) for offset, _, name, shape in entries}


def _match(entries, expected):
    """Check that the table lists exactly the (name, shape) pairs expected."""
    found = {name: shape for _, _, name, shape in entries}
    if len(found) < len(entries):
        raise ModelFileError("an array is listed twice")
    for name, shape in expected:
        if name not in found:
            raise ModelFileError(f"array {name!r} {shape} is missing")
        if found.pop(name) != shape:
            raise ModelFileError(f"array {name!r}: the architecture needs shape {shape}")
    if found:
        raise ModelFileError(f"unexpected array {next(iter(found))!r}")


def _fill(states, arrays, name):
    """Copy the arrays `name`.state.0, .1, ... into `states`."""
    for k, state in enumerate(states):
        key = f"{name}.state.{k}"
        # set_weights checks the weights; nothing else checks the state.
        _checked("optimizer state", _check_finite, arrays[key], key)
        state[...] = arrays[key]
