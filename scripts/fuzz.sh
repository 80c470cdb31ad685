#!/usr/bin/env bash
# Run keel's fuzz targets for a while each (default 60 s).
#   scripts/fuzz.sh [seconds]
# With nightly + cargo-fuzz installed, `cargo fuzz run <target>` in core/ gives
# coverage-guided runs; this script needs only the stable toolchain: it builds the
# same targets as plain libFuzzer binaries (random mutation, no coverage feedback).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-60}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
cargo build --release --manifest-path "$root/core/fuzz/Cargo.toml"
for t in stream_redactor credential_parsers; do
    corpus="$root/target/fuzz-corpus/$t"
    mkdir -p "$corpus"
    echo "== $t ($secs s)"
    (cd "$root/target" && "$CARGO_TARGET_DIR/release/$t" -max_total_time="$secs" "$corpus")
done
