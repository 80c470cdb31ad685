#!/usr/bin/env bash
# The one cargo build every suite uses: every workspace artifact (libkeel.a and
# libkeel.so, the keel CLI, the Node addon cdylib, the test, bench-free example and
# ts_types binaries) in a single invocation, so cargo resolves features once and
# no later step rebuilds keel-core with a different feature set. A repeated call
# with nothing changed costs about a second.
#
#   scripts/build.sh [--profile release|dev] [extra cargo args, e.g. --message-format=json]
#
# The Node addon's type definitions are written by napi-derive while it compiles
# keel-node, into NAPI_TYPE_DEF_TMP_FOLDER (default $CARGO_TARGET_DIR/napi-type-def);
# bindings-tests/node/check-generated.sh renders node/index.d.ts and node/index.js
# from them, the way `napi build` does. The variable must be the same for every
# cargo call (napi-build reruns on a change), so scripts/test-all.sh exports it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
profile=release
if [ "${1:-}" = "--profile" ]; then
    profile="$2"
    shift 2
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
export NAPI_TYPE_DEF_TMP_FOLDER="${NAPI_TYPE_DEF_TMP_FOLDER:-$CARGO_TARGET_DIR/napi-type-def}"
mkdir -p "$NAPI_TYPE_DEF_TMP_FOLDER"
cd "$root"
exec cargo build --workspace --profile "$profile" --lib --bins --tests --examples \
    --features agent-keel-core/ts "$@"
