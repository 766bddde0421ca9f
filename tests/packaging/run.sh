#!/usr/bin/env bash
# Installs objstore into scratch prefixes with other library directories and
# checks that a CMake project finds it (find_package, each imported target)
# and that pkg-config does, building and running a program each way:
#   - LIBDIR=lib64 (relative to PREFIX, as on Fedora and openSUSE);
#   - LIBDIR=$PREFIX/lib/x86_64-linux-gnu (absolute, Debian's multiarch);
#   - the lib64 install moved whole to another directory: the CMake package
#     finds its files from where it is (objstore.pc, like most, records
#     absolute paths and is not checked there).
# Run by `make test-packaging` after `make build`.
set -euo pipefail
cd "$(dirname "$0")/../.."
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

check_prefix() {  # PREFIX LIBDIR (absolute) LABEL [no-pkg-config]
    local prefix="$1" libdir="$2" label="$3" build="$tmp/build-$3"
    test -f "$libdir/cmake/objstore/objstoreConfig.cmake" || { echo "$label: no CMake package in $libdir" >&2; exit 1; }
    cmake -S tests/packaging -B "$build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_RPATH="$libdir" >/dev/null
    cmake --build "$build" -j2 >/dev/null
    for program in uses_c uses_static uses_cpp; do
        out="$("$build/$program")"
        [ "$out" = "$version" ] || { echo "$label: $program printed '$out', want '$version'" >&2; exit 1; }
    done
    if [ "${4:-}" = no-pkg-config ]; then
        echo "$label: find_package finds objstore $version in $libdir"
        return
    fi
    # pkg-config, from the same install.
    PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --exists objstore
    # shellcheck disable=SC2046
    cc tests/packaging/version.c -o "$build/pc" $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs objstore) \
        -Wl,-rpath,"$libdir"
    [ "$("$build/pc")" = "$version" ] || { echo "$label: the pkg-config build disagrees" >&2; exit 1; }
    echo "$label: find_package and pkg-config find objstore $version in $libdir"
}

make --no-print-directory install PREFIX="$tmp/lib64" LIBDIR=lib64 DESTDIR= >/dev/null
test ! -e "$tmp/lib64/lib" || { echo "LIBDIR=lib64 still installed into lib/" >&2; exit 1; }
check_prefix "$tmp/lib64" "$tmp/lib64/lib64" lib64

make --no-print-directory install PREFIX="$tmp/multiarch" LIBDIR="$tmp/multiarch/lib/x86_64-linux-gnu" DESTDIR= >/dev/null
check_prefix "$tmp/multiarch" "$tmp/multiarch/lib/x86_64-linux-gnu" multiarch

mv "$tmp/lib64" "$tmp/moved"
check_prefix "$tmp/moved" "$tmp/moved/lib64" moved no-pkg-config
