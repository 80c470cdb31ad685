#!/usr/bin/env bash
# The job server against its own contract, with real external checkers:
#   * schemathesis (PyPI) runs every operation of the server's own /openapi.json
#     (examples, coverage and fuzzing phases; every check: no 5xx, status codes,
#     content types, response schemas, positive/negative data, unsupported methods,
#     the secret header) and must find nothing;
#   * promtool (Debian's `prometheus` package) must accept /metrics, after traffic that
#     fills every metric family; the prometheus_client parser (PyPI) must parse it too.
# Installs what it needs: a venv under $CARGO_TARGET_DIR with pinned PyPI packages, and
# `prometheus` with apt-get when promtool is missing. A missing tool is a failure.
# The server runs as `nobody` in a temp dir with an empty PATH, so the fuzzed `command`
# and `turn` jobs can neither run a real program nor write outside that dir.
# Usage: server/tests/contract.sh     (CARGO_TARGET_DIR honoured; default ./target)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
profile="${KEEL_PROFILE:-release}"
SCHEMATHESIS_VERSION=4.32.5
PROMETHEUS_CLIENT_VERSION=0.26.0

venv="$target/server-venv"
if ! "$venv/bin/python" -c "import schemathesis, prometheus_client" 2>/dev/null ||
    [ "$("$venv/bin/schemathesis" --version 2>/dev/null | awk '{print $NF}')" != "$SCHEMATHESIS_VERSION" ]; then
    echo "== installing schemathesis $SCHEMATHESIS_VERSION, prometheus_client into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check \
        "schemathesis==$SCHEMATHESIS_VERSION" "prometheus_client==$PROMETHEUS_CLIENT_VERSION"
fi
if ! command -v promtool >/dev/null; then
    echo "== installing Debian package prometheus (for promtool)"
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
command -v promtool >/dev/null || { echo "promtool is missing" >&2; exit 1; }

# The workspace build every suite shares (scripts/build.sh): nothing is rebuilt when
# the Rust tests ran first.
bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/build.sh" --profile "$([ "$profile" = release ] && echo release || echo dev)" -q
keel="$target/$profile/keel"

work="$(mktemp -d)"
cleanup() {
    [ -n "${pid:-}" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
secret="contract-secret-$RANDOM$RANDOM"
cp "$keel" "$work/keel"
mkdir -p "$work/run/services" "$work/empty-path"
# A services state dir with one record (its pid is not running) for /managed-processes.
printf '%s' '{"specs":[{"name":"web","pid":4194000,"owner_project":"p1","healthy":false,"alive":false,"cmd":"node","args":["server.js"],"keel":{"pidStartTime":1,"health":"unhealthy"}}]}' \
    >"$work/run/services/managed-processes.json"
chmod 700 "$work/run/services"
chmod 600 "$work/run/services/managed-processes.json"
run_as=()
if [ "$(id -u)" -eq 0 ]; then
    chown -R nobody "$work/run"
    chmod 755 "$work" "$work/keel"
    run_as=("$(command -v setpriv)" --reuid=nobody --regid=nogroup --clear-groups --)
fi
(
    cd "$work/run"
    exec env -i HOME="$work/run" PATH="$work/empty-path" PORT=0 \
        HARNESS_SHARED_SECRET="$secret" JOB_INACTIVITY_MS=5000 JOB_MAX_DURATION_MS=20000 \
        "${run_as[@]}" "$work/keel" serve --request-timeout 10s --services-state-dir "$work/run/services"
) >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do
    grep -q '^listening on ' "$work/out" 2>/dev/null && break
    sleep 0.1
done
addr="$(sed -n 's/^listening on //p' "$work/out")"
[ -n "$addr" ] || { echo "keel serve did not start:"; cat "$work/err"; exit 1; }
base="http://$addr"
echo "== keel serve on $base"

echo "== schemathesis $SCHEMATHESIS_VERSION against $base/openapi.json (at most 60 s)"
# Bounded: a run that has not finished in 60 s is a failure (timeout exits 124).
# One worker: CPython 3.11's ast.parse is not thread-safe, and hypothesis calls it while
# describing filters, which made two workers fail with "AST constructor recursion depth
# mismatch" inside schemathesis (not a finding about the server).
timeout --signal=INT --kill-after=5 60 "$venv/bin/schemathesis" run "$base/openapi.json" \
    -H "x-harness-secret: $secret" \
    --checks all \
    --phases examples,coverage,fuzzing \
    --max-examples "${SCHEMATHESIS_EXAMPLES:-30}" \
    --workers 1 \
    --request-timeout 20 \
    --no-color \
    --seed 1

echo "== traffic for every metric family"
h=(-s -o /dev/null -H "x-harness-secret: $secret")
curl "${h[@]}" -X POST "$base/jobs" -H 'content-type: application/json' \
    -d '{"kind":"command","jobId":"m1","cmd":"/bin/sleep","args":["30"],"inactivityMs":200,"killGraceMs":200}'
curl "${h[@]}" "$base/jobs/m1"
curl "${h[@]}" "$base/managed-processes"
curl "${h[@]}" "$base/nope"
curl -s -o /dev/null "$base/jobs/m1"
for _ in $(seq 50); do
    curl -s -H "x-harness-secret: $secret" "$base/metrics" | grep -q 'keel_watchdog_kills_total{kind="command",cause="inactivity-timeout"}' && break
    sleep 0.1
done
curl -s -H "x-harness-secret: $secret" "$base/metrics" >"$work/metrics.txt"
grep -q 'keel_watchdog_kills_total{kind="command"' "$work/metrics.txt" || { echo "no watchdog kill counted"; cat "$work/metrics.txt"; exit 1; }

echo "== promtool check metrics"
# promtool lints too (exit 3 on lint problems only); both must be clean.
promtool check metrics <"$work/metrics.txt"
echo "== prometheus_client text parser"
"$venv/bin/python" - "$work/metrics.txt" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(open(sys.argv[1]).read()))
names = {f.name for f in families}
need = {"keel_services", "keel_services_up", "keel_jobs", "keel_watchdog_kills", "keel_http_requests", "keel_http_request_duration_seconds", "keel_http_open_connections", "keel_server_info"}
missing = need - names
assert not missing, f"missing families: {missing} in {sorted(names)}"
print(f"{len(families)} families, {sum(len(f.samples) for f in families)} samples parsed")
PY

echo "== SIGTERM: clean exit 0"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" -eq 0 ] || { echo "keel serve exited $status"; cat "$work/err"; exit 1; }
if grep -q "$secret" "$work/out" "$work/err"; then
    echo "the shared secret appeared in the server's output"; exit 1
fi
echo "contract: 1 passed, 0 failed"
