#!/bin/sh
# Run keel's C tests:
#   1. build libkeel (build-lib.sh; KEEL_PROFILE, default "dev");
#   2. check that include/keel.h is fresh (check-header.sh);
#   3. generate keel.pc for the build tree (gen-pc.sh) and link through it, so the
#      pkg-config flags are tested too;
#   4. compile every *.c here against include/keel.h and libkeel.a with
#      gcc -Wall -Wextra -Werror -fsanitize=address,undefined and run it with
#      LeakSanitizer on; a sanitizer report or crash fails that program.
# The last line is "N passed, M failed"; the exit status is 0 only when M is 0.
#
# Usage: bindings-tests/c/run.sh          (CARGO_TARGET_DIR, CC, KEEL_PROFILE honoured)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build="$here/build"
cc=${CC:-gcc}
cflags="-std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -Wall -Wextra -Werror -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
passed=0
failed=0

pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; }
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit $?
}

mkdir -p "$build"
export KEEL_PROFILE=${KEEL_PROFILE:-dev}

# 1. the library
if vars=$("$here/build-lib.sh"); then
    eval "$vars"
    pass "build libkeel ($KEEL_STATICLIB)"
else
    fail "build libkeel"
    finish
fi

# 2. the committed header is what cbindgen generates now
if "$here/check-header.sh"; then
    pass "include/keel.h is fresh"
else
    fail "include/keel.h is stale (run bindings-tests/c/check-header.sh --update)"
fi

# 3. pkg-config metadata for this build tree
link_flags=
if "$here/gen-pc.sh" --prefix "$root" --includedir "$root/include" \
        --libdir "$(dirname "$KEEL_STATICLIB")" -o "$build/keel.pc"; then
    if command -v pkg-config >/dev/null 2>&1; then
        if link_flags=$(PKG_CONFIG_PATH="$build" pkg-config --cflags --libs keel); then
            pass "keel.pc generated and read by pkg-config"
        else
            fail "pkg-config cannot read the generated keel.pc"
        fi
    else
        echo "note: pkg-config not found; linking with the flags gen-pc.sh used"
        link_flags="-I$root/include $KEEL_STATICLIB $KEEL_NATIVE_STATIC_LIBS"
        pass "keel.pc generated"
    fi
else
    fail "gen-pc.sh"
fi
[ -n "$link_flags" ] || link_flags="-I$root/include $KEEL_STATICLIB $KEEL_NATIVE_STATIC_LIBS"

# 4. the C test programs
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

# Leak checking must be able to fail: a program that leaks on purpose must be caught.
# shellcheck disable=SC2086 # flags are word lists
if $cc $cflags -I"$here" -o "$build/leak-canary" "$here/canary/leak.c" $link_flags -lpthread \
        && "$build/leak-canary" >"$build/leak-canary.out" 2>&1 \
        && grep -q '^leak detected$' "$build/leak-canary.out"; then
    pass "LeakSanitizer reports a leaked keel_string and keel_redactor"
else
    cat "$build/leak-canary.out" 2>/dev/null | tail -n 5
    fail "LeakSanitizer does not report leaks here (leak checks below prove nothing)"
fi
for src in "$here"/*.c; do
    name=$(basename "$src" .c)
    exe="$build/$name"
    # shellcheck disable=SC2086 # flags are word lists
    if ! $cc $cflags -I"$here" -o "$exe" "$src" $link_flags -lpthread; then
        fail "$name.c: does not compile"
        continue
    fi
    out="$build/$name.out"
    "$exe" >"$out" 2>&1
    status=$?
    cat "$out"
    p=$(grep -c '^PASS ' "$out")
    f=$(grep -c '^FAIL ' "$out")
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        fail "$name: exited with status $status (sanitizer report or crash above)"
    elif [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        fail "$name: ran no tests"
    fi
done
finish
