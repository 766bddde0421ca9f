#!/usr/bin/env bash
# Model-checks the lock-free protocols (src/loom_models.rs) with loom.
# LOOM_MAX_PREEMPTIONS bounds the search (default 3 in the models).
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release --lib models -- --test-threads=1
