#!/usr/bin/env bash
# Build fastmlp with AddressSanitizer + UndefinedBehaviorSanitizer in a scratch
# copy of this checkout and run the test suite against that build.
#
# Usage (from the repository root, with the development virtualenv active):
#
#   bash tools/sanitize.sh                      # the whole suite: pytest -v tests
#   bash tools/sanitize.sh -x -q tests/test_gemm.py   # any pytest arguments
#
# The checkout itself is never built or modified: the tracked files plus the
# untracked, not ignored ones (git ls-files -co --exclude-standard) are copied
# into a scratch directory, built there with FASTMLP_SANITIZE=1 (setup.py adds
# -fsanitize=address,undefined -g -O1), and pytest runs there with that build
# first on PYTHONPATH. Test paths given as arguments are relative to the
# repository root and resolve the same way inside the copy.
#
# The Python process preloads the ASan runtime (the extension is instrumented,
# the interpreter is not), with
#   ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:...   CPython leaks by design
#   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# so the first report stops the run (SIGABRT; pytest's faulthandler then names
# the test). pytest runs with --capture=sys, so the report the runtime writes
# to file descriptor 2 reaches the output, and a copy goes to a file per
# process (log_path), printed at the end: subprocesses the tests start inherit
# the environment, run under the sanitizers too, and their reports show there
# even when the test swallowed their stderr. To look past a known report,
# deselect its test: bash tools/sanitize.sh -v tests --deselect tests/x.py::test_y
#
# Environment:
#   SANITIZE_DIR=/path  build (and rebuild incrementally) in this directory
#                       and keep it (files deleted from the checkout stay
#                       there); default: a fresh temporary one, removed
#   PYTHON=/path        the interpreter (default: python on PATH)
#   SANITIZE_LOG=/path  where the full output goes (default: a file
#                       ${TMPDIR:-/tmp}/fastmlp-sanitize-<time>.log, kept)
#
# Exit status: pytest's, or 2 when a sanitizer reported, 3 when the build failed.
set -euo pipefail

repo=$(git rev-parse --show-toplevel 2>/dev/null || (cd "$(dirname "$0")/.." && pwd))
cd "$repo"
python=${PYTHON:-python}
if ! "$python" -c "import numpy, Cython, pytest, setuptools as s
assert int(s.__version__.split('.')[0]) >= 77" 2>/dev/null; then
    echo "sanitize.sh: '$python' lacks numpy/Cython/setuptools>=77/pytest; activate the" \
         "development virtualenv or set PYTHON=/path/to/python" >&2
    exit 3
fi

libasan=$(gcc -print-file-name=libasan.so)
if [[ "$libasan" != /* || ! -e "$libasan" ]]; then
    echo "sanitize.sh: gcc has no ASan runtime" \
         "(gcc -print-file-name=libasan.so gave '$libasan')" >&2
    exit 3
fi

if [[ -n "${SANITIZE_DIR:-}" ]]; then
    scratch=$SANITIZE_DIR
    mkdir -p "$scratch"
else
    scratch=$(mktemp -d "${TMPDIR:-/tmp}/fastmlp-sanitize.XXXXXX")
    trap 'rm -rf "$scratch"' EXIT
fi
log=${SANITIZE_LOG:-${TMPDIR:-/tmp}/fastmlp-sanitize-$(date +%Y%m%d-%H%M%S).log}

echo "sanitize.sh: copying the checkout to $scratch" >&2
source tools/scratch_build.sh
copy_checkout "$scratch"
build_in "$scratch" "$python" sanitize.sh FASTMLP_SANITIZE=1 || exit 3
if [[ $(nm -D "$scratch"/fastmlp/_core*.so | grep -c __asan_) -eq 0 ]]; then
    echo "sanitize.sh: the built extension is not instrumented (no __asan symbols)" >&2
    exit 3
fi

args=("$@")
# -v by default: should a report stop the run, the log names the test.
[[ ${#args[@]} -eq 0 ]] && args=(-v tests)

reports=$scratch/sanitizer-reports
rm -rf "$reports" && mkdir -p "$reports"
echo "sanitize.sh: pytest ${args[*]} under ASan+UBSan (output: $log)" >&2
set +e
(
    cd "$scratch"
    export PYTHONPATH="$scratch${PYTHONPATH:+:$PYTHONPATH}"
    export LD_PRELOAD="$libasan${LD_PRELOAD:+:$LD_PRELOAD}"
    # Reports also go to files (log_path, one per process): a test that runs
    # a subprocess may swallow its stderr.
    # abort_on_error: the process dies by SIGABRT, so pytest's faulthandler
    # prints the Python stack of the test that was running.
    # allocator_may_return_null: a failed huge allocation returns NULL, as
    # without ASan, so the library's MemoryError paths run instead of aborting.
    common="halt_on_error=1:abort_on_error=1:print_summary=1"
    export ASAN_OPTIONS="detect_leaks=0:$common:allocator_may_return_null=1:log_path=$reports/asan"
    export UBSAN_OPTIONS="print_stacktrace=1:$common:log_path=$reports/ubsan"
    # --capture=sys: pytest captures print() but not file descriptor 2, so a
    # report the C runtime writes there reaches the log even when it aborts.
    "$python" -m pytest -p no:cacheprovider --capture=sys "${args[@]}"
) 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# Reports in files or in the output, whether or not they stopped the run (a
# subprocess's report may only fail one test).
shopt -s nullglob
files=("$reports"/*)
if [[ ${#files[@]} -gt 0 ]] || grep -qE "ERROR: AddressSanitizer|runtime error:" "$log"; then
    echo >&2
    echo "sanitize.sh: SANITIZER REPORTS (pytest exit status $status; output in $log)" >&2
    for f in "${files[@]}"; do
        echo "---- $f" >&2
        head -80 "$f" >&2
        cat "$f" >> "$log"
    done
    grep -nE -A30 "ERROR: AddressSanitizer|runtime error:" "$log" | head -120 >&2
    exit 2
fi
if [[ $status -eq 0 ]]; then
    echo "sanitize.sh: clean: no ASan/UBSan report, tests passed" >&2
else
    echo "sanitize.sh: no ASan/UBSan report, but pytest exited with $status" >&2
fi
exit "$status"
