#!/bin/sh
# Header freshness check: is the committed include/keel.h exactly what cbindgen
# generates from ffi/ now?
#
#   bindings-tests/c/check-header.sh            exit 0 when fresh; exit 1 with a diff when stale
#   bindings-tests/c/check-header.sh --update   write the fresh header to include/keel.h
#
# build.rs writes the generated header only to cargo's OUT_DIR (never into the
# source tree); this script builds the crate (build-lib.sh), copies that fresh
# header to a temporary file and compares. CI runs it (run.sh does first), so CI
# fails whenever ffi/ or cbindgen.toml changed without regenerating the header.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
committed="$root/include/keel.h"

vars=$("$here/build-lib.sh")
eval "$vars"
if [ ! -f "$KEEL_OUT_DIR/keel.h" ]; then
    echo "check-header: build.rs did not generate $KEEL_OUT_DIR/keel.h" >&2
    exit 1
fi
fresh=$(mktemp)
trap 'rm -f "$fresh"' EXIT
cp "$KEEL_OUT_DIR/keel.h" "$fresh"

if [ "${1:-}" = "--update" ]; then
    cp "$fresh" "$committed"
    echo "check-header: wrote include/keel.h"
    exit 0
fi
if [ -f "$committed" ] && cmp -s "$committed" "$fresh"; then
    echo "check-header: include/keel.h is up to date"
    exit 0
fi
echo "check-header: include/keel.h is STALE: it differs from what cbindgen generates from ffi/." >&2
echo "check-header: run 'bindings-tests/c/check-header.sh --update' and commit include/keel.h." >&2
if [ -f "$committed" ]; then
    diff -u "$committed" "$fresh" | sed 's/^/    /' | head -n 200 >&2 || true
else
    echo "check-header: include/keel.h does not exist" >&2
fi
exit 1
