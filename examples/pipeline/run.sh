#!/usr/bin/env bash
# Runs the cross-language pipeline (README.md) several times and checks it:
#
#   examples/pipeline/run.sh BUILD_DIR [OBJSTORE_COMMAND]
#
# BUILD_DIR holds the built producer (C), worker (Go) and consumer (C++);
# OBJSTORE_COMMAND is the `objstore` command (default: the one on PATH),
# used to look inside the stores and to destroy them. This script builds
# nothing.
#
# Every run uses a store of its own (objstore-pipeline-PID-RUN) and a run
# tag of its own, starts the programs in the background in a given order,
# and checks every process's exit status and what it printed; then it
# checks the store's counters (`objstore stat --json`: no pins, no
# half-written objects, nobody attached; every object there) and destroys
# it. On exit, even after a failure or Ctrl-C, it kills what it started
# and is still running and destroys every store it made.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 BUILD_DIR [OBJSTORE_COMMAND]" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
objstore=${2:-objstore}
producer=$build/producer
worker=$build/worker
consumer=$build/consumer
for p in "$producer" "$worker" "$consumer"; do
    [ -x "$p" ] || { echo "$0: $p is not built" >&2; exit 2; }
done
command -v "$objstore" >/dev/null || { echo "$0: no objstore command ($objstore)" >&2; exit 2; }

N=30          # items per run
TIMEOUT=30    # seconds each program waits at most for its peers (runs meant to succeed)
SHORT=3       # the same, for the runs where a peer is missing on purpose
PAUSE=0.3     # seconds to let the programs started first sit waiting, in the ordered runs

logs=$(mktemp -d)
declare -A live=()  # pid -> 1 for every background process started and not reaped yet
stores=()     # every store name used, to destroy at exit
failures=0
checks=0

# running PID: PID is a child of this script that bash sees still running
# (once it has exited, its number may belong to someone else).
running() { jobs -pr | grep -qx "$1"; }

