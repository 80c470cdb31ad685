#!/bin/sh
# The C install path, as a new user follows it: run the README's C commands
# verbatim (its ```sh block under "### C": scripts/install-c.sh into
# "$HOME/.local", pkg-config, cc, ./app) with HOME pointing at a fresh temp
# directory, against the README's C program saved verbatim as app.c, and check
# that the program prints what the README's comment says it prints.
#
# Cheap when the release library is already built (scripts/test-all.sh builds it
# in the C step before this one): install-c.sh only copies it.
# Usage: bindings-tests/install/c.sh     (CARGO_TARGET_DIR honoured)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
command -v pkg-config >/dev/null || { echo "FAIL install/c: pkg-config is not installed"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/home" "$tmp/work"
python3 "$here/readme.py" C c >"$tmp/work/app.c"
python3 "$here/readme.py" C sh >"$tmp/work/steps.sh"
# The README's commands run from a checkout: scripts/ is there.
ln -s "$root/scripts" "$tmp/work/scripts"
expected=$(sed -n 's|.*printf("%s\\n", out->data); */\* \(.*\) \*/.*|\1|p' "$tmp/work/app.c")
[ -n "$expected" ] || { echo "FAIL install/c: the README's C program has no /* expected output */ comment"; exit 1; }

# HOME moves; keep cargo's and rustup's own homes where they are.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
unset PKG_CONFIG_PATH
status=0
(cd "$tmp/work" && HOME="$tmp/home" sh -eu steps.sh) >"$tmp/out" 2>"$tmp/err" || status=$?
if [ "$status" -ne 0 ]; then
    tail -n 20 "$tmp/err"
    echo "FAIL install/c: the README's C steps failed (status $status)"
    exit 1
fi
for f in lib/libkeel.a include/keel/keel.h include/keel/module.modulemap lib/pkgconfig/keel.pc; do
    [ -f "$tmp/home/.local/$f" ] || { echo "FAIL install/c: $f was not installed"; exit 1; }
done
# The program is linked statically: it must not need libkeel.so at run time.
if command -v ldd >/dev/null && ldd "$tmp/work/app" | grep -q libkeel; then
    echo "FAIL install/c: app links libkeel.so dynamically (keel.pc must link libkeel.a)"
    exit 1
fi
got=$(cat "$tmp/out")
if [ "$got" != "$expected" ]; then
    echo "FAIL install/c: app printed '$got', the README says '$expected'"
    exit 1
fi
echo "PASS install/c: README C example built against the install via pkg-config, printed '$got'"
