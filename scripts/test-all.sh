#!/usr/bin/env bash
# Every test of every keel surface, from a fresh clone:
#   formatting and lints, the Rust workspace (core, C ABI crate, CLI, doctests),
#   the C programs under ASan/UBSan (with the keel.h freshness check), the Node
#   addon suites (with the index.js / index.d.ts freshness check), and a short
#   coverage-guided run of every fuzz target. Installs what it needs: Debian packages when a tool is missing,
#   npm dev dependencies (npm ci), crates (cargo).
# Usage: scripts/test-all.sh            (CARGO_TARGET_DIR honoured; default ./target)
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
export CARGO_TERM_COLOR=never
# napi-derive writes the Node addon's type definitions here while keel-node compiles
# (scripts/build.sh); napi-build reruns when it changes, so every cargo call sees one value.
export NAPI_TYPE_DEF_TMP_FOLDER="${NAPI_TYPE_DEF_TMP_FOLDER:-$CARGO_TARGET_DIR/napi-type-def}"

# --- tools -------------------------------------------------------------------
missing=()
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
command -v g++ >/dev/null || missing+=(g++)
command -v python3 >/dev/null || missing+=(python3)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v systemd-analyze >/dev/null || missing+=(systemd)   # the supervisor tests verify the generated unit
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing Debian packages: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! rustup component list --installed 2>/dev/null | grep -q '^clippy'; then
    rustup component add clippy rustfmt >/dev/null 2>&1 || true
fi

passed=0
failed=0
failures=()
step() {
    local name="$1"
    shift
    echo
    echo "======== $name"
    local start=$SECONDS
    if "$@"; then
        passed=$((passed + 1))
        echo "======== ok: $name ($((SECONDS - start))s)"
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "======== FAILED: $name ($((SECONDS - start))s)"
    fi
}

step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy (all targets, -D warnings)" cargo clippy --workspace --all-targets --release -- -D warnings
# One build of every artifact the suites below use (libkeel.a, the keel CLI, the Node
# addon, the test binaries): cargo resolves features once, so no suite rebuilds core.
step "build: every workspace artifact, once (scripts/build.sh)" bash scripts/build.sh
step "Rust tests: core, C ABI crate, CLI, server, doctests, ts_types (release)" \
    cargo test --workspace --release --features agent-keel-core/ts
# The job server against its own /openapi.json (schemathesis) and /metrics (promtool).
step "keel serve contract: schemathesis + promtool (server/tests/contract.sh)" bash server/tests/contract.sh
# Coverage-guided libFuzzer from the committed seed corpus, two targets at a time (one
# per core); a crash fails. Deterministic here (a fixed seed and a fixed number of
# runs per target), so this gate fails only when the code changed, never by luck;
# long exploratory runs are `scripts/fuzz.sh <seconds>` (CONTRIBUTING.md).
step "fuzz targets, fixed seed, 3000 runs each, 2 at a time (scripts/fuzz.sh)" \
    env FUZZ_JOBS=2 FUZZ_RUNS=3000 FUZZ_SEED=1 bash scripts/fuzz.sh 60
step "C tests under ASan/UBSan (+ keel.h freshness)" env KEEL_PROFILE=release bash bindings-tests/c/run.sh
step "C install: README example against scripts/install-c.sh via pkg-config" bash bindings-tests/install/c.sh
step "Node tests (+ index.js / index.d.ts freshness)" bash bindings-tests/node/run.sh
# Real Claude Code and Codex CLIs (npm, pinned) against a fake model server on loopback (~30 s + download).
step "Real-CLI turns: claude + codex vs a loopback fake model" bash bindings-tests/real-cli/run.sh
step "Node install: npm pack tarball into a fresh project, README example" bash bindings-tests/install/node.sh

echo
if [ "$failed" -gt 0 ]; then
    printf 'failed: %s\n' "${failures[@]}"
fi
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
