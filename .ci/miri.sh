#!/usr/bin/env bash
# Runs the unit tests of the shared-structure modules under Miri (nightly),
# which checks them for undefined behaviour and data races. The modules that
# map files and call the kernel (shm, sys, attach) cannot run under Miri.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup component add --toolchain nightly miri rust-src >/dev/null
CARGO_TARGET_DIR=target/miri cargo +nightly miri test --lib -- index:: pins:: objects:: descriptor:: pages:: layout:: id::
