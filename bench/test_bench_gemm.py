"""pytest-benchmark cases for fastmlp.gemm and numpy.matmul (OpenBLAS).

The shapes and orientations of compare_gemm.py, one benchmark per library,
grouped by case, at the default thread count; both write into preallocated
outputs. Not part of the normal test run (testpaths = ["tests"]):

    PYTHONPATH=. python -m pytest bench --benchmark-only
"""
import pytest
from threadpoolctl import threadpool_info

import fastmlp
from compare_gemm import LIBS, Pacing, all_cases, mismatch, settled

CASES = [case for group in all_cases() for case in group]
# Before timing: the other library's idle threads stop spinning, then this
# one's cores come up to speed (see compare_gemm); pytest-benchmark sizes
# the samples itself.
PACING = Pacing(sample=0.0, settle=0.2, warm=0.02)


@pytest.mark.parametrize("lib", LIBS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.label.replace(" ", "-"))
def test_gemm(benchmark, case, lib):
    calls = case.calls()
    assert mismatch(case, calls) is None
    benchmark.group = case.label
    benchmark.extra_info.update(
        gflop=case.flop / 1e9,
        fastmlp_threads=fastmlp.get_num_threads(),
        blas_threads=[i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"],
    )
    if not benchmark.disabled:
        settled(calls[lib], PACING)
    out = benchmark(calls[lib])
    assert out.shape == (case.m, case.n)
