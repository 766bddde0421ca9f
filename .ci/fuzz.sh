#!/usr/bin/env bash
# Fuzzing: every fuzz target for a bounded time, one at a time; exits
# non-zero if any finds a crash (or a committed reproducer crashes again).
#
#   bash .ci/fuzz.sh                  # all targets (make fuzz)
#   FUZZ_SECONDS=600 bash .ci/fuzz.sh # longer runs
#   bash .ci/fuzz.sh store_damage go  # only some targets
#
# Targets: the cargo-fuzz targets store_damage, spill_file, capi_calls
# (fuzz/, libFuzzer + AddressSanitizer, nightly toolchain), go (go test
# -fuzz over the Go binding's ID parsing) and python (atheris over the
# Python binding's value decoding).
#
# Environment:
#   FUZZ_SECONDS         seconds of fuzzing per cargo-fuzz target (default 60), after
#                        the target has run its corpus once (store_damage's takes
#                        about 4 minutes: damaged spilling stores are slow)
#   FUZZ_GO_SECONDS      about this many seconds per Go fuzz function (default 30, or FUZZ_SECONDS/2),
#                        as a count of executions (see below)
#   FUZZ_PY_SECONDS      seconds for the Python harness (default 30, or FUZZ_SECONDS/2)
#   FUZZ_TIMEOUT         libFuzzer -timeout: one input slower than this is a hang (default 20)
#   FUZZ_TOOLS           where cargo-fuzz is installed if missing (default ~/.cache/objstore/fuzz-tools)
#   FUZZ_MERGE=1         merge what the runs found into fuzz/corpus/<target> (minimized)
#   FUZZ_REPLAY_LIMIT=N  start each cargo-fuzz target from its seeds and N inputs of its
#                        committed corpus, not all of it (make test does, to stay short)
#
# Each run first replays the committed corpus and fuzz/regressions/<target>
# (every input once), then fuzzes. New inputs go to build/fuzz/corpus/
# (the committed corpus stays as it is unless FUZZ_MERGE=1); crashes go to
# build/fuzz/artifacts/<target>/ and are listed at the end.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

SECONDS_RUST=${FUZZ_SECONDS:-60}
SECONDS_GO=${FUZZ_GO_SECONDS:-$(( ${FUZZ_SECONDS:-60} / 2 ))}
GO_EXECS_PER_SECOND=8000
SECONDS_PY=${FUZZ_PY_SECONDS:-$(( ${FUZZ_SECONDS:-60} / 2 ))}
TIMEOUT=${FUZZ_TIMEOUT:-20}
TOOLS=${FUZZ_TOOLS:-$HOME/.cache/objstore/fuzz-tools}
OUT=$ROOT/build/fuzz
RUST_TARGETS=(store_damage spill_file capi_calls)
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${RUST_TARGETS[@]}" go python)

