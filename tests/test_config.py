"""fastmlp.config(), thread-count control, kernel-set selection in-process and
through the FASTMLP_ISA environment variable (in subprocesses)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastmlp
from fastmlp import _core
from gemm_helpers import DTYPES, assert_gemm_close, make_operands, rng_for

# Subprocesses start here: `python -c` puts its working directory first on
# sys.path, and from the repository root the uncompiled source tree would
# shadow the installed package.
HERE = os.path.dirname(os.path.abspath(__file__))

ALL_ISAS = list(_core.ISAS)
AVAILABLE = _core.isas_available()
UNSUPPORTED = [name for name in ALL_ISAS if name not in AVAILABLE]
OPENMP = fastmlp.config()["openmp"]
# The directory holding the fastmlp package the tests import: the subprocesses
# must import the same one.
PACKAGE_ROOT = str(Path(fastmlp.__file__).resolve().parent.parent)


# ---- config() -------------------------------------------------------------

def test_config_keys_and_types():
    cfg = fastmlp.config()
    expected_types = {"version": str, "isa": str, "isas_available": list, "openmp": bool,
                      "num_threads": int, "compiler": str, "gemm_tile": dict}
    assert expected_types.keys() <= cfg.keys()
    for key, typ in expected_types.items():
        assert isinstance(cfg[key], typ), f"config()[{key!r}] is {type(cfg[key]).__name__}"
    assert cfg["version"] == fastmlp.__version__
    assert cfg["compiler"].strip()
    assert cfg["num_threads"] >= 1


def test_isas_available():
    assert AVAILABLE[0] == "generic"  # always there, and worst first
    assert set(AVAILABLE) <= set(ALL_ISAS)
    assert len(set(AVAILABLE)) == len(AVAILABLE)
    assert _core.best_isa() == AVAILABLE[-1]  # "best last"
    assert fastmlp.config()["isa"] in AVAILABLE


def test_config_reports_the_active_isa_and_its_tiles(isa):
    cfg = fastmlp.config()
    assert cfg["isa"] == isa == _core.active_isa()
    assert set(cfg["gemm_tile"]) == {"float32", "float64"}
    for dtype, tile in cfg["gemm_tile"].items():
        assert re.fullmatch(r"\d+x\d+", tile), tile
        mr, nr = _core.gemm_tile(dtype)
        assert tile == f"{mr}x{nr}" and 1 <= mr <= 16 and nr >= 1


# ---- set_isa --------------------------------------------------------------

def test_set_isa_unknown_name_raises_and_keeps_the_active_isa():
    before = _core.active_isa()
    with pytest.raises(ValueError, match="unknown ISA 'sse9'"):
        _core.set_isa("sse9")
    assert _core.active_isa() == before


@pytest.mark.parametrize("name", UNSUPPORTED or [pytest.param(None, marks=pytest.mark.skip(
    reason=f"every ISA ({', '.join(ALL_ISAS)}) runs on this CPU: none is unsupported"))])
def test_set_isa_unsupported_raises_and_keeps_the_active_isa(name):
    before = _core.active_isa()
    with pytest.raises(RuntimeError, match=f"cannot run the {name} kernels"):
        _core.set_isa(name)
    assert _core.active_isa() == before


# ---- threads --------------------------------------------------------------

@pytest.mark.parametrize("n", [1, 2, 3, 7, np.int64(2)])
def test_set_num_threads(restore_threads, n):
    fastmlp.set_num_threads(n)
    expected = int(n) if OPENMP else 1
    assert fastmlp.get_num_threads() == expected
    assert fastmlp.config()["num_threads"] == expected


def test_set_num_threads_none_follows_openmp_again(restore_threads):
    fastmlp.set_num_threads(None)
    following = fastmlp.get_num_threads()
    fastmlp.set_num_threads(following + 1)
    assert fastmlp.get_num_threads() == (following + 1 if OPENMP else 1)
    fastmlp.set_num_threads(None)
    assert fastmlp.get_num_threads() == following


@pytest.mark.parametrize("n", [0, -1, -100])
def test_set_num_threads_below_one(restore_threads, n):
    before = fastmlp.get_num_threads()
    with pytest.raises(ValueError, match=">= 1"):
        fastmlp.set_num_threads(n)
    assert fastmlp.get_num_threads() == before


@pytest.mark.parametrize("n", [257, 10**6, 2**70])
def test_teams_have_at_most_256_threads(restore_threads, n):
    fastmlp.set_num_threads(n)
    assert fastmlp.get_num_threads() == (256 if OPENMP else 1)


@pytest.mark.skipif(not OPENMP, reason="built without OpenMP: every team is one thread")
def test_openmps_count_is_capped_too():
    proc = run_python("import fastmlp; print(fastmlp.get_num_threads())",
                      env={"OMP_NUM_THREADS": "100000"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "256"


SMALL_STACK_GEMM = """
import threading, numpy as np, fastmlp
threading.stack_size(64 * 1024)
rng = np.random.default_rng(0)
a, b = (rng.standard_normal((800, 800), dtype=np.float32) for _ in range(2))
alone = fastmlp.gemm(a, b)
got = []
def run():
    fastmlp.set_num_threads(10**6)
    got.append(fastmlp.gemm(a, b))
