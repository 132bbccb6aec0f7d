"""Work claimed item by item (fm_claim_start / fm_claim_next, csrc/threads.c):
each thread takes its own share from the front, then what the others have
yet to start from their backs. The GEMM gives threads column panels this
way; the bits it computes do not depend on who takes a panel
(test_gemm_threads.py)."""
import pytest

import fastmlp
from fastmlp import _core

NEEDS_OPENMP = pytest.mark.skipif(
    not fastmlp.config()["openmp"],
    reason="fastmlp was built without OpenMP: every team has one thread")


@pytest.mark.parametrize("threads", [1, 2, 3, 4])
def test_every_item_is_taken_once(threads):
    team = threads if fastmlp.config()["openmp"] else 1
    for count in list(range(0, 20)) + [255, 1000]:
        taker, takes = _core.claim_trace(count, threads)
        assert takes == count, (count, taker)
        assert all(0 <= t < team for t in taker), (count, taker)


@NEEDS_OPENMP
@pytest.mark.parametrize("threads, idle", [(2, 0), (2, 1), (3, 0), (3, 2), (4, 1)])
def test_a_thread_that_does_not_start_has_its_share_taken(threads, idle):
    count = 5 * threads + 2
    taker, takes = _core.claim_trace(count, threads, idle)
    assert takes == count
    # every item, the idle thread's share too, was taken by another (with
    # more threads than this machine's CPUs, which ones varies)
    assert all(0 <= t < threads and t != idle for t in taker), taker


def test_claim_trace_checks_its_arguments():
    for count, threads, idle in [(-1, 2, -1), (4, 0, -1), (4, 2, 2)]:
        with pytest.raises(ValueError, match="claim_trace"):
            _core.claim_trace(count, threads, idle)
