#!/bin/sh
# Build keel's C library (the root package `keel`) with one cargo invocation and
# describe the result as shell assignments, for the other scripts here to eval:
#
#   KEEL_STATICLIB=/…/target/debug/libkeel.a
#   KEEL_OUT_DIR=/…/target/debug/build/keel-<hash>/out     (holds the fresh keel.h)
#   KEEL_NATIVE_STATIC_LIBS='-lgcc_s -lutil …'             (what libkeel.a needs)
#
# Usage: eval "$(bindings-tests/c/build-lib.sh)"
# Environment: KEEL_PROFILE (cargo profile, default "dev"); CARGO_TARGET_DIR and
# the rest of cargo's environment are honoured. Cargo's progress goes to stderr.
#
# It runs `cargo rustc -p agent-keel-capi --lib -- --print native-static-libs` (the
# package `agent-keel-capi`, whose library is `keel`), which builds
# every crate type of the library and reports the native libraries; cargo replays
# that note when nothing changed, so repeated runs are cheap.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
profile=${KEEL_PROFILE:-dev}
command -v python3 >/dev/null 2>&1 || { echo "build-lib.sh: python3 is required to read cargo's JSON messages" >&2; exit 1; }
json=$(mktemp)
trap 'rm -f "$json"' EXIT
status=0
package=agent-keel-capi
(cd "$root" && cargo rustc -p "$package" --lib --profile "$profile" --message-format=json \
    -- --print native-static-libs) >"$json" || status=$?
pkgid=$(cd "$root" && cargo pkgid -p "$package" 2>/dev/null || true)
python3 - "$json" "$status" "$pkgid" <<'PY'
import json, shlex, sys

path, status, pkgid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
out = {}
for line in open(path, encoding="utf-8"):
    line = line.strip()
    if not line.startswith("{"):
        continue
    msg = json.loads(line)
    reason = msg.get("reason")
    pkg = msg.get("package_id", "")
    ours = pkg == pkgid or "#agent-keel-capi@" in pkg
    if reason == "compiler-message":
        m = msg.get("message") or {}
        text = m.get("message", "")
        if ours and text.startswith("native-static-libs:"):
            out["KEEL_NATIVE_STATIC_LIBS"] = text.split(":", 1)[1].strip()
        elif m.get("level") in ("error", "warning") and m.get("rendered"):
            sys.stderr.write(m["rendered"])
    elif reason == "build-script-executed" and ours:
        out["KEEL_OUT_DIR"] = msg["out_dir"]
    elif reason == "compiler-artifact" and ours:
        for f in msg.get("filenames", []):
            if f.endswith(".a") or f.endswith(".lib"):
                out["KEEL_STATICLIB"] = f
if status != 0:
    sys.exit("build-lib.sh: cargo failed (status %d)" % status)
for key in ("KEEL_STATICLIB", "KEEL_OUT_DIR", "KEEL_NATIVE_STATIC_LIBS"):
    if key not in out:
        sys.exit("build-lib.sh: cargo did not report %s" % key)
    print("%s=%s" % (key, shlex.quote(out[key])))
PY
