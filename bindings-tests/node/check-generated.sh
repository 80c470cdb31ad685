#!/usr/bin/env bash
# Fails (exit 1) when the committed node/index.js, node/index.d.ts or node/types.d.ts
# differ from what `napi build` / ts-rs generate from the current Rust source. Builds into a temporary
# directory; the committed files are never touched. Needs `npm ci` in node/ first.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
node_dir="$(cd "$here/../../node" && pwd)"
repo="$(cd "$node_dir/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target-node}"

# The option types (node/types.d.ts, imported by index.d.ts) come from keel-core's serde
# types through ts-rs: the test fails when the committed file differs.
if ! (cd "$repo" && cargo test --release -q -p keel-core --features ts --test ts_types >/dev/null 2>&1); then
  echo "check-generated: node/types.d.ts is stale: run" >&2
  echo "  KEEL_UPDATE_TYPES=1 cargo test --release -p keel-core --features ts --test ts_types" >&2
  exit 1
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/keel-node-gen.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

cd "$node_dir"
# Same flags as `npm run build` (package.json), but into $tmp.
if ! npx --no-install napi build --platform --release --js index.js --dts index.d.ts --output-dir "$tmp" >"$tmp/build.log" 2>&1; then
  cat "$tmp/build.log" >&2
  echo "check-generated: napi build failed" >&2
  exit 1
fi

stale=0
for f in index.js index.d.ts; do
  if ! diff -u "$node_dir/$f" "$tmp/$f" >"$tmp/$f.diff"; then
    echo "check-generated: node/$f is stale (differs from a fresh napi build):" >&2
    head -n 60 "$tmp/$f.diff" >&2
    stale=1
  fi
done
if [ "$stale" -ne 0 ]; then
  echo "check-generated: run 'npm run build' in node/ and commit node/index.js node/index.d.ts" >&2
  exit 1
fi
echo "check-generated: node/index.js and node/index.d.ts are up to date"