cleanup() {
    local status=$?
    local pid
    for pid in "${!live[@]}"; do
        if running "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    done
    for pid in "${!live[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    local s
    for s in "${stores[@]}"; do
        if [ -e "/dev/shm/$s" ]; then
            "$objstore" destroy "$s" >/dev/null 2>&1 || rm -f "/dev/shm/$s"
        fi
    done
    rm -rf "$logs"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- One run: begin, start the programs, expect exit statuses, end.

run=0
declare -A pid_of=() want=() reaped=()
labels=()

# begin TITLE: a fresh store name, run tag and log directory.
begin() {
    run=$((run + 1))
    store="objstore-pipeline-$$-$run"
    tag=$(($$ * 1000 + run))
    dir=$logs/$run
    mkdir -p "$dir"
    stores+=("$store")
    pid_of=()
    want=()
    reaped=()
    labels=()
    run_failures=$failures
    echo
    echo "== run $run: $1"
    echo "   store $store, run tag $tag, $N items"
}

# start LABEL EXPECTED_STATUS PROGRAM ARGS...: runs it in the background,
# its output in LABEL.log. EXPECTED_STATUS: a number, or "fail" (non-zero).
start() {
    local label=$1
    want[$label]=$2
    shift 2
    "$@" >"$dir/$label.log" 2>&1 &
    pid_of[$label]=$!
    live[$!]=1
    labels+=("$label")
}

# Shorthands for the three programs.
start_producer() { start producer "$1" "$producer" "$store" "$tag" "$N" --timeout "$2"; }
start_consumer() { start consumer "$1" "$consumer" "$store" "$tag" "$N" --timeout "$2"; }
# start_worker LABEL INDEX COUNT EXPECTED TIMEOUT [OPTIONS...]
start_worker() {
    local label=$1 index=$2 count=$3 expected=$4 timeout=$5
    shift 5
    start "$label" "$expected" "$worker" "$store" "$tag" "$N" "$index" "$count" --timeout "$timeout" "$@"
}
start_workers() { # COUNT EXPECTED TIMEOUT
    local w
    for ((w = 0; w < $1; w++)); do
        start_worker "worker$w" "$w" "$1" "$2" "$3"
    done
}

ok() {
    checks=$((checks + 1))
    echo "   ok:   $*"
}
fail() {
    checks=$((checks + 1))
    failures=$((failures + 1))
    echo "   FAIL: $*"
}
# check DESCRIPTION COMMAND...: ok if the command succeeds.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}

# wait_for LABEL: reaps it and checks its exit status.
wait_for() {
    local label=$1 status=0
    # (2>/dev/null: no "Killed" notice from bash for the crash run's victim)
    wait "${pid_of[$label]}" 2>/dev/null || status=$?
    unset "live[${pid_of[$label]}]"
    reaped[$label]=1
    local expected=${want[$label]}
    if [ "$expected" = fail ] && [ "$status" -ne 0 ] || [ "$expected" = "$status" ]; then
        ok "$label (pid ${pid_of[$label]}) exited with status $status"
    else
        fail "$label (pid ${pid_of[$label]}) exited with status $status, expected $expected"
    fi
}

# await LABEL PATTERN: waits until LABEL's output matches PATTERN (e.g. it
# has opened the store), so the next program really starts after it.
await() {
    local t
    for ((t = 0; t < 100 * TIMEOUT; t++)); do
        if logged "$1" "$2"; then return 0; fi
        if ! kill -0 "${pid_of[$1]}" 2>/dev/null; then break; fi
        sleep 0.01
    done
    logged "$1" "$2" || { fail "$1 never printed '$2'"; return 0; }
}

# sigkill LABEL: SIGKILLs it and reaps it, without bash's "Killed" notice.
sigkill() {
    exec 3>&2 2>/dev/null
    if running "${pid_of[$1]}"; then kill -KILL "${pid_of[$1]}"; fi
    wait_for "$1"
    exec 2>&3 3>&-
}

# log LABEL: its output.
log() { cat "$dir/$1.log"; }
logged() { grep -q -- "$2" "$dir/$1.log"; }

# stat_field NAME: a number from `objstore stat --json` of this run's store.
stat_field() { sed -n "s/^ *\"$1\": *\([0-9]*\),*$/\1/p" "$dir/stat.json"; }

# wait_all: waits for every program of the run still running (each stops
# by itself: they all have timeouts), checking its exit status.
wait_all() {
    local label
    for label in "${labels[@]}"; do
        if [ -z "${reaped[$label]:-}" ]; then wait_for "$label"; fi
    done
}

# end OBJECTS RECLAIMED: waits for every program still running, shows their
# output, checks the store's counters and destroys it.
end() {
    local objects=$1 reclaimed=$2 label
    wait_all
    for label in "${labels[@]}"; do
        sed "s/^/     $label| /" "$dir/$label.log"
    done
    if "$objstore" stat "$store" --json >"$dir/stat.json" 2>&1; then
        local got
        got="objects=$(stat_field object_count) pinned=$(stat_field pinned_count)"
        got+=" unsealed=$(stat_field unsealed_count) attached=$(stat_field attached_processes)"
        got+=" reclaimed_processes=$(stat_field reclaimed_processes)"
        local expected="objects=$objects pinned=0 unsealed=0 attached=0 reclaimed_processes=$reclaimed"
        if [ "$got" = "$expected" ]; then
            ok "the store at the end: $got"
        else
            fail "the store at the end: $got; expected $expected"
        fi
    else
        fail "objstore stat $store: $(cat "$dir/stat.json")"
    fi
    check "store destroyed" "$objstore" destroy "$store" >/dev/null
    check "/dev/shm/$store is gone" test ! -e "/dev/shm/$store"
    if [ "$failures" -eq "$run_failures" ]; then
        echo "   run $run passed"
    else
        echo "   run $run FAILED"
    fi
}

# created_by LABEL: LABEL's log says it created the store, and no other does.
created_by() {
    local label creators=""
    for label in "${labels[@]}"; do
        if logged "$label" "created store"; then creators+=" $label"; fi
    done
    check "the store was created by$creators, the first started ($1)" test "$creators" = " $1"
}

consumer_ok() {
    check "consumer: $N/$N outputs correct, $N/$N inputs unchanged" \
        logged consumer ": $N/$N outputs correct .* 0 missing; $N/$N inputs unchanged"
}

# id_hex ITEM STAGE: the protocol's ID of item ITEM of this run, in hex.
id_hex() {
    local b out=""
    for ((b = 0; b < 8; b++)); do out+=$(printf %02x $(((tag >> (8 * b)) & 255))); done
    for ((b = 0; b < 8; b++)); do out+=$(printf %02x $((($1 >> (8 * b)) & 255))); done
    printf '%s%02x000000\n' "$out" "$2"
}

# ---- The runs

begin "consumer first (it waits in get), then 3 workers, then the producer"
start_consumer 0 $TIMEOUT
await consumer "waiting for"
sleep $PAUSE
start_workers 3 0 $TIMEOUT
for w in 0 1 2; do await worker$w "store $store"; done
sleep $PAUSE
start_producer 0 $TIMEOUT
wait_all
created_by consumer
consumer_ok
end $((2 * N)) 0

begin "producer first, then 2 workers, then the consumer"
start_producer 0 $TIMEOUT
await producer "store $store"
start_workers 2 0 $TIMEOUT
for w in 0 1; do await worker$w "store $store"; done
start_consumer 0 $TIMEOUT
wait_all
created_by producer
consumer_ok
end $((2 * N)) 0

begin "workers first (they wait for inputs), then the producer, then the consumer"
start_worker worker0 0 4 0 $TIMEOUT
await worker0 "store $store"
start_worker worker1 1 4 0 $TIMEOUT
start_worker worker2 2 4 0 $TIMEOUT
start_worker worker3 3 4 0 $TIMEOUT
for w in 1 2 3; do await worker$w "store $store"; done
sleep $PAUSE
start_producer 0 $TIMEOUT
await producer "store $store"
start_consumer 0 $TIMEOUT
wait_all
created_by worker0
consumer_ok
end $((2 * N)) 0

begin "all at once: 7 processes race to create the store"
start_consumer 0 $TIMEOUT
start_workers 5 0 $TIMEOUT
start_producer 0 $TIMEOUT
wait_all
consumer_ok
creators=$(grep -l "created store" "$dir"/*.log | wc -l)
check "exactly one process created the store (got $creators)" test "$creators" -eq 1
end $((2 * N)) 0

# The crash run. Worker 0 of 2 makes outputs 0 and 2, then at item 4 it
# pins input 4, creates output 4, writes half of it and hangs: it is
# SIGKILLed there. A replacement worker 0 of 2 attaches (which reclaims the
# dead worker's pin and aborts its half-written output, freeing the ID),
# finds outputs 0 and 2 made, makes 4, 6, ... and the consumer, waiting all
# along, gets every output right.
begin "crash: a worker SIGKILLed with an input pinned and an output half-written; a replacement finishes"
hang=4
start_consumer 0 $TIMEOUT
start_producer 0 $TIMEOUT
wait_for producer
start_worker worker1 1 2 0 $TIMEOUT
wait_for worker1
start_worker victim 0 2 137 $TIMEOUT --hang-at $hang
await victim HANGING
# What the store holds while the victim lives (the objstore command
# attaches to look: with no dead process yet, that reclaims nothing).
half=$(id_hex $hang 1)
input=$(id_hex $hang 0)
unsealed=$("$objstore" ls "$store" --state unsealed -q 2>&1 || true)
check "its half-written output $half is the store's only unsealed object" test "$unsealed" = "$half"
check "its input $input is pinned" eval '"$objstore" ls "$store" --pinned -q | grep -qx "$input"'
sigkill victim
victim_pid=${pid_of[victim]}
start_worker replacement 0 2 0 $TIMEOUT
wait_for replacement
wait_for consumer
consumer_ok
check "the replacement's attach found the dead worker reclaimed: no unsealed object, 1 dead process" \
    logged replacement "unsealed=0 .* reclaimed_processes=1$"
check "the replacement found outputs 0 and 2 made and made output $hang and the rest" \
    logged replacement "made $((N / 2 - 2)) outputs \[4 6 [0-9 ]*\], 2 already made by another process \[0 2\]"
check "the consumer got outputs 0 and 2 from the victim (pid $victim_pid) and $((N / 2 - 2)) from the replacement" \
    eval 'logged consumer "by worker 0/2 pid $victim_pid: 2$" &&
          logged consumer "by worker 0/2 pid ${pid_of[replacement]}: $((N / 2 - 2))$"'
end $((2 * N)) 1

# The takeover run. The victim hangs at item 6 as above; a standby worker 0
# of 2 is started while it lives, finds outputs 0, 2 and 4 made, and waits
# for output 6, running a collect every 250 ms. The victim is stopped
# (SIGSTOP) for a second: a stopped process is alive, so those collects
# leave its half-written object alone. Then it is SIGKILLed: the standby's
# next collect aborts the object, and the standby takes item 6 over.
begin "takeover: a standby worker waiting on a stopped worker's half-written output takes it over once that worker is SIGKILLed"
hang=6
start_consumer 0 $TIMEOUT
start_producer 0 $TIMEOUT
wait_for producer
start_worker worker1 1 2 0 $TIMEOUT
wait_for worker1
start_worker victim 0 2 137 $TIMEOUT --hang-at $hang
await victim HANGING
if running "${pid_of[victim]}"; then kill -STOP "${pid_of[victim]}"; fi
start_worker standby 0 2 0 $TIMEOUT
await standby "output $hang is being written by another process"
sleep 1
half=$(id_hex $hang 1)
unsealed=$("$objstore" ls "$store" --state unsealed -q 2>&1 || true)
check "the victim is stopped, alive: after a second of the standby's collects its half-written output $half is still there" \
    test "$unsealed" = "$half"
sigkill victim
victim_pid=${pid_of[victim]}
wait_for standby
wait_for consumer
consumer_ok
check "the standby took output $hang over once the victim was dead" logged standby "output $hang: its writer died; took it over"
check "the standby made output $hang and the rest, and found outputs 0, 2 and 4 made" \
    logged standby "made $((N / 2 - 3)) outputs \[6 8 .*\] (1 taken over from a dead writer \[6\]), 3 already made by another process \[0 2 4\]"
check "the consumer got 3 outputs from the victim (pid $victim_pid) and $((N / 2 - 3)) from the standby" \
    eval 'logged consumer "by worker 0/2 pid $victim_pid: 3$" &&
          logged consumer "by worker 0/2 pid ${pid_of[standby]}: $((N / 2 - 3))$"'
end $((2 * N)) 1

begin "no producer: the workers and the consumer time out (${SHORT} s) and fail instead of hanging"
start_consumer fail $SHORT
start_workers 2 fail $SHORT
wait_all
check "the consumer names all $N outputs missing" \
    test "$(grep -c 'MISSING' "$dir/consumer.log")" -eq $N
check "worker 0 failed waiting for input 0" logged worker0 "FAILED: input 0: .*not sealed within"
end 0 0

begin "one worker of 3 missing: the consumer fails, naming the outputs no one made"
start_producer 0 $SHORT
start_worker worker0 0 3 0 $SHORT
start_worker worker1 1 3 0 $SHORT
start_consumer fail $SHORT
wait_all
check "the consumer names the $((N / 3)) outputs of worker 2 missing, and only those" \
    test "$(grep -c 'MISSING' "$dir/consumer.log")" -eq $((N / 3))
check "... output 2 among them" logged consumer "output 2 ($(id_hex 2 1)): MISSING"
end $((N + 2 * N / 3)) 0

# Forged outputs: before anyone runs, outputs 3 and 5 are put by hand
# (`objstore put --id`), one with the right metadata but wrong values, one
# with the wrong metadata. The workers find them made and leave them; the
# consumer must catch both.
begin "forged outputs: the consumer catches a wrong value and wrong metadata"
"$objstore" create "$store" --capacity 64MiB >/dev/null
len3=$((1000 + (3 * 7919) % 9000))
len5=$((1000 + (5 * 7919) % 9000))
head -c $((4 * len3)) /dev/zero | "$objstore" put "$store" - --id "$(id_hex 3 1)" \
    --meta "uint32 $len3 worker=9/9 pid=1" >/dev/null
head -c $((4 * len5)) /dev/zero | "$objstore" put "$store" - --id "$(id_hex 5 1)" --meta "float32 $len5" >/dev/null
start_producer 0 $TIMEOUT
start_workers 2 0 $TIMEOUT
start_consumer fail $TIMEOUT
wait_all
check "the consumer finds 28 outputs right, output 3 wrong and output 5 wrong" \
    eval 'logged consumer ": 28/$N outputs correct .* 0 missing; $N/$N inputs unchanged" &&
          logged consumer "output 3: WRONG: value 0 is 0, expected" &&
          logged consumer "output 5: WRONG: metadata \"float32 $len5\""'
check "worker 1 found outputs 3 and 5 made" logged worker1 "already made by another process \[3 5\]"
end $((2 * N)) 0

echo
if [ "$failures" -ne 0 ]; then
    echo "pipeline: $failures of $checks checks FAILED"
    exit 1
fi
echo "pipeline: all $checks checks passed in $run runs"
