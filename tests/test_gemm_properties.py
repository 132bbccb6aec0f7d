"""Property tests: gemm on random small shapes, orientations, dtypes, scalars
and memory layouts matches the float64 reference, on every kernel set."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastmlp
from gemm_helpers import (
    DTYPES, INPUT_LAYOUTS, OUT_LAYOUTS, assert_gemm_close, assert_untouched_outside,
    make_operands, make_out, with_layout)

dims = st.integers(0, 70)
# Scalars either special (0, 1, -1) or of moderate size: a tiny alpha would
# underflow to 0 in float32, which the relative error bound does not cover.
scalars = st.one_of(st.sampled_from([0.0, 1.0, -1.0]),
                    st.floats(-4.0, 4.0).filter(lambda v: abs(v) >= 1e-3))

# The `isa` fixture is set once per kernel set; hypothesis's examples within one
# run of the test all share it, which is what is wanted here.
property_settings = settings(max_examples=80, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])


@property_settings
@given(m=dims, n=dims, k=dims, trans_a=st.booleans(), trans_b=st.booleans(),
       dtype=st.sampled_from(DTYPES), alpha=scalars, beta=scalars,
       layout_a=st.sampled_from(INPUT_LAYOUTS), layout_b=st.sampled_from(INPUT_LAYOUTS),
       out_layout=st.sampled_from([None] + OUT_LAYOUTS), seed=st.integers(0, 2**32 - 1))
def test_gemm_matches_reference(isa, m, n, k, trans_a, trans_b, dtype, alpha, beta,
                                layout_a, layout_b, out_layout, seed):
    rng = np.random.default_rng(seed)
    a0, b0 = make_operands(rng, m, n, k, dtype, trans_a, trans_b)
    a, b = with_layout(a0, layout_a), with_layout(b0, layout_b)
    kwargs = dict(trans_a=trans_a, trans_b=trans_b, alpha=alpha)
    if out_layout is None:
        got = fastmlp.gemm(a, b, **kwargs)
        assert got.flags.c_contiguous and got.dtype == dtype
        assert_gemm_close(got, a0, b0, **kwargs)
        return
    # With beta == 0, out starts as NaN: it must not be read.
    out, parent, index = make_out(rng, m, n, dtype, out_layout,
                                  fill=np.nan if beta == 0 else None)
    c0, before = out.copy(), parent.copy()
    assert fastmlp.gemm(a, b, beta=beta, out=out, **kwargs) is out
    assert_gemm_close(out, a0, b0, beta=beta, c=c0, **kwargs)
    assert_untouched_outside(parent, before, index)


@property_settings
@given(m=dims, n=dims, k=dims, trans_a=st.booleans(), trans_b=st.booleans(),
       dtype=st.sampled_from(DTYPES), alpha=scalars, seed=st.integers(0, 2**32 - 1))
def test_beta_zero_result_ignores_out_contents(isa, m, n, k, trans_a, trans_b, dtype, alpha,
                                               seed):
    """With beta == 0, what out held before (NaN, inf, garbage) changes no bit of
    the result, and the result is that of out=None."""
    rng = np.random.default_rng(seed)
    a, b = make_operands(rng, m, n, k, dtype, trans_a, trans_b)
    kwargs = dict(trans_a=trans_a, trans_b=trans_b, alpha=alpha)
    expected = fastmlp.gemm(a, b, **kwargs).tobytes()
    for fill in (np.nan, np.inf, -1e30):
        out = np.full((m, n), fill, dtype=dtype)
        assert fastmlp.gemm(a, b, beta=0.0, out=out, **kwargs).tobytes() == expected
