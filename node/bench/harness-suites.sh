#!/usr/bin/env bash
# Run the reference executor-harness's own vitest suites with keel swapped in.
#
# A development tool (issue 8), never run in CI and never fetching the tests itself: the
# suites are the public repository kibertoad/cat-factory's
# backend/internal/executor-harness/test/{redact,runner,process,tool-silence}.test.ts
# (+ helpers.ts). Get them yourself into a directory outside the repository (never commit
# them), e.g. from a clone:
#   git -C cat-factory show HEAD:backend/internal/executor-harness/test/runner.test.ts > /tmp/h/runner.test.ts
# then:
#   bash node/bench/harness-suites.sh /tmp/h            # all four suites
#   bash node/bench/harness-suites.sh /tmp/h runner     # one suite
#
# What it does: builds a work directory (KEEL_HARNESS_WORK, default /tmp/keel-harness-suites)
# with test/ (a copy of the given files) and src/ — a thin shim, one file per harness module
# the suites import (runner, redact, process, logger, failure, tool-silence, pi), each
# re-exporting keel's Node addon (node/keel.js of this checkout, which must be built:
# `cd node && npm run build`). The suites import '../src/<module>.js', so the shim replaces
# the harness without touching a test. vitest is installed into the work directory with npm
# on first use (KEEL_HARNESS_VITEST=<dir containing node_modules/vitest> to use another).
# Prints vitest's per-test verdicts and the totals.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"   # node/
tests="${1:?usage: harness-suites.sh <dir with the harness *.test.ts files> [suite...]}"
shift || true
suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(redact runner process tool-silence)
work="${KEEL_HARNESS_WORK:-/tmp/keel-harness-suites}"

[ -d "$tests" ] || { echo "harness-suites: test directory '$tests' does not exist" >&2; exit 2; }
[ -f "$here/keel.js" ] || { echo "harness-suites: $here/keel.js missing" >&2; exit 2; }
node -e "require('$here/keel.js')" 2>/dev/null ||
  { echo "harness-suites: keel's addon does not load; run 'cd node && npm run build' first" >&2; exit 2; }

mkdir -p "$work/test" "$work/src"
for s in "${suites[@]}"; do
  f="$tests/$s.test.ts"
  [ -f "$f" ] || { echo "harness-suites: $f not found" >&2; exit 2; }
  cp "$f" "$work/test/"
done
[ -f "$tests/helpers.ts" ] && cp "$tests/helpers.ts" "$work/test/"

# --- the shim: the harness's module names over keel ---------------------------------
keel="$here/keel.js"
cat > "$work/src/keel.js" <<JS
import { createRequire } from 'node:module'
export default createRequire(import.meta.url)('$keel')
JS
cat > "$work/src/runner.js" <<'JS'
import keel from './keel.js'
export const { JobRegistry, loadRunnerLimits } = keel
JS
cat > "$work/src/redact.js" <<'JS'
import keel from './keel.js'
export const {
  redact, redactSecrets, registerKnownSecrets, secretsToRedact, captureRedactedOutput,
  MAX_CAPTURED_OUTPUT_CHARS,
} = keel
JS
cat > "$work/src/process.js" <<'JS'
import keel from './keel.js'
export const { killChildProcess, spawnDetached } = keel
JS
cat > "$work/src/logger.js" <<'JS'
import keel from './keel.js'
export const { log } = keel
JS
cat > "$work/src/tool-silence.js" <<'JS'
import keel from './keel.js'
export const { ToolSilenceWatchdog, NO_TOOL_WINDOW } = keel
JS
# The harness's failure type is the work's own error class, not a keel behaviour: keel
# reads any thrown error's `failureCause` string.
cat > "$work/src/failure.js" <<'JS'
export class HarnessFailure extends Error {
  constructor (failureCause, message) {
    super(message)
    this.name = 'HarnessFailure'
    this.failureCause = failureCause
  }
}
JS
echo 'export {}' > "$work/src/pi.js"   # types only
cat > "$work/vitest.config.mjs" <<'JS'
export default { test: { include: ['test/**/*.test.ts'], testTimeout: 20000, pool: 'forks' } }
JS
[ -f "$work/package.json" ] || echo '{"name":"keel-harness-suites","private":true,"type":"module"}' > "$work/package.json"

vdir="${KEEL_HARNESS_VITEST:-$work}"
if [ ! -d "$vdir/node_modules/vitest" ]; then
  echo "harness-suites: installing vitest into $vdir" >&2
  (cd "$vdir" && npm install --no-audit --no-fund --silent vitest@3 >&2)
fi
[ "$vdir" = "$work" ] || ln -sfn "$vdir/node_modules" "$work/node_modules"

cd "$work"
files=()
for s in "${suites[@]}"; do files+=("test/$s.test.ts"); done
exec node "$work/node_modules/vitest/vitest.mjs" run --reporter=verbose "${files[@]}"
