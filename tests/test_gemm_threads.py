"""Threads: gemm gives bitwise the same result for any thread count, on every
kernel set; with set_num_threads(None) the count follows OpenMP (threadpoolctl)."""
from concurrent.futures import ThreadPoolExecutor

import pytest
from threadpoolctl import threadpool_limits

import fastmlp
from gemm_helpers import assert_gemm_close, make_operands, make_out

THREAD_COUNTS = (1, 2, 3)
NEEDS_OPENMP = pytest.mark.skipif(
    not fastmlp.config()["openmp"],
    reason="fastmlp was built without OpenMP: no runtime for threadpoolctl to limit")

# (m, n, k, trans_a, trans_b, out layout or None): each has far more flops and
# tiles than the driver needs to use 3 threads.
CASES = [
    pytest.param(300, 700, 500, False, False, None, id="300x700x500"),
    pytest.param(128, 256, 784, False, True, None, id="128x256x784-NT-mlp"),
    pytest.param(1000, 300, 64, True, False, None, id="1000x300x64-TN"),
    # A^T packed and shared (B wider than 16 panels on every ISA), B's column
    # panels each thread's own, packed by the first tile down each as it
    # multiplies
    pytest.param(40, 600, 520, True, False, "C", id="40x600x520-TN-own-columns"),
    # A^T read in place (B at most 16 panels wide), B as above
    pytest.param(40, 96, 520, True, False, "C", id="40x96x520-TN-a-in-place"),
    pytest.param(517, 263, 1031, True, True, "C", id="517x263x1031-TT-out-C"),
    pytest.param(517, 263, 1031, False, True, "F", id="517x263x1031-NT-out-F"),
    # few rows: the dot-product path (A . W^T) and the k-split row kernels
    pytest.param(3, 2000, 700, False, True, None, id="3x2000x700-NT-dot"),
    pytest.param(1, 784, 256, False, True, "C", id="1x784x256-NT-dot-out"),
    pytest.param(2, 3000, 900, False, False, None, id="2x3000x900-NN-ksplit"),
    pytest.param(1, 5000, 300, True, False, "C", id="1x5000x300-TN-several-column-panels"),
]


@pytest.mark.parametrize("m, n, k, trans_a, trans_b, out_layout", CASES)
def test_bitwise_equal_for_any_thread_count(isa, dtype, rng, restore_threads,
                                            m, n, k, trans_a, trans_b, out_layout):
    a, b = make_operands(rng, m, n, k, dtype, trans_a, trans_b)
    beta = 0.0 if out_layout is None else -0.5
    out0 = None if out_layout is None else make_out(rng, m, n, dtype, out_layout)[0]

    def run(threads):
        fastmlp.set_num_threads(threads)
        assert fastmlp.get_num_threads() == (threads if fastmlp.config()["openmp"] else 1)
        out = None if out0 is None else out0.copy(order="K")
        return fastmlp.gemm(a, b, trans_a=trans_a, trans_b=trans_b, alpha=0.75, beta=beta, out=out)

    results = {threads: run(threads) for threads in THREAD_COUNTS}
    assert_gemm_close(results[1], a, b, trans_a=trans_a, trans_b=trans_b,
                      alpha=0.75, beta=beta, c=out0)
    differing = [t for t in THREAD_COUNTS if results[t].tobytes() != results[1].tobytes()]
    assert not differing, f"results with {differing} threads differ from 1 thread"


@pytest.mark.parametrize("m", [150, 10], ids=["b-packed", "b-in-place"])
def test_column_blocks_in_turn(isa, dtype, rng, restore_threads, m):
    """More columns than one column block (nc): each block shares its panels
    out afresh, so a thread may pack the next block's panel where another
    still reads this block's, or claim one of the next block's panels as
    another still claims this block's. Such a race shows in some runs only,
    hence the repeats: without the barrier between blocks, 1 run in 10
    (generic) to 1 in 2 (AVX2) on 3 threads of a 2-core machine differed in
    float32. With 10 rows (and k = 32, enough work for 3 threads), B is read
    in place: nothing is packed, but panels are claimed."""
    a, b = make_operands(rng, m, 8200, 1 if m > 12 else 32, dtype)
    fastmlp.set_num_threads(1)
    expected = fastmlp.gemm(a, b).tobytes()
    for threads in (2, 3):
        fastmlp.set_num_threads(threads)
        differing = sum(fastmlp.gemm(a, b).tobytes() != expected for _ in range(40))
        assert differing == 0, f"{differing} of 40 runs on {threads} threads differ from 1 thread"


@NEEDS_OPENMP
def test_threadpoolctl_limits_apply_when_following_openmp(restore_threads):
    fastmlp.set_num_threads(None)
    default = fastmlp.get_num_threads()
    with threadpool_limits(1, user_api="openmp"):
        assert fastmlp.get_num_threads() == 1
    with threadpool_limits(3, user_api="openmp"):
        assert fastmlp.get_num_threads() == 3
    assert fastmlp.get_num_threads() == default


@NEEDS_OPENMP
def test_fixed_thread_count_overrides_threadpoolctl(restore_threads):
    fastmlp.set_num_threads(2)
    with threadpool_limits(1, user_api="openmp"):
        assert fastmlp.get_num_threads() == 2
        fastmlp.set_num_threads(None)
        assert fastmlp.get_num_threads() == 1


def test_concurrent_calls_from_python_threads(dtype, rng):
    """gemm releases the GIL: calls running at once in several Python threads,
    each with its own OpenMP team, give the same bits as calls made one by one."""
    shapes = [(97, 131, 203), (256, 64, 300), (61, 300, 128), (150, 150, 150)] * 2
    operands = [make_operands(rng, m, n, k, dtype) for m, n, k in shapes]
    expected = [fastmlp.gemm(a, b).tobytes() for a, b in operands]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda ab: fastmlp.gemm(*ab).tobytes(), operands * 3))
    assert got == expected * 3


@NEEDS_OPENMP
@pytest.mark.parametrize("threads", [2, 3])
def test_threads_with_own_columns_never_overwrite_each_others_panels(
        isa, dtype, rng, restore_threads, threads):
    """A is read in place (contiguous rows, few of them), so each thread packs
    and multiplies its own column panels with no barrier, and may pack the
    next k slice while another still reads this one. k = 799 is cut into
    slices of unequal depth (267 + 267 + 265 for kc = 400 or 384, 200 x 3 + 199
    for kc = 256): had a panel's place depended on its slice's depth, the last
    slice's panels would overlap a slower thread's current ones."""
    a, b = make_operands(rng, 60, 96, 799, dtype)
    fastmlp.set_num_threads(1)
    expected = fastmlp.gemm(a, b).tobytes()
    fastmlp.set_num_threads(threads)
    differing = sum(fastmlp.gemm(a, b).tobytes() != expected for _ in range(60))
    assert differing == 0, f"{differing} of 60 runs on {threads} threads differ from 1 thread"