mkdir -p "$OUT"
failures=()
note() { printf '\n== %s\n' "$*"; }
fail() { failures+=("$1"); printf 'FAILED: %s\n' "$1"; }
# Crash, hang, memory and leak reports in an artifact directory (libFuzzer's
# slow-unit-* files are only informative).
found() { ls "$1" 2>/dev/null | grep -qE '^(crash|timeout|oom|leak)-'; }
# merge_corpus NAME DIR FUZZER...: DIR becomes the minimized union of DIR and
# what this run found (libFuzzer -merge into an empty directory); hand-written
# seed-* inputs are kept as they are.
merge_corpus() {
    local name=$1 dir=$2; shift 2
    local tmp="$OUT/merged/$name"
    note "$name: minimizing the corpus into $dir"
    rm -rf "$tmp" && mkdir -p "$tmp"
    # (libFuzzer's exit status after a merge is not reliable: the merged
    # directory is what counts.)
    "$@" -merge=1 "$tmp" "$dir" "$OUT/corpus/$name" >"$OUT/$name.merge.log" 2>&1
    if grep -q 'MERGE-OUTER: successful' "$OUT/$name.merge.log" && ls "$tmp" | grep -q .; then
        find "$dir" -maxdepth 1 -type f ! -name 'seed-*' -delete
        cp "$tmp"/* "$dir"/ 2>/dev/null || true
        echo "$(ls "$dir" | wc -l) inputs in $dir"
    else
        tail -20 "$OUT/$name.merge.log"
        fail "$name: merge"
    fi
}
wants() { local t; for t in "${TARGETS[@]}"; do [ "$t" = "$1" ] && return 0; done; return 1; }
wants_rust() { local t; for t in "${RUST_TARGETS[@]}"; do wants "$t" && return 0; done; return 1; }

# Cargo must not build more than one crate at a time on a 2-core machine
# shared with other work; the fuzzers themselves run one at a time.
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}

# ----- cargo-fuzz targets -------------------------------------------------------
if wants_rust; then
    note "toolchain"
    if ! cargo +nightly --version >/dev/null 2>&1; then
        rustup toolchain install nightly --profile minimal || { fail "nightly toolchain"; }
    fi
    export PATH="$TOOLS/bin:$PATH"
    if ! command -v cargo-fuzz >/dev/null 2>&1; then
        echo "installing cargo-fuzz into $TOOLS"
        cargo install cargo-fuzz --locked --root "$TOOLS" || fail "cargo install cargo-fuzz"
    fi
    note "building the fuzz targets (cargo +nightly fuzz build)"
    if ! (cd fuzz && nice -n 10 cargo +nightly fuzz build); then
        fail "cargo fuzz build"
    fi
    BIN=$ROOT/fuzz/target/x86_64-unknown-linux-gnu/release
    for t in "${RUST_TARGETS[@]}"; do
        wants "$t" || continue
        [ -x "$BIN/$t" ] || { fail "$t: not built"; continue; }
        mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t" fuzz/corpus/"$t" fuzz/regressions/"$t"
        # The reproducers of past crashes; the corpus is replayed by the
        # fuzzing run itself (libFuzzer runs every input before fuzzing, and
        # that is not counted in -max_total_time).
        note "$t: replaying fuzz/regressions/$t"
        if ! "$BIN/$t" -runs=0 -timeout="$TIMEOUT" -rss_limit_mb=4096 \
                -artifact_prefix="$OUT/artifacts/$t/" fuzz/regressions/"$t" \
                >"$OUT/$t.replay.log" 2>&1; then
            tail -40 "$OUT/$t.replay.log"
            fail "$t: a committed input crashes"
            continue
        fi
        corpus=fuzz/corpus/"$t"
        if [ -n "${FUZZ_REPLAY_LIMIT:-}" ]; then
            # A sample of the committed corpus: its seeds and every k-th input.
            corpus="$OUT/sample/$t"
            rm -rf "$corpus" && mkdir -p "$corpus"
            cp fuzz/corpus/"$t"/seed-* "$corpus"/ 2>/dev/null || true
            n=$(ls fuzz/corpus/"$t" | wc -l)
            k=$(( n / FUZZ_REPLAY_LIMIT + 1 ))
            ls fuzz/corpus/"$t" | awk -v k="$k" 'NR % k == 0' | while read -r f; do cp fuzz/corpus/"$t"/"$f" "$corpus"/; done
        fi
        note "$t: fuzzing for ${SECONDS_RUST}s (from $(ls "$corpus" | wc -l) inputs)"
        nice -n 10 "$BIN/$t" -max_total_time="$SECONDS_RUST" -timeout="$TIMEOUT" -rss_limit_mb=4096 \
            -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$t/" \
            "$OUT/corpus/$t" "$corpus" >"$OUT/$t.log" 2>&1
        rc=$?
        grep -E '^stat::number_of_executed_units|^stat::new_units_added|Done [0-9]+ runs' "$OUT/$t.log" || true
        if [ $rc -ne 0 ] || found "$OUT/artifacts/$t"; then
            grep -v '^ *#[0-9]' "$OUT/$t.log" | grep -A25 -m1 'panicked\|ERROR: \(AddressSanitizer\|libFuzzer\)' || tail -40 "$OUT/$t.log"
            fail "$t: crash (see $OUT/artifacts/$t/, log $OUT/$t.log)"
        fi
        if [ "${FUZZ_MERGE:-0}" = 1 ]; then
            merge_corpus "$t" fuzz/corpus/"$t" "$BIN/$t" -timeout="$TIMEOUT" -rss_limit_mb=4096
        fi
    done
fi

# ----- Go: ParseID / ID.String ------------------------------------------------
if wants go; then
    note "go: building the library (make build)"
    if ! nice -n 10 make --no-print-directory build >"$OUT.go-build.log" 2>&1; then
        tail -20 "$OUT.go-build.log"
        fail "go: make build"
    else
        export PKG_CONFIG_PATH=$ROOT/target/release/pkgconfig LD_LIBRARY_PATH=$ROOT/target/release
        for f in FuzzParseID FuzzIDString; do
            note "go: $f for $((SECONDS_GO * GO_EXECS_PER_SECOND)) executions (about ${SECONDS_GO}s or less)"
            # -fuzz runs the seed corpus (testdata/fuzz/$f) first; a failure
            # writes its input to testdata/fuzz/$f, which is then a regression.
            # -fuzzminimizetime: new inputs are minimized for at most this
            # long (default 60s, which with one worker stalls the run).
            # The budget is a count of executions, not a duration: with a
            # duration, Go's fuzzing coordinator before Go 1.27 can report
            # "context deadline exceeded" as a failure when the time runs
            # out while a worker is mid-call on a loaded machine (Go issue
            # 75804). GO_EXECS_PER_SECOND is a low estimate of the rate
            # (10-20k/s were seen on a loaded 2-core machine), so a run
            # takes about SECONDS_GO or less.
            if ! (cd bindings/go && nice -n 10 go test -run '^$' -fuzz "^$f\$" -fuzztime "$((SECONDS_GO * GO_EXECS_PER_SECOND))x" \
                    -fuzzminimizetime 2s -parallel 1 . 2>&1 | tail -15); then
                fail "go: $f"
            fi
        done
    fi
fi

# ----- Python: value decoding ---------------------------------------------------
if wants python; then
    PYVENV=$ROOT/build/fuzz-venv
    note "python: the wheel (maturin, as make test-python builds it), atheris and numpy in $PYVENV"
    if [ ! -x "$PYVENV/bin/python" ]; then
        python3 -m venv "$PYVENV" || fail "python: venv"
    fi
    # The package is the native module's wheel, built from this tree by
    # bindings/python/ci/test.sh --wheel-only (maturin; cargo builds in
    # build/python/target, reusing what is built there), which prints the
    # wheel's path last; its one dependency, cloudpickle, is installed beside.
    if ! nice -n 10 bash bindings/python/ci/test.sh --wheel-only >"$OUT.wheel.log" 2>&1; then
        tail -30 "$OUT.wheel.log"
        fail "python: building the wheel"
    elif ! "$PYVENV/bin/python" -m pip install -q --disable-pip-version-check atheris numpy cloudpickle \
            >"$OUT.pip.log" 2>&1 ||
       ! "$PYVENV/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps \
            "$(tail -1 "$OUT.wheel.log")" >>"$OUT.pip.log" 2>&1; then
        tail -20 "$OUT.pip.log"
        fail "python: pip install"
    else
        mkdir -p "$OUT/corpus/python" "$OUT/artifacts/python" fuzz/regressions/python
        H=bindings/python/fuzz/fuzz_decode.py
        # The harness's store, destroyed here: libFuzzer's exit skips the
        # harness's own clean-up.
        export OBJSTORE_PYFUZZ_STORE="objstore-pyfuzz-$$"
        trap '"$PYVENV/bin/python" -c "import objstore, sys; objstore.destroy(sys.argv[1], missing_ok=True)" "$OBJSTORE_PYFUZZ_STORE" 2>/dev/null || true' EXIT
        note "python: replaying bindings/python/fuzz/corpus and fuzz/regressions/python"
        if ! "$PYVENV/bin/python" "$H" -runs=0 -timeout="$TIMEOUT" -artifact_prefix="$OUT/artifacts/python/" \
                bindings/python/fuzz/corpus fuzz/regressions/python >"$OUT/python.replay.log" 2>&1; then
            tail -30 "$OUT/python.replay.log"
            fail "python: a committed input fails"
        else
            note "python: fuzzing for ${SECONDS_PY}s"
            nice -n 10 "$PYVENV/bin/python" "$H" -max_total_time="$SECONDS_PY" -timeout="$TIMEOUT" \
                -print_final_stats=1 -artifact_prefix="$OUT/artifacts/python/" \
                "$OUT/corpus/python" bindings/python/fuzz/corpus >"$OUT/python.log" 2>&1
            rc=$?
            grep -E '^stat::number_of_executed_units|Done [0-9]+ runs' "$OUT/python.log" || true
            if [ $rc -ne 0 ] || found "$OUT/artifacts/python"; then
                grep -A25 -m1 'Uncaught Python exception\|ERROR:' "$OUT/python.log" || tail -30 "$OUT/python.log"
                fail "python: crash (see $OUT/artifacts/python/, log $OUT/python.log)"
            fi
            if [ "${FUZZ_MERGE:-0}" = 1 ]; then
                # libFuzzer's merge runs argv[0] again: an executable copy of
                # the harness whose #! is the venv's python.
                { echo "#!$PYVENV/bin/python"; cat "$H"; } >"$OUT/fuzz_decode"
                chmod +x "$OUT/fuzz_decode"
                merge_corpus python bindings/python/fuzz/corpus "$OUT/fuzz_decode"
            fi
        fi
    fi
fi

# A harness removes its store files after each input, but not those of an
# input cut short (a timeout, the end of -max_total_time): remove what
# fuzz processes no longer running left in /dev/shm.
for f in /dev/shm/objstore-fuzz-*; do
    [ -e "$f" ] || continue
    pid=${f#/dev/shm/objstore-fuzz-}
    pid=${pid%%-*}
    kill -0 "$pid" 2>/dev/null || rm -rf -- "$f"
done

note "summary"
if [ ${#failures[@]} -gt 0 ]; then
    printf '%s\n' "${failures[@]}"
    echo "fuzz: ${#failures[@]} failure(s)"
    exit 1
fi
echo "fuzz: every target ran clean (${TARGETS[*]})"
