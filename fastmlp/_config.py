"""fastmlp.config(): what this build is and what it runs on."""

from fastmlp import _core


def config():
    """Report of the build and the kernels in use.

    Keys: version, isa (kernel set in use), isas_available, openmp (built with
    OpenMP), num_threads, compiler, gemm_tile ({dtype: "MRxNR"}),
    gemm_blocking ({dtype: {"mc", "kc", "kc_strided_a", "nc"}}).
    """
    from fastmlp import __version__

    return {
        "version": __version__,
        "isa": _core.active_isa(),
        "isas_available": _core.isas_available(),
        "openmp": _core.openmp_enabled(),
        "num_threads": _core.get_num_threads(),
        "compiler": _core.build_compiler(),
        "gemm_tile": {
            dt: "{}x{}".format(*_core.gemm_tile(dt)) for dt in ("float32", "float64")
        },
        "gemm_blocking": {dt: _core.gemm_blocking(dt) for dt in ("float32", "float64")},
    }
