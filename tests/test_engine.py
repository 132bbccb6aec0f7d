"""The network engine is built once per ISA (csrc/nn/engine.h); its loops are
the same C under other flags. Here: its finiteness check, which every input
check and every training batch relies on, on each ISA and, for inputs large
enough to be split, on every thread's part. (The optimizer updates
are compared across ISAs in test_optim.py; training and prediction run on
each ISA in test_reproducibility.py.)"""
import numpy as np
import pytest

import fastmlp
from fastmlp import _core


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_finds_every_bad_value_at_every_position(isa, dtype):
    for n in (1, 7, 8, 15, 16, 17, 33, 64, 65):
        x = np.linspace(-1, 1, n).astype(dtype)
        assert _core.all_finite(x)
        for bad in (np.nan, np.inf, -np.inf):
            for i in range(n):
                y = x.copy()
                y[i] = bad
                assert not _core.all_finite(y), (isa, n, bad, i)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_all_finite_accepts_extreme_finite_values(isa, dtype):
    info = np.finfo(dtype)
    x = np.array([info.max, -info.max, info.tiny, info.smallest_subnormal, -0.0, 0.0] * 5, dtype)
    assert _core.all_finite(x)
    assert _core.all_finite(np.empty(0, dtype))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_all_finite_checks_every_part_of_a_large_input(isa, dtype, restore_threads, threads):
    """An input of millions of elements is scanned by several threads; a bad
    value in any thread's part, first or last element included, is found."""
    fastmlp.set_num_threads(threads)
    n = 3 * (1 << 20) + 5
    x = np.ones(n, dtype)
    assert _core.all_finite(x)
    for i in (0, n // 3 - 1, n // 3, n // 2, 2 * n // 3, n - 1):
        x[i] = np.nan
        assert not _core.all_finite(x), (threads, i)
        x[i] = -np.inf
        assert not _core.all_finite(x), (threads, i)
        x[i] = 1
