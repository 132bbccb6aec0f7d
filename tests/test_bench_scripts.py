"""The stand-alone bench scripts run and parse their arguments: a smoke test
on tiny inputs, each in a subprocess as a user would start it. (Their timings
are not checked: performance is shown by the scripts, never by tests.)"""
import os
import pathlib
import re
import subprocess
import sys

import fastmlp

BENCH = pathlib.Path(__file__).resolve().parent.parent / "bench"


def run_script(name, *args):
    # The installed (or in-place built) package, wherever the script runs from.
    package_root = pathlib.Path(fastmlp.__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(package_root))
    return subprocess.run([sys.executable, str(BENCH / name), *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_gemm_sweep_times_each_shape_on_its_threads():
    done = run_script("gemm_sweep.py", "8x16x24@1", "8x16x24:TN@2", "5x7x3:NT", "--rounds", "1",
                      "--threads", "3")
    assert done.returncode == 0, done.stderr
    rows = re.findall(r"^\s+(\d+x\d+x\d+) (NN|TN|NT|TT) @(\d+)\s+[\d.]+ us\s+[\d.]+ GFLOP/s$",
                      done.stdout, re.MULTILINE)
    assert rows == [("8x16x24", "NN", "1"), ("8x16x24", "TN", "2"), ("5x7x3", "NT", "3")]


def test_gemm_sweep_rejects_a_malformed_shape():
    for spec in ("8x8", "8x8x8:XY", "8x8x8@0", "8x8x8@two"):
        done = run_script("gemm_sweep.py", spec, "--rounds", "1")
        assert done.returncode == 2, spec
        assert "a shape is MxKxN" in done.stderr, spec


def test_blocking_ab_times_each_shape_under_both_blockings():
    done = run_script("blocking_ab.py", "8x16x24@1", "8x16x24:TN", "--a", "kc=8",
                      "--b", "kc=16", "--dtype", "float64", "--rounds", "2")
    assert done.returncode == 0, done.stderr
    blockings = re.findall(r"^  ([AB]): mc=\d+ kc=(\d+) kc_strided_a=\d+ nc=\d+$", done.stdout,
                           re.MULTILINE)
    assert blockings == [("A", "8"), ("B", "16")]
    rows = re.findall(r"^\s+(\d+x\d+x\d+ (?:NN|TN) @\d)\s+A\s+[\d.]+ us\s+B\s+[\d.]+ us\s+"
                      r"speedup [\d.]+ \([\d.]+-[\d.]+\)\s+B won \d/2$", done.stdout, re.MULTILINE)
    assert rows == ["8x16x24 NN @1", "8x16x24 TN @2"]


def test_blocking_ab_rejects_a_bad_blocking():
    for setting in ("kc=x", "mr=4", "kc=0", "kc"):
        done = run_script("blocking_ab.py", "8x8x8", "--b", setting, "--rounds", "1")
        assert done.returncode == 2, setting
        assert "--a and --b take FIELD=VALUE" in done.stderr, setting


def test_compare_gemm_times_only_the_cases_asked_for():
    done = run_script("compare_gemm.py", "--only", "mlp 64x32x64 NN", "1x784x256 NT",
                      "--threads", "1", "--repeat", "1", "--min-sample", "0.001",
                      "--settle", "0", "--warm", "0", "--markdown")
    assert done.returncode == 0, done.stderr
    rows = re.findall(r"^\| (mlp \d+x\d+x\d+) \| (NN|TN|NT) ", done.stdout, re.MULTILINE)
    assert rows == [("mlp 64x32x64", "NN"), ("mlp 1x784x256", "NT")]


def test_compare_gemm_rejects_a_filter_that_matches_nothing():
    done = run_script("compare_gemm.py", "--only", "square 4096", "--repeat", "1")
    assert done.returncode == 2
    assert "no case matches --only 'square 4096'" in done.stderr