thread = threading.Thread(target=run)
thread.start()
thread.join()
print(np.array_equal(got[0], alone))
"""


def test_a_large_team_from_a_thread_with_a_small_stack():
    """A team's bookkeeping once took 64 bytes of the caller's stack per
    thread: a million threads asked for crashed a thread with a 64 KiB stack."""
    proc = run_python(SMALL_STACK_GEMM)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True"


@pytest.mark.parametrize("n", [1.0, 2.5, "2", True, [2]])
def test_set_num_threads_not_an_int(restore_threads, n):
    with pytest.raises(TypeError, match="must be an int or None"):
        fastmlp.set_num_threads(n)


# ---- FASTMLP_ISA, in fresh interpreters -----------------------------------

def run_python(code, fastmlp_isa=None, args=(), env=None):
    """Runs `code` (with sys.argv[1:] = args) in a new interpreter that imports
    the same fastmlp, with FASTMLP_ISA set to `fastmlp_isa` (unset when None)
    and the variables of `env` set."""
    env = {key: value for key, value in {**os.environ, **(env or {})}.items()
           if key != "FASTMLP_ISA"}
    env["PYTHONPATH"] = os.pathsep.join(
        [PACKAGE_ROOT] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    if fastmlp_isa is not None:
        env["FASTMLP_ISA"] = fastmlp_isa
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                          cwd=HERE,
                          text=True, timeout=120)


PRINT_CONFIG = "import json, fastmlp; print(json.dumps(fastmlp.config()))"


def config_under(fastmlp_isa):
    proc = run_python(PRINT_CONFIG, fastmlp_isa)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_env_isa_is_honoured(isa):
    """FASTMLP_ISA=<isa> selects that kernel set: the same one (same tiles) that
    set_isa(<isa>) selects in this process."""
    cfg = config_under(isa)
    assert cfg["isa"] == isa
    assert cfg["gemm_tile"] == fastmlp.config()["gemm_tile"]


def test_env_isa_ignores_case():
    assert config_under("GENERIC")["isa"] == "generic"


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_without_env_isa_the_best_is_chosen(value):
    assert config_under(value)["isa"] == _core.best_isa()


def test_env_isa_unknown_name_fails_import():
    proc = run_python("import fastmlp", "sse9")
    assert proc.returncode != 0
    assert "ValueError: FASTMLP_ISA='sse9': unknown ISA 'sse9'" in proc.stderr


@pytest.mark.parametrize("name", UNSUPPORTED or [pytest.param(None, marks=pytest.mark.skip(
    reason=f"every ISA ({', '.join(ALL_ISAS)}) runs on this CPU: none to refuse"))])
def test_env_isa_unsupported_fails_import(name):
    proc = run_python("import fastmlp", name)
    assert proc.returncode != 0
    assert f"RuntimeError: FASTMLP_ISA={name!r}: this CPU" in proc.stderr
    assert f"cannot run the {name} kernels" in proc.stderr


GEMM_SCRIPT = """
import sys
import numpy as np
import fastmlp
isa, folder = sys.argv[1:]
assert fastmlp.config()["isa"] == isa, fastmlp.config()["isa"]
for dtype in ("float32", "float64"):
    inputs = np.load(f"{folder}/{dtype}-inputs.npz")
    np.save(f"{folder}/{dtype}-c.npy", fastmlp.gemm(inputs["a"], inputs["b"], trans_b=True))
"""


def test_env_isa_gemm_end_to_end(isa, tmp_path):
    """A gemm run under FASTMLP_ISA=<isa> is right, and bitwise the result this
    process gets with set_isa(<isa>)."""
    inputs = {}
    for dtype in DTYPES:
        inputs[dtype] = make_operands(rng_for(dtype), 37, 45, 29, dtype, trans_b=True)
        a, b = inputs[dtype]
        np.savez(tmp_path / f"{np.dtype(dtype).name}-inputs.npz", a=a, b=b)
    proc = run_python(GEMM_SCRIPT, isa, args=[isa, str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    for dtype, (a, b) in inputs.items():
        c = np.load(tmp_path / f"{np.dtype(dtype).name}-c.npy")
        assert c.dtype == dtype
        assert_gemm_close(c, a, b, trans_b=True)
        assert c.tobytes() == fastmlp.gemm(a, b, trans_b=True).tobytes()


def test_a_source_tree_without_the_extension_says_so(tmp_path):
    """Python's own message would blame a circular import."""
    sources = tmp_path / "fastmlp"
    sources.mkdir()
    for path in Path(fastmlp.__file__).parent.glob("*.py"):
        (sources / path.name).write_bytes(path.read_bytes())
    proc = subprocess.run([sys.executable, "-c", "import fastmlp"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": ""})
    assert proc.returncode != 0
    assert (f"ImportError: fastmlp's compiled extension (_core) is not in {sources}: "
            "this is a source tree") in proc.stderr
    assert "circular import" not in proc.stderr
