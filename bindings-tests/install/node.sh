#!/bin/sh
# The Node install path, as a new user follows it: `npm pack` the package (which
# must contain the compiled addon), `npm install` the tarball into a fresh temp
# project (offline: the package has no runtime dependencies), and run the README's
# Node example (its ```js block under "### Node", saved verbatim as example.mjs).
# Also: a package without the addon fails with a message that says to build it,
# not napi-rs's "npm has a bug" text.
#
# Needs the addon built (bindings-tests/node/run.sh or `npm run build` in node/;
# scripts/test-all.sh runs the Node step before this one).
# Usage: bindings-tests/install/node.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
node_dir="$root/node"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL install/node: $*"; exit 1; }

ls "$node_dir"/keel.*.node >/dev/null 2>&1 \
    || fail "no compiled addon in node/ (run: cd node && npm ci && npm run build)"

# 1. the tarball, with the addon in it
(cd "$node_dir" && npm pack --silent --pack-destination "$tmp" >"$tmp/pack.out" 2>"$tmp/pack.err") \
    || { cat "$tmp/pack.err"; fail "npm pack failed"; }
tgz="$tmp/$(tail -n 1 "$tmp/pack.out")"
[ -f "$tgz" ] || fail "npm pack did not say which tarball it made: $(cat "$tmp/pack.out")"
tar tzf "$tgz" | grep -q '^package/keel\..*\.node$' || fail "the tarball has no keel.<platform>.node"

# 2. a fresh project installs it, offline, and runs the README's example verbatim
mkdir "$tmp/app"
printf '{ "name": "keel-install-test", "version": "1.0.0", "private": true }\n' >"$tmp/app/package.json"
(cd "$tmp/app" && npm install --offline --no-audit --no-fund --silent "$tgz" >"$tmp/install.out" 2>&1) \
    || { cat "$tmp/install.out"; fail "npm install of the tarball failed"; }
python3 "$here/readme.py" Node js >"$tmp/app/example.mjs"
(cd "$tmp/app" && node example.mjs >"$tmp/example.out" 2>&1) \
    || { cat "$tmp/example.out"; fail "the README's Node example failed"; }
grep -q '^keel ok' "$tmp/example.out" || { cat "$tmp/example.out"; fail "the example did not finish"; }

# 3. the same package without its addon: a clear message
mkdir "$tmp/bare"
tar xzf "$tgz" -C "$tmp/bare"
rm -f "$tmp/bare/package/"keel.*.node
if node -e "require('$tmp/bare/package/keel.js')" >"$tmp/bare.out" 2>&1; then
    fail "loading a package without the addon succeeded"
fi
grep -q 'npm run build' "$tmp/bare.out" || { cat "$tmp/bare.out"; fail "a missing addon does not say how to build it"; }
head -n 5 "$tmp/bare.out" | grep -q 'npm has a bug' && fail "a missing addon still shows napi's npm-bug message first"
# ... and `npm pack` refuses to pack it
if (cd "$tmp/bare/package" && npm pack --silent --dry-run >"$tmp/bare-pack.out" 2>&1); then
    fail "npm pack packed a package without the addon"
fi
grep -q 'npm run build' "$tmp/bare-pack.out" || { cat "$tmp/bare-pack.out"; fail "npm pack without the addon does not say how to build it"; }

echo "PASS install/node: npm pack -> npm install (offline) -> README example: $(cat "$tmp/example.out")"
