#!/usr/bin/env bash
# Run keel's fuzz targets with coverage-guided libFuzzer on the stable toolchain.
#   scripts/fuzz.sh [seconds-per-target] [target...]    (default 60 s, every target)
#
# The targets (core/fuzz/fuzz_targets) are built with the SanitizerCoverage flags
# cargo-fuzz uses (inline 8-bit counters, PC table, compare tracing), so libFuzzer
# sees which edges an input reaches: its status lines show `cov:` and `ft:` grow.
# Each target starts from the committed seed corpus in core/fuzz/corpus/<target>
# (read-only) plus a working corpus under target/fuzz-corpus/<target>. A crash
# (panic, assertion: stream differs from one-shot, ...) makes the script fail and
# leaves the input as target/fuzz-artifacts/<target>/crash-*.
#
# A separate target dir (target/fuzz-build) keeps the instrumented build away from
# the normal release cache. FUZZ_JOBS (default 1) runs that many targets at once.
# FUZZ_RUNS=N (with FUZZ_SEED, default 1) makes a run deterministic: N inputs per
# target from a fixed seed, the seconds argument then only caps the time. CI uses it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs="${1:-60}"
shift || true
all=(stream_redactor large_chunks custom_rules credential_parsers)
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${all[@]}")
build_dir="${FUZZ_TARGET_DIR:-$root/target/fuzz-build}"
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
-Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps RUSTFLAGS off build scripts and proc macros (they
# would not link without libFuzzer), as cargo-fuzz does.
host="$(rustc -vV | sed -n 's/^host: //p')"
CARGO_TARGET_DIR="$build_dir" cargo build --release --target "$host" \
    --manifest-path "$root/core/fuzz/Cargo.toml" $(printf -- '--bin %s ' "${targets[@]}")
jobs_max="${FUZZ_JOBS:-1}"
run_one() {
    local t="$1"
    local work="$root/target/fuzz-corpus/$t"
    local artifacts="$root/target/fuzz-artifacts/$t"
    local seeds="$root/core/fuzz/corpus/$t"
    mkdir -p "$work" "$artifacts"
    # -rss_limit_mb: the large-input target holds a few MiB; 2 GB catches runaways.
    local fixed=()
    if [ -n "${FUZZ_RUNS:-}" ]; then
        fixed=(-runs="$FUZZ_RUNS" -seed="${FUZZ_SEED:-1}")
    fi
    "$build_dir/$host/release/$t" -max_total_time="$secs" "${fixed[@]}" -rss_limit_mb=2048 \
        -max_len=16384 -print_final_stats=1 -artifact_prefix="$artifacts/" \
        "$work" "$seeds" 2>"$artifacts/log.txt"
}
report() {
    local t="$1" rc="$2"
    local artifacts="$root/target/fuzz-artifacts/$t"
    if [ "$rc" -ne 0 ]; then
        echo "FAILED: $t (see $artifacts/log.txt)"
        tail -n 30 "$artifacts/log.txt"
        status=1
    else
        echo "== $t ($secs s): ok"
        grep -E '^#[0-9]+.*(cov|DONE)' "$artifacts/log.txt" | tail -n 2 || true
    fi
}
status=0
# Targets run FUZZ_JOBS at a time; each reports when its batch is done.
i=0
while [ "$i" -lt "${#targets[@]}" ]; do
    batch=("${targets[@]:i:jobs_max}")
    pids=()
    for t in "${batch[@]}"; do
        echo "== $t: fuzzing for $secs s"
        run_one "$t" &
        pids+=($!)
    done
    for k in "${!batch[@]}"; do
        rc=0
        wait "${pids[$k]}" || rc=$?
        report "${batch[$k]}" "$rc"
    done
    i=$((i + jobs_max))
done
exit "$status"
