#!/usr/bin/env bash
# keel serve vs the reference executor-harness server (@cat-factory/executor-harness
# dist/server.js, from node/'s committed lockfile) on loopback, with wrk:
# GET /health and GET /jobs/{id} (a finished job's view) at 64 connections,
# ${BENCH_SECONDS:-10} s each, each route twice. Both servers are pinned to CPU
# ${SERVER_CPU:-1} and wrk (one thread) to CPU ${WRK_CPU:-0} with taskset, so the load
# generator never steals the server's core; only one server is loaded at a time (the
# other sits idle in accept), and `uptime` is printed before each run. Both servers get the same shared secret, so both do the
# constant-time header check on /jobs/{id}.
# Reference job: an `inline` job whose CLI (`claude`) is not on PATH, so it fails at
# once without touching the network; keel's: a `command` job running /bin/true.
# Usage: bash server/bench/serve.sh        (installs wrk with apt-get when missing)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
target="${CARGO_TARGET_DIR:-$root/target}"
secs="${BENCH_SECONDS:-10}"
scpu="${SERVER_CPU:-1}"
wcpu="${WRK_CPU:-0}"
if ! command -v wrk >/dev/null; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
[ -d node/node_modules/@cat-factory/executor-harness ] ||
    (cd node && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
cargo build -q --release -p agent-keel-cli
keel="$target/release/keel"
node_bin="$(command -v node)"
ref="$root/node/node_modules/@cat-factory/executor-harness/dist/server.js"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
secret="bench-secret-$RANDOM$RANDOM"
work="$(mktemp -d)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/empty"

ref_port="$(free_port)"
taskset -c "$scpu" env -i HOME="$work" PATH="$work/empty" PORT="$ref_port" \
    HARNESS_BIND_HOST=127.0.0.1 HARNESS_SHARED_SECRET="$secret" "$node_bin" "$ref" >"$work/ref.log" 2>&1 &
pids+=($!)
keel_port="$(free_port)"
taskset -c "$scpu" env -i HOME="$work" PATH="$work/empty" PORT="$keel_port" \
    HARNESS_SHARED_SECRET="$secret" "$keel" serve >"$work/keel.log" 2>&1 &
pids+=($!)
for port in "$ref_port" "$keel_port"; do
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
done
H=(-H "x-harness-secret: $secret" -H 'content-type: application/json')
curl -sf "${H[@]}" -X POST "http://127.0.0.1:$ref_port/jobs" \
    -d '{"kind":"inline","jobId":"bench1","harness":"claude-code","ambientAuth":true,"model":"m","userPrompt":"hi"}' >/dev/null
curl -sf "${H[@]}" -X POST "http://127.0.0.1:$keel_port/jobs" \
    -d '{"kind":"command","jobId":"bench1","cmd":"/bin/true"}' >/dev/null
for port in "$ref_port" "$keel_port"; do
    for _ in $(seq 100); do
        curl -s "${H[@]}" "http://127.0.0.1:$port/jobs/bench1" | grep -Eq '"state":"(failed|completed|succeeded|done)"' && break
        sleep 0.1
    done
done
echo "reference view: $(curl -s "${H[@]}" "http://127.0.0.1:$ref_port/jobs/bench1" | head -c 200)"
echo "keel view:      $(curl -s "${H[@]}" "http://127.0.0.1:$keel_port/jobs/bench1" | head -c 200)"

printf '\n| server | route | run | req/s | p50 | p99 | load (1 min) |\n|---|---|---|---|---|---|---|\n'
for route in /health /jobs/bench1; do
    for run in 1 2; do for name in reference keel; do
        load="$(awk '{print $1}' /proc/loadavg)"
        port="$ref_port"; [ "$name" = keel ] && port="$keel_port"
        out="$(taskset -c "$wcpu" wrk -t1 -c64 -d"${secs}s" --latency -H "x-harness-secret: $secret" "http://127.0.0.1:$port$route")"
        rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
        p50="$(awk '$1=="50%" {print $2}' <<<"$out")"
        p99="$(awk '$1=="99%" {print $2}' <<<"$out")"
        errs="$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)"
        echo "| $name | GET $route | $run | $rps | $p50 | $p99 | $load |${errs:+ $errs}"
    done; done
done
