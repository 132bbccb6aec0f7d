"""The measuring tools under tools/ that the docs quote still build and run
(their figures are not checked: they measure the machine)."""
import pathlib
import re
import shutil
import subprocess

import pytest

import fastmlp

TOOLS = pathlib.Path(__file__).resolve().parent.parent / "tools"
REPORT = re.compile(r"^\s+(\d+) KB:\s+[\d.]+ us a pass,\s+[\d.]+ GB/s, (\d+) thread\(s\)$",
                    re.MULTILINE)


def build_read_bandwidth(directory, *flags):
    """tools/read_bandwidth.c built with `flags`, or None when they do not build."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build tools/read_bandwidth.c")
    if "avx2" not in fastmlp.config()["isas_available"]:
        pytest.skip("tools/read_bandwidth.c reads with AVX2, which this CPU lacks")
    exe = directory / ("read_bandwidth" + "".join(flags))
    done = subprocess.run([cc, "-O3", "-mavx2", *flags, str(TOOLS / "read_bandwidth.c"), "-o",
                           str(exe)], capture_output=True)
    return exe if done.returncode == 0 else None


@pytest.fixture(scope="module")
def read_bandwidth(tmp_path_factory):
    """The tool as its header builds it, with OpenMP."""
    exe = build_read_bandwidth(tmp_path_factory.mktemp("tools"), "-fopenmp")
    if exe is None:
        pytest.skip("the C compiler here cannot build with -fopenmp")
    return exe


def run(exe, *args):
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=60)


def test_read_bandwidth_reports_each_size(read_bandwidth):
    done = run(read_bandwidth, "4", "16")
    assert done.returncode == 0, done.stderr
    assert REPORT.findall(done.stdout) == [("4", "1"), ("16", "1")]


def test_read_bandwidth_reads_with_a_team(read_bandwidth):
    # sizes of a megabyte or two: a hundred passes, not the 10**5 parallel
    # regions of a few kilobytes, slow on a loaded machine
    done = run(read_bandwidth, "--threads", "2", "1024", "2048")
    assert done.returncode == 0, done.stderr
    assert REPORT.findall(done.stdout) == [("1024", "2"), ("2048", "2")]


def test_read_bandwidth_rejects_what_it_cannot_read(read_bandwidth):
    # 1 KB is 4 blocks of 64 floats: too few for 8 threads to have one each
    for args in ([], ["0"], ["lots"], ["--threads", "0", "4"], ["--threads", "2"],
                 ["--threads", "8", "1"]):
        done = run(read_bandwidth, *args)
        assert done.returncode == 2, args
        assert done.stderr, args


def test_read_bandwidth_without_openmp_reads_on_one_thread(tmp_path):
    exe = build_read_bandwidth(tmp_path)
    assert exe is not None
    done = run(exe, "--threads", "1", "4")
    assert done.returncode == 0, done.stderr
    assert REPORT.findall(done.stdout) == [("4", "1")]
    done = run(exe, "--threads", "2", "4")
    assert done.returncode == 2 and "OpenMP" in done.stderr
