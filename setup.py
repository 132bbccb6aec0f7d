"""Build of fastmlp's compiled core.

One extension, ``fastmlp._core``, holds every C kernel. Kernel files for an
instruction set (``csrc/kernels/<isa>/``) are compiled as separate objects with
that ISA's flags; everything else gets baseline x86-64 flags, so the extension
runs on any CPU and picks its kernels at import (``csrc/arch/dispatch.c``).
Never ``-march=native``: a wheel built that way crashes on older CPUs. A
compiler that cannot build an ISA's kernels (an old one without -mavx512f)
leaves that kernel set out, and says so.

Environment:
  FASTMLP_NO_OPENMP=1  build without OpenMP (single-threaded)
  FASTMLP_SANITIZE=1   build with AddressSanitizer + UndefinedBehaviorSanitizer
  FASTMLP_EMULATE_AVX512=1  for tests on a CPU without AVX-512: build the
                       AVX-512 kernel set on AVX2 register pairs
                       (csrc/kernels/avx512/zmm_emulated.h) and offer it
                       wherever AVX2 runs; the bits are AVX-512's, the speed
                       is not
"""
import os
import platform
import sys
import tempfile
from glob import glob

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

IS_X86_64 = platform.machine().lower() in ("x86_64", "amd64")

COMMON_FLAGS = [
    "-O3", "-std=c11", "-fvisibility=hidden",
    # No debug information (distutils adds -g): it would make the module
    # several times larger. FASTMLP_SANITIZE's -g, later, overrides this.
    "-g0",
    # No contraction of a*b+c into FMA behind our back: the kernels call FMA
    # where they mean it, so every ISA path has one, documented, rounding.
    "-ffp-contract=off",
    # Math functions never set errno and no code reads the FP exception
    # flags, so GCC may vectorise sqrt and if-convert comparisons (x > 0 ? ..)
    # into masks; no rounding changes.
    "-fno-math-errno", "-fno-trapping-math",
    "-Wall",
]

# Flags for each ISA's kernel objects, in the order of preference.
ISA_FLAGS = {
    "generic": [],
    "avx2": ["-mavx2", "-mfma"],
    "avx512": ["-mavx512f", "-mavx2", "-mfma"],
}
# An ISA's flags work when the compiler takes them and knows the intrinsics.
ISA_PROBE = {
    "avx2": "#include <immintrin.h>\nint main(void) { __m256 x = _mm256_set1_ps(1.0f);\n"
            "  x = _mm256_fmadd_ps(x, x, x); return (int)_mm256_cvtss_f32(x) - 2; }\n",
    "avx512": "#include <immintrin.h>\nint main(void) { __m512 x = _mm512_set1_ps(1.0f);\n"
              "  x = _mm512_fmadd_ps(x, x, x); return (int)_mm512_reduce_add_ps(x) - 32; }\n",
}
ISAS = list(ISA_FLAGS) if IS_X86_64 else ["generic"]
EMULATE_AVX512 = os.environ.get("FASTMLP_EMULATE_AVX512") == "1" and IS_X86_64
if EMULATE_AVX512:
    ISA_FLAGS["avx512"], ISA_PROBE["avx512"] = ISA_FLAGS["avx2"], ISA_PROBE["avx2"]

OPENMP_PROBE = r"""
#include <omp.h>
int main(void) { int n = 0;
#pragma omp parallel reduction(+:n)
  n += 1;
  return n > 0 && omp_get_max_threads() > 0 ? 0 : 1; }
"""


def compiler_builds(compiler, source, flags):
    """True when this compiler compiles and links `source` with `flags`."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(source)
        try:
            objs = compiler.compile([src], output_dir=tmp, extra_postargs=flags)
            compiler.link_executable(objs, "probe", output_dir=tmp, extra_postargs=flags)
        except Exception:  # any compile or link failure means "no"
            return False
    return True


def buildable_isas(compiler):
    """The kernel sets this compiler can build (the generic one always)."""
    isas = [isa for isa in ISAS
            if isa not in ISA_PROBE or compiler_builds(compiler, ISA_PROBE[isa], ISA_FLAGS[isa])]
    for isa in sorted(set(ISAS) - set(isas)):
        print(f"fastmlp: the compiler cannot build with {' '.join(ISA_FLAGS[isa])}; "
              f"leaving out the {isa} kernels", file=sys.stderr)
    return isas


class BuildExt(build_ext):
    """Compiles the per-ISA kernel objects with their own flags, probes OpenMP."""

    def build_extension(self, ext):
        flags = list(COMMON_FLAGS) + ["-pthread"]
        link_flags = ["-pthread"]
        if os.environ.get("FASTMLP_NO_OPENMP") == "1":
            print("fastmlp: FASTMLP_NO_OPENMP=1; building single-threaded", file=sys.stderr)
        elif compiler_builds(self.compiler, OPENMP_PROBE, ["-fopenmp"]):
            flags.append("-fopenmp")
            link_flags.append("-fopenmp")
        else:
            print("fastmlp: compiler has no OpenMP; building single-threaded", file=sys.stderr)
        if os.environ.get("FASTMLP_SANITIZE") == "1":
            san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g", "-O1"]
            flags += san
            link_flags += san
        isas = buildable_isas(self.compiler)
        macros = [("FASTMLP_HAVE_" + isa.upper(), "1") for isa in isas]
        if EMULATE_AVX512:
            macros.append(("FASTMLP_EMULATE_AVX512", "1"))
        objects = []
        for isa in isas:
            sources = sorted(glob(os.path.join("csrc", "kernels", isa, "*.c")))
            objects += self.compiler.compile(
                sources, output_dir=os.path.join(self.build_temp, isa),
                include_dirs=["csrc"], macros=macros,
                extra_postargs=flags + ISA_FLAGS[isa], depends=glob("csrc/**/*.h", recursive=True))
        ext.extra_objects = objects
        ext.extra_compile_args = flags
        ext.extra_link_args = link_flags
        ext.define_macros = list(ext.define_macros or []) + macros
        super().build_extension(ext)


# Everything outside csrc/kernels/ is ISA-agnostic framework code.
FRAMEWORK_SOURCES = sorted(
    src for src in glob("csrc/**/*.c", recursive=True)
    if not src.startswith(os.path.join("csrc", "kernels")))

extensions = [
    Extension(
        "fastmlp._core",
        sources=["fastmlp/_core.pyx"] + FRAMEWORK_SOURCES,
        include_dirs=["csrc", numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        # The per-ISA kernel sources are linked in as objects (BuildExt), not
        # compiled as sources: listed here, an edit to one relinks the module.
        depends=(glob("csrc/**/*.h", recursive=True) + glob("csrc/**/*.def", recursive=True)
                 + glob("csrc/kernels/**/*.c", recursive=True)
                 + glob("fastmlp/*.pxd") + glob("fastmlp/*.pxi")),
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3, "boundscheck": False, "wraparound": False,
            "initializedcheck": False, "cdivision": True,
        },
    ),
    cmdclass={"build_ext": BuildExt},
)
