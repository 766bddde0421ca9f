#!/usr/bin/env bash
# The Rust tests under the nightly sanitizers (the C tests run under
# ASan/UBSan in tests/c/run.sh):
# - AddressSanitizer over every Rust test (unit, integration, multi-process:
#   the children are the same instrumented test binaries);
# - ThreadSanitizer over the tests where threads of one process share a
#   store (the unit tests of the shared structures, tests/threads.rs,
#   tests/store_basic.rs), with the standard library instrumented too
#   (-Zbuild-std), so that its synchronisation is seen.
# Each builds into its own target directory under target/.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
rustup component add --toolchain nightly rust-src >/dev/null
target="$(rustc -vV | sed -n 's/^host: //p')"

echo "== AddressSanitizer: all Rust tests"
RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" CARGO_TARGET_DIR=target/asan \
    cargo +nightly test --target "$target" --lib --tests

echo "== ThreadSanitizer: multi-thread tests"
RUSTFLAGS="-Zsanitizer=thread" CARGO_TARGET_DIR=target/tsan \
    cargo +nightly test -Zbuild-std --target "$target" --lib --test threads --test store_basic
