#!/usr/bin/env bash
# Fails (exit 1) when the committed node/index.js, node/index.d.ts or node/types.d.ts
# differ from what the current Rust source generates. The committed files are never
# touched. Needs `npm ci` in node/ first.
#
# - node/types.d.ts comes from keel-core's serde types through ts-rs (the ts_types
#   test compares it).
# - node/index.d.ts and node/index.js come from napi-derive's type definitions,
#   written while scripts/build.sh compiles keel-node, rendered by @napi-rs/cli's
#   own generator (node/scripts/gen-bindings.mjs) exactly as `npm run build`
#   (`napi build --platform`) renders them. Reusing the workspace build matters:
#   `napi build` passes an explicit --target, so it compiles every crate again.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
node_dir="$(cd "$here/../../node" && pwd)"
repo="$(cd "$node_dir/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
export NAPI_TYPE_DEF_TMP_FOLDER="${NAPI_TYPE_DEF_TMP_FOLDER:-$CARGO_TARGET_DIR/napi-type-def}"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/keel-node-gen.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

if ! bash "$repo/scripts/build.sh" >"$tmp/build.log" 2>&1; then
  tail -n 40 "$tmp/build.log" >&2
  echo "check-generated: scripts/build.sh failed" >&2
  exit 1
fi

if ! (cd "$repo" && cargo test --release -q --workspace --features agent-keel-core/ts --test ts_types >"$tmp/ts.log" 2>&1); then
  tail -n 40 "$tmp/ts.log" >&2
  echo "check-generated: node/types.d.ts is stale: run" >&2
  echo "  KEEL_UPDATE_TYPES=1 cargo test --release -p agent-keel-core --features ts --test ts_types" >&2
  exit 1
fi

if ! (cd "$node_dir" && node scripts/gen-bindings.mjs "$NAPI_TYPE_DEF_TMP_FOLDER" "$tmp/out") >"$tmp/gen.log" 2>&1; then
  cat "$tmp/gen.log" >&2
  echo "check-generated: rendering index.d.ts / index.js failed" >&2
  exit 1
fi

stale=0
for f in index.js index.d.ts; do
  if ! diff -u "$node_dir/$f" "$tmp/out/$f" >"$tmp/$f.diff"; then
    echo "check-generated: node/$f is stale (differs from what the Rust source generates):" >&2
    head -n 60 "$tmp/$f.diff" >&2
    stale=1
  fi
done
if [ "$stale" -ne 0 ]; then
  echo "check-generated: run 'npm run build' in node/ and commit node/index.js node/index.d.ts" >&2
  exit 1
fi
echo "check-generated: node/index.js, node/index.d.ts and node/types.d.ts are up to date"

# The published declarations must compile under `tsc --strict` and carry the fields a
# host reads (bindings-tests/node/types-usage.ts; typescript and @types/node are
# pinned dev dependencies of node/).
if ! "$node_dir/node_modules/.bin/tsc" -p "$here/tsconfig.json"; then
  echo "check-generated: the TypeScript declarations do not compile (see above)" >&2
  exit 1
fi
echo "check-generated: the declarations compile (tsc --strict, bindings-tests/node/types-usage.ts)"
