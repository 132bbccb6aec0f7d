"""The measuring tools under tools/ that the docs quote still build and run
(their figures are not checked: they measure the machine)."""
import pathlib
import re
import shutil
import subprocess

import pytest

import fastmlp

TOOLS = pathlib.Path(__file__).resolve().parent.parent / "tools"


@pytest.fixture(scope="module")
def read_bandwidth(tmp_path_factory):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build tools/read_bandwidth.c")
    if "avx2" not in fastmlp.config()["isas_available"]:
        pytest.skip("tools/read_bandwidth.c reads with AVX2, which this CPU lacks")
    exe = tmp_path_factory.mktemp("tools") / "read_bandwidth"
    subprocess.run([cc, "-O3", "-mavx2", str(TOOLS / "read_bandwidth.c"), "-o", str(exe)],
                   check=True, capture_output=True)
    return exe


def test_read_bandwidth_reports_each_size(read_bandwidth):
    done = subprocess.run([str(read_bandwidth), "4", "16"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    sizes = re.findall(r"^\s+(\d+) KB:\s+[\d.]+ us a pass,\s+[\d.]+ GB/s$", done.stdout,
                       re.MULTILINE)
    assert sizes == ["4", "16"]


def test_read_bandwidth_rejects_a_size_it_cannot_read(read_bandwidth):
    for args in ([], ["0"], ["lots"]):
        done = subprocess.run([str(read_bandwidth), *args], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 2, args
        assert done.stderr, args
