#!/bin/sh
# Generate keel.pc (pkg-config) from include/keel.pc.in.
#
#   bindings-tests/c/gen-pc.sh [--prefix DIR] [--libdir DIR] [--includedir DIR] [-o FILE]
#
# Defaults: prefix /usr/local, libdir ${prefix}/lib, includedir ${prefix}/include,
# output on stdout. The version and the system libraries libkeel.a needs are taken
# from a build of the library (build-lib.sh, KEEL_PROFILE default "release"), so
# they are right for the platform it runs on.
#
# Install layout it describes: ${includedir}/keel.h (+ module.modulemap) and
# ${libdir}/libkeel.a.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
prefix=/usr/local
libdir='${prefix}/lib'
includedir='${prefix}/include'
output=
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix=$2; shift 2 ;;
        --libdir) libdir=$2; shift 2 ;;
        --includedir) includedir=$2; shift 2 ;;
        -o|--output) output=$2; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "gen-pc.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

vars=$(KEEL_PROFILE=${KEEL_PROFILE:-release} "$here/build-lib.sh")
eval "$vars"
version=$(cd "$root" && cargo pkgid -p agent-keel-capi | sed 's/.*[#@]//')

# `|` is the sed delimiter: refuse it in values rather than corrupt the file.
for v in "$prefix" "$libdir" "$includedir" "$KEEL_NATIVE_STATIC_LIBS"; do
    case "$v" in *'|'*|*'&'*|*'\'*) echo "gen-pc.sh: unsupported character in $v" >&2; exit 2 ;; esac
done
result=$(sed \
    -e "s|@PREFIX@|$prefix|g" \
    -e "s|@LIBDIR@|$libdir|g" \
    -e "s|@INCLUDEDIR@|$includedir|g" \
    -e "s|@VERSION@|$version|g" \
    -e "s|@NATIVE_STATIC_LIBS@|$KEEL_NATIVE_STATIC_LIBS|g" \
    "$root/include/keel.pc.in")
if [ -n "$output" ]; then
    printf '%s\n' "$result" >"$output"
else
    printf '%s\n' "$result"
fi
