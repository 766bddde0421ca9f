#!/usr/bin/env bash
# Garage, the S3-compatible object store server (written in Rust) that the
# remote tier's tests run against (tests/common/garage.rs starts it on
# loopback). It is built from its crate with cargo, once, into the tools
# cache, where the test harness looks for it:
#
#   .ci/garage.sh install   # build it if it is not there yet (about five minutes
#                           # on 2 cores; quick when cached); print its path
#   .ci/garage.sh path      # print where it is (or will be)
#
# The cache is $OBJSTORE_TOOLS_DIR, else $XDG_CACHE_HOME/objstore-tools, else
# ~/.cache/objstore-tools; the binary is garage/bin/garage in it. The build
# uses the crate's bundled LMDB (no system library) and none of the default
# features the tests do not need. CARGO_BUILD_JOBS limits its parallelism.
set -euo pipefail

GARAGE_VERSION=2.5.0

tools="${OBJSTORE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/objstore-tools}"
root="$tools/garage"
bin="$root/bin/garage"

installed() {
    [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "cargo:$GARAGE_VERSION\b"
}

case "${1:-}" in
    path)
        echo "$bin"
        ;;
    install)
        if ! installed; then
            command -v cargo >/dev/null || { echo "garage.sh: cargo is needed to build Garage" >&2; exit 1; }
            echo "garage.sh: building Garage $GARAGE_VERSION into $root (cargo install, a few minutes)" >&2
            mkdir -p "$root"
            cargo install garage --version "=$GARAGE_VERSION" --locked \
                --no-default-features --features bundled-libs,lmdb --root "$root" >&2
            installed || { echo "garage.sh: $bin is not Garage $GARAGE_VERSION after the build" >&2; exit 1; }
        fi
        echo "$bin"
        ;;
    *)
        echo "usage: $0 install|path" >&2
        exit 2
        ;;
esac
