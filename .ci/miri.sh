#!/usr/bin/env bash
# Runs the unit tests of the shared structures, the object protocol, the
# C ABI's struct_size copies (capi::sized) and the process-local lock
# (platform::thread_lock, whose futex calls Miri emulates) under Miri
# (nightly), which checks them for undefined behaviour and data races. The modules that map files and call the kernel cannot run under
# Miri; their unsafe code is the mapping's, checked by the sanitizers.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
rustup component add --toolchain nightly miri rust-src >/dev/null
CARGO_TARGET_DIR=target/miri cargo +nightly miri test --lib -- \
    shared:: object::lifecycle id:: error:: store::handle_pins capi::sized platform::thread_lock
