#!/usr/bin/env bash
# Runs the C and C++ tensor walk-throughs and checks their results:
#   examples/run.sh C_PROGRAM CXX_PROGRAM
# - each driver with its own workers, and with the other language's workers
#   (the data, metadata and ID formats are shared);
# - both generate the same inputs (the same checksum);
# - a driver whose workers fail exits non-zero;
# - no run leaves a store behind in /dev/shm.
set -euo pipefail
c=$1
cxx=$2
failures=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

stores() { ls /dev/shm 2>/dev/null | grep '^objstore-tensors-' | sort || true; }
before=$(stores)

# run NAME EXPECTED_STATUS PROGRAM ARGS...: EXPECTED_STATUS is 0 or "fail".
run() {
    local name=$1 want=$2
    shift 2
    local status=0
    "$@" >"$out" 2>&1 || status=$?
    if [ "$want" = 0 ]; then
        if [ "$status" -ne 0 ] || ! grep -q 'results correct: 15/15; originals unchanged: 15/15' "$out" \
            || ! grep -q '^OK: store destroyed$' "$out"; then
            echo "FAIL: $name (exit status $status)"
            sed 's/^/    /' "$out"
            failures=$((failures + 1))
            return
        fi
    elif [ "$status" -eq 0 ]; then
        echo "FAIL: $name exited 0, expected a failure"
        sed 's/^/    /' "$out"
        failures=$((failures + 1))
        return
    fi
    echo "ok:   $name (exit status $status)"
}

checksum() { sed -n 's/.*checksum \([0-9a-f]*\)$/\1/p' "$out"; }

run "C driver, C workers" 0 "$c"
c_sum=$(checksum)
sed 's/^/    /' "$out"
run "C++ driver, C++ workers" 0 "$cxx"
cxx_sum=$(checksum)
sed 's/^/    /' "$out"
run "C driver, C++ workers" 0 "$c" --worker-exe "$cxx" --workers 3
run "C++ driver, C workers" 0 "$cxx" --worker-exe "$c" --workers 5
run "C driver, one worker" 0 "$c" --workers 1
if [ -n "$c_sum" ] && [ "$c_sum" = "$cxx_sum" ]; then
    echo "ok:   C and C++ generate the same inputs (checksum $c_sum)"
else
    echo "FAIL: input checksums differ: C '$c_sum', C++ '$cxx_sum'"
    failures=$((failures + 1))
fi
run "C driver, failing workers" fail "$c" --worker-exe /bin/false
run "C++ driver, failing workers" fail "$cxx" --worker-exe /bin/false
run "C driver, silent workers" fail "$c" --worker-exe /bin/true
run "C++ driver, silent workers" fail "$cxx" --worker-exe /bin/true

after=$(stores)
if [ "$before" != "$after" ]; then
    echo "FAIL: stores left in /dev/shm:"
    comm -13 <(echo "$before") <(echo "$after") | sed 's/^/    /'
    failures=$((failures + 1))
else
    echo "ok:   no store left behind"
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures example check(s) failed"
    exit 1
fi
echo "examples passed"
