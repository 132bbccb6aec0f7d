#!/usr/bin/env bash
# Run the test suite on the AVX-512 kernel set on a CPU that has only AVX2.
#
# Usage (from the repository root, with the development virtualenv active):
#
#   bash tools/emulate_avx512.sh                     # pytest -q tests
#   bash tools/emulate_avx512.sh -x tests/test_gemm.py   # any pytest arguments
#
# The checkout is copied into a scratch directory (tools/scratch_build.sh) and
# built there with FASTMLP_EMULATE_AVX512=1: the AVX-512 kernel files are
# compiled on pairs of AVX2 registers (csrc/kernels/avx512/zmm_emulated.h),
# and the build offers the "avx512" kernel set wherever AVX2 and FMA run.
# The tests then cover its 12-row tiles, blocking, edge tiles and thread
# splits, with the bits a native AVX-512 run gives, on this machine; what
# they cannot cover is the AVX-512 instructions themselves and the speed.
#
# Environment:
#   PYTHON=/path   the interpreter (default: python on PATH)
#
# Exit status: pytest's, or 3 when the build failed.
set -euo pipefail

repo=$(git rev-parse --show-toplevel 2>/dev/null || (cd "$(dirname "$0")/.." && pwd))
cd "$repo"
python=${PYTHON:-python}
if ! grep -qw fma /proc/cpuinfo || ! grep -qw avx2 /proc/cpuinfo; then
    echo "emulate_avx512.sh: this CPU lacks AVX2 or FMA, which the emulation needs" >&2
    exit 3
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/fastmlp-avx512.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
source tools/scratch_build.sh
copy_checkout "$scratch"
build_in "$scratch" "$python" emulate_avx512.sh FASTMLP_EMULATE_AVX512=1 || exit 3

args=("$@")
[[ ${#args[@]} -eq 0 ]] && args=(-q tests)
cd "$scratch"
PYTHONPATH="$scratch${PYTHONPATH:+:$PYTHONPATH}" "$python" -c \
    "import fastmlp; c = fastmlp.config(); print(c['isa'], c['isas_available'], c['compiler'])"
PYTHONPATH="$scratch${PYTHONPATH:+:$PYTHONPATH}" "$python" -m pytest -p no:cacheprovider "${args[@]}"
