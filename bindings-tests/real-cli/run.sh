#!/usr/bin/env bash
# The real-CLI turn tests: install the pinned Claude Code and Codex CLIs (npm ci, this
# directory's lockfile; dev dependencies of these tests only), then drive real turns of
# each through keel's runTurn against the fake model server on loopback. Needs the Node
# addon built (bindings-tests/node/run.sh builds it). When the kernel allows an
# unprivileged network namespace, the tests run inside one whose only interface is
# `lo`, so nothing can reach beyond loopback even by mistake; otherwise the proxy guard
# of fake-model.mjs (every proxied request refused and recorded) is the fence.
# Bounded: about 30 s of tests (+ the npm download on a fresh clone), 240 s hard limit.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
echo "== real-cli: npm ci (@anthropic-ai/claude-code, @openai/codex)"
npm ci --no-audit --no-fund
./node_modules/.bin/claude --version
./node_modules/.bin/codex --version
cmd=(node --test --test-timeout=150000 "$here/real-cli.test.mjs")
if unshare --user --map-root-user --net sh -c 'ip link set lo up' 2>/dev/null; then
    echo "== real-cli: in a network namespace with only lo"
    exec timeout 240 unshare --user --map-root-user --net sh -c 'ip link set lo up && exec "$@"' sh "${cmd[@]}"
fi
echo "== real-cli: no network namespace here; the fake server's proxy guard fences the CLIs"
exec timeout 240 "${cmd[@]}"
