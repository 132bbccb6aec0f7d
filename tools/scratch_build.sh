# Sourced by the tools that build and test a scratch copy of this checkout
# (sanitize.sh, emulate_avx512.sh); run from the repository root.
#
# copy_checkout DIR: copies the tracked files and the untracked, not ignored
# ones (git ls-files -co --exclude-standard) into DIR, skipping a file deleted
# in the work tree but still tracked. cp -p -u keeps timestamps and copies
# only newer files, so a reused DIR rebuilds only what changed.
copy_checkout() {
    git ls-files -z -co --exclude-standard \
        | while IFS= read -r -d '' f; do [[ -f "$f" ]] && printf '%s\0' "$f"; done \
        | xargs -0 cp --parents -p -u -t "$1"
}

# build_in DIR PYTHON TOOL VAR=VALUE: builds the extension in place in DIR
# with that build option set, output in DIR/build.log. On failure, prints the
# log's tail and "TOOL: the build failed", and returns 1.
build_in() {
    echo "$3: building with $4 (log: $1/build.log)" >&2
    if ! (cd "$1" && env "$4" "$2" setup.py build_ext --inplace >build.log 2>&1); then
        tail -40 "$1/build.log" >&2
        echo "$3: the build failed" >&2
        return 1
    fi
}
