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
# It runs scripts/build.sh (the one workspace build every suite shares, so the
# library is never rebuilt with another feature set) and reads cargo's JSON
# messages, which name the artifacts even when nothing was rebuilt. The native
# libraries libkeel.a needs are the standard library's (rustc
# --print native-static-libs on an empty static library, for the same target) plus
# every non-static library a build script of the graph asked to link.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
profile=${KEEL_PROFILE:-dev}
command -v python3 >/dev/null 2>&1 || { echo "build-lib.sh: python3 is required to read cargo's JSON messages" >&2; exit 1; }
json=$(mktemp)
trap 'rm -f "$json"' EXIT
status=0
package=agent-keel-capi
case "$profile" in dev|debug) cargo_profile=dev ;; *) cargo_profile=$profile ;; esac
bash "$root/scripts/build.sh" --profile "$cargo_profile" --message-format=json >"$json" || status=$?
pkgid=$(cd "$root" && cargo pkgid -p "$package" 2>/dev/null || true)
std_libs=$(cd "${TMPDIR:-/tmp}" && printf '' >"$json.rs" && rustc --crate-type staticlib --crate-name keel_std_libs \
    -o "$json.a" --print native-static-libs "$json.rs" 2>&1 | sed -n 's/.*native-static-libs: //p')
rm -f "$json.rs" "$json.a"
[ -n "$std_libs" ] || { echo "build-lib.sh: rustc did not report the standard library's native libraries" >&2; exit 1; }
python3 - "$json" "$status" "$pkgid" "$std_libs" <<'PY'
import json, shlex, sys

path, status, pkgid, std_libs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = {}
extra = []
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
        if m.get("level") in ("error", "warning") and m.get("rendered"):
            sys.stderr.write(m["rendered"])
    elif reason == "build-script-executed":
        if ours:
            out["KEEL_OUT_DIR"] = msg["out_dir"]
        for lib in msg.get("linked_libs", []):
            kind, _, name = lib.rpartition("=")
            if not kind.startswith("static") and "-l" + name not in extra:
                extra.append("-l" + name)
    elif reason == "compiler-artifact" and ours:
        for f in msg.get("filenames", []):
            if f.endswith(".a") or f.endswith(".lib"):
                out["KEEL_STATICLIB"] = f
libs = std_libs.split()
out["KEEL_NATIVE_STATIC_LIBS"] = " ".join([l for l in extra if l not in libs] + libs)
if status != 0:
    sys.exit("build-lib.sh: cargo failed (status %d)" % status)
for key in ("KEEL_STATICLIB", "KEEL_OUT_DIR", "KEEL_NATIVE_STATIC_LIBS"):
    if key not in out:
        sys.exit("build-lib.sh: cargo did not report %s" % key)
    print("%s=%s" % (key, shlex.quote(out[key])))
PY
