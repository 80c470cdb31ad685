#!/usr/bin/env bash
# One command for the Node surface: install the pinned dev tools (npm ci), build
# the addon (release), check the committed generated files are fresh, and run the
# node:test suites. Exit status is non-zero if any step fails.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
node_dir="$(cd "$here/../../node" && pwd)"
repo="$(cd "$node_dir/.." && pwd)"
# A target dir of its own, so the Node build never waits on other cargo builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target-node}"

cd "$node_dir"
echo "== node: npm ci"
npm ci --no-audit --no-fund

# Check first: `npm run build` rewrites index.js / index.d.ts in place.
echo "== node: generated files are fresh"
bash "$here/check-generated.sh"

echo "== node: build the addon (release)"
npm run build

echo "== node: the keel CLI (a credentials test reads a mirror through it)"
(cd "$repo" && cargo build --release -q -p agent-keel-cli)
export KEEL_BIN="$CARGO_TARGET_DIR/release/keel"

echo "== node: node:test suites"
# Same file list as `npm test`; the runner's summary is printed last.
node --test "$here"/*.test.mjs "$here"/*.test.cjs
