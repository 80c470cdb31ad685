#!/bin/sh
# Install keel's C library under a prefix:
#
#   scripts/install-c.sh PREFIX
#
#   PREFIX/lib/libkeel.a              the static library (what keel.pc links)
#   PREFIX/lib/libkeel.so             the shared library (optional; see below)
#   PREFIX/include/keel/keel.h        the header
#   PREFIX/include/keel/module.modulemap   the Swift / Clang module `Keel`
#   PREFIX/lib/pkgconfig/keel.pc      pkg-config: Cflags -IPREFIX/include/keel,
#                                     Libs PREFIX/lib/libkeel.a + the system
#                                     libraries it needs (rustc --print native-static-libs)
#
# Then:  PKG_CONFIG_PATH=PREFIX/lib/pkgconfig cc app.c -o app $(pkg-config --cflags --libs keel)
#
# keel.pc links the static archive by path, so the program does not need
# libkeel.so at run time. To link the shared library instead, use
# -IPREFIX/include/keel -LPREFIX/lib -lkeel -Wl,-rpath,PREFIX/lib (without the
# rpath, or an entry in ld.so's path, such a program fails to start).
#
# It builds the library first when needed (cargo, release profile; KEEL_PROFILE
# and CARGO_TARGET_DIR are honoured; an up-to-date build costs a second).
set -eu
case "${1:-}" in
    ''|-h|--help) sed -n '2,22p' "$0"; [ -n "${1:-}" ]; exit $? ;;
esac
prefix=$1
case "$prefix" in
    /*) ;;
    *) prefix=$(pwd)/$prefix ;;
esac
root=$(cd -P "$(dirname "$0")/.." && pwd)
here="$root/bindings-tests/c"
export KEEL_PROFILE="${KEEL_PROFILE:-release}"

vars=$("$here/build-lib.sh")
eval "$vars"
libdir="$prefix/lib"
includedir="$prefix/include/keel"
mkdir -p "$libdir/pkgconfig" "$includedir"

install -m 0644 "$KEEL_STATICLIB" "$libdir/libkeel.a"
shared="$(dirname "$KEEL_STATICLIB")/libkeel.so"
if [ -f "$shared" ]; then
    install -m 0755 "$shared" "$libdir/libkeel.so"
fi
install -m 0644 "$root/include/keel.h" "$includedir/keel.h"
install -m 0644 "$root/include/module.modulemap" "$includedir/module.modulemap"
"$here/gen-pc.sh" --prefix "$prefix" --libdir '${prefix}/lib' \
    --includedir '${prefix}/include/keel' -o "$libdir/pkgconfig/keel.pc"

{
    echo "installed keel into $prefix:"
    echo "  $libdir/libkeel.a"
    [ -f "$libdir/libkeel.so" ] && echo "  $libdir/libkeel.so"
    echo "  $includedir/keel.h"
    echo "  $includedir/module.modulemap"
    echo "  $libdir/pkgconfig/keel.pc"
    echo "build with: PKG_CONFIG_PATH=$libdir/pkgconfig cc app.c -o app \$(pkg-config --cflags --libs keel)"
} >&2
