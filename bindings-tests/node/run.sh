#!/usr/bin/env bash
# One command for the Node surface: install the pinned dev tools (npm ci), build
# the addon (release), check the committed generated files are fresh, and run the
# node:test suites. Exit status is non-zero if any step fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
node_dir="$(cd "$here/../../node" && pwd)"
repo="$(cd "$node_dir/.." && pwd)"
# The workspace's target dir: the addon, the CLI and the generated-file check all
# come from the one scripts/build.sh build the other suites use.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
export NAPI_TYPE_DEF_TMP_FOLDER="${NAPI_TYPE_DEF_TMP_FOLDER:-$CARGO_TARGET_DIR/napi-type-def}"

cd "$node_dir"
echo "== node: npm ci"
npm ci --no-audit --no-fund

# Builds the workspace (scripts/build.sh) and checks index.js / index.d.ts / types.d.ts.
echo "== node: generated files are fresh"
bash "$here/check-generated.sh"

# The addon is the keel-node cdylib of that build, under the file name napi-rs's
# loader (index.js) looks for. Elsewhere than Linux x64/arm64 glibc, `npm run build`.
echo "== node: the addon (release)"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=linux-x64-gnu ;;
  Linux-aarch64) platform=linux-arm64-gnu ;;
  *) platform="" ;;
esac
if [ -n "$platform" ] && ! ldd --version 2>&1 | grep -qi musl; then
  cp "$CARGO_TARGET_DIR/release/libkeel_node.so" "$node_dir/keel.$platform.node.tmp"
  mv -f "$node_dir/keel.$platform.node.tmp" "$node_dir/keel.$platform.node"
else
  npm run build
fi

# The keel CLI of the same build (a credentials test reads a mirror through it).
export KEEL_BIN="$CARGO_TARGET_DIR/release/keel"

echo "== node: node:test suites"
# Same file list as `npm test`; the runner's summary is printed last.
node --test "$here"/*.test.mjs "$here"/*.test.cjs
