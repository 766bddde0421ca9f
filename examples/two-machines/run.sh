#!/usr/bin/env bash
# The tensor walk-through on two "machines" that share only an S3 bucket:
#
#   examples/two-machines/run.sh [LIBDIR]     (LIBDIR: default target/release, as `make build` leaves it)
#
# - Garage (the S3 server of the remote tier's tests) is started on
#   127.0.0.1 with a bucket and a key, in a temporary directory;
# - machine A and machine B are each a mount namespace (unshare --mount
#   --propagation private) with a fresh tmpfs on /dev/shm: neither sees the
#   other's store file, nor the host's;
# - A puts the 15 tensors of the walk-through into its store and publishes
#   them, and hands their IDs to B through a file in a directory both see;
# - B's three worker processes get them (each get fetches from the bucket),
#   check the bytes, transpose, put and publish the results, and hand the
#   result IDs back;
# - A's consumer gets the results (fetched in turn) and checks every byte.
# It checks the isolation (in each namespace the other's store file is
# absent from /dev/shm, though present in the other's, seen through
# /proc/PID/root) and the counters (B fetched 15 objects and published 15, A
# the reverse). Any failure exits non-zero; Garage, the namespaces (and
# their tmpfs) and the temporary directory go in every case.
#
# Needs root (or unprivileged user namespaces), util-linux's unshare, a C
# compiler, python3 (to choose free ports) and Garage: .ci/garage.sh install
# builds it into the tools cache, where this script looks for it (or set
# OBJSTORE_GARAGE_BIN).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
STORE_A=objstore-two-machines-a
STORE_B=objstore-two-machines-b
WORKERS=3
WAIT_SECONDS=60

log() { echo "$(date +%T.%3N) $*"; }
die() { echo "two-machines: FAIL: $*" >&2; exit 1; }

# Waits up to WAIT_SECONDS for the file $1.
wait_for() {
    local i
    for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
        [ -e "$1" ] && return 0
        sleep 0.1
    done
    die "waited ${WAIT_SECONDS}s for $1"
}

# ---- inside a namespace: one machine ------------------------------------------
# run.sh machine A|B SHARED_DIR PROGRAM REMOTE_URL (started by unshare below).
if [ "${1:-}" = machine ]; then
    me=$2 shared=$3 prog=$4 url=$5
    exec > >(sed -u "s/^/[$me] /") 2>&1
    set -E
    trap 'echo "two-machines: FAIL: machine $me: status $? from: $BASH_COMMAND"' ERR
    # This namespace's own /dev/shm: empty, gone with the namespace.
    mount -t tmpfs -o size=128m,mode=1777 "objstore-machine-$me" /dev/shm
    echo $$ >"$shared/$me.pid"
    log "/dev/shm: $(findmnt -n -o SOURCE,FSTYPE,OPTIONS /dev/shm | tail -n 1) (mounted over the host's); entries: $(ls -A /dev/shm | wc -l)"

    # Checks that the other machine's store is not in this /dev/shm, but is
    # in the other's (through /proc/PID/root, the other namespace's view).
    isolated() {
        local other=$1 store=$2 pid
        pid=$(cat "$shared/$other.pid")
        [ ! -e "/dev/shm/$store" ] || die "machine $other's store /dev/shm/$store is visible on machine $me"
        [ -e "/proc/$pid/root/dev/shm/$store" ] || die "machine $other's store is not in its own /dev/shm"
        log "isolation: /dev/shm/$store (machine $other's store) does not exist here;" \
            "it does in machine $other's /dev/shm; here: $(ls /dev/shm | tr '\n' ' ')"
    }
    # counter NAME: a counter of this machine's store.
    counter() { "$prog" stats "$store" | awk -v k="$1" '$1 == k { print $2 }'; }

    if [ "$me" = A ]; then
        store=$STORE_A
        "$prog" produce "$store" "$url" "$shared/ids"
        log "handed $(wc -l <"$shared/ids") IDs to B ($shared/ids); waiting for the results"
        wait_for "$shared/results"
        isolated B "$STORE_B"
        "$prog" consume "$store" "$shared/ids" "$shared/results"
        fetches=$(counter fetches) publishes=$(counter publishes)
        log "stats: fetches $fetches ($(counter fetched_bytes) bytes), publishes $publishes"
        [ "$fetches" -eq 15 ] || die "A fetched $fetches objects, expected the 15 results"
        [ "$publishes" -eq 15 ] || die "A published $publishes objects, expected 15"
        "$prog" destroy "$store"
        touch "$shared/A.done"
    else
        store=$STORE_B
        "$prog" create "$store" "$url"
        wait_for "$shared/ids"
        mapfile -t ids <"$shared/ids"
        [ "${#ids[@]}" -eq 15 ] || die "got ${#ids[@]} IDs, expected 15"
        pids=()
        for ((w = 0; w < WORKERS; w++)); do
            mine=()
            for ((i = w; i < ${#ids[@]}; i += WORKERS)); do mine+=("${ids[i]}"); done
            "$prog" work "$store" "${mine[@]}" >"$shared/B.worker$w" &
            pids+=($!)
        done
        for w in "${!pids[@]}"; do
            wait "${pids[w]}" || die "worker $w (pid ${pids[w]}) failed"
        done
        log "$WORKERS workers transposed $(cat "$shared"/B.worker* | wc -l) tensors"
        isolated A "$STORE_A"
        fetches=$(counter fetches) publishes=$(counter publishes)
        log "stats: fetches $fetches ($(counter fetched_bytes) bytes), publishes $publishes"
        [ "$fetches" -gt 0 ] || die "B fetched nothing from the remote"
        [ "$fetches" -eq 15 ] || die "B fetched $fetches objects, expected the 15 inputs"
        [ "$publishes" -eq 15 ] || die "B published $publishes objects, expected 15"
        cat "$shared"/B.worker* >"$shared/results.tmp"
        mv "$shared/results.tmp" "$shared/results"
        # Keep this store (and the namespace) until A has checked the isolation.
        wait_for "$shared/A.done"
        "$prog" destroy "$store"
    fi
    log "machine $me: OK"
    exit 0
fi

# ---- on the host -----------------------------------------------------------------
lib=$(cd "${1:-$repo/target/release}" && pwd) || die "no library directory ${1:-$repo/target/release}: run make build"
[ -e "$lib/libobjstore.so" ] || die "$lib/libobjstore.so is missing: run make build"

tools=${OBJSTORE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/objstore-tools}
garage=${OBJSTORE_GARAGE_BIN:-$tools/garage/bin/garage}
if [ ! -x "$garage" ]; then
    echo "two-machines: Garage is not installed at $garage." >&2
    echo "  Install it with: .ci/garage.sh install   (or make garage; a cargo build of a few minutes)," >&2
    echo "  or point OBJSTORE_GARAGE_BIN at a garage 2.x binary." >&2
    exit 1
fi

# Unprivileged, the whole run goes into one user namespace, where it may
# mount (and where each machine can see the other's /dev/shm through
# /proc/PID/root, which two sibling user namespaces could not).
if [ "$(id -u)" -ne 0 ]; then
    unshare --user --map-root-user true 2>/dev/null ||
        die "cannot create a user namespace (unshare --user): run as root, or allow unprivileged user namespaces"
    exec unshare --user --map-root-user -- bash "$0" "$@"
fi
ns=(unshare --mount --propagation private)
"${ns[@]}" true 2>/dev/null || die "cannot create a mount namespace (${ns[*]}): run as root"

work=$(mktemp -d "${TMPDIR:-/tmp}/objstore-two-machines.XXXXXX")
garage_pid= garage_ready= a_pid= b_pid=
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    # Each machine is a process group of its own (set -m): its shell, its
    # workers, its sleeps. The tmpfs goes when the last of them does.
    for p in $a_pid $b_pid; do kill -TERM -- "-$p" 2>/dev/null || true; done
    [ -z "$garage_pid" ] || kill -KILL "$garage_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    # Garage's log (every request is in it) when Garage is what went wrong.
    if [ "$status" -ne 0 ] && [ -s "$work/garage/garage.log" ] && [ -z "$garage_ready" ]; then
        echo "--- the end of Garage's log:"
        tail -n 20 "$work/garage/garage.log"
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "building two_machines.c against $lib"
cc -std=c11 -Wall -Wextra -Werror -O2 -I"$repo/include" -I"$repo/examples/c" "$here/two_machines.c" -o "$work/two_machines" \
    -L"$lib" -Wl,-rpath,"$lib" -lobjstore

# Garage: one node on loopback, random free ports, a bucket and a key.
for v in $(compgen -e); do [[ $v == GARAGE_* || $v == AWS_* ]] && unset "$v"; done
gdir=$work/garage
mkdir -p "$gdir/meta" "$gdir/data"
read -r rpc_port s3_port admin_port < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in ss))')
hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
cat >"$gdir/garage.toml" <<EOF
metadata_dir = "$gdir/meta"
data_dir = "$gdir/data"
db_engine = "lmdb"
lmdb_map_size = "1GiB"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(hex 32)"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"

[admin]
api_bind_addr = "127.0.0.1:$admin_port"
admin_token = "$(hex 16)"
EOF
chmod 600 "$gdir/garage.toml"
g() { "$garage" -c "$gdir/garage.toml" "$@"; }
# PR_SET_PDEATHSIG: Garage dies with this script even if it is SIGKILLed.
RUST_LOG=warn,garage=info,garage_api_common=info NO_COLOR=1 \
    setpriv --pdeathsig KILL -- "$garage" -c "$gdir/garage.toml" server >"$gdir/garage.log" 2>&1 &
garage_pid=$!
for ((i = 0; ; i++)); do
    grep -qs "S3 API server listening on http://127.0.0.1:$s3_port" "$gdir/garage.log" && break
    kill -0 "$garage_pid" 2>/dev/null || die "Garage exited at start"
    [ "$i" -lt 600 ] || die "Garage is not listening after 60 s"
    sleep 0.1
done
node=$(g node id -q | cut -d@ -f1)
g layout assign -z dc1 -c 1G "$node" >/dev/null
g layout apply --version 1 >/dev/null
for ((i = 0; ; i++)); do
    g json-api GetClusterHealth 2>/dev/null | grep -q '"status": *"healthy"' && break
    [ "$i" -lt 600 ] || die "Garage is not healthy after 60 s"
    sleep 0.1
done
bucket=objstore-two-machines
key_id=GK$(hex 12) key_secret=$(hex 32)
g bucket create "$bucket" >/dev/null
g key import --yes -n two-machines "$key_id" "$key_secret" >/dev/null
g bucket allow --read --write "$bucket" --key "$key_id" >/dev/null
garage_ready=1
log "Garage $("$garage" --version | awk '{print $2}') on http://127.0.0.1:$s3_port, bucket $bucket"

# The remote's endpoint and credentials, for both machines' processes.
export AWS_ENDPOINT=http://127.0.0.1:$s3_port AWS_REGION=garage AWS_ALLOW_HTTP=true \
    AWS_ACCESS_KEY_ID=$key_id AWS_SECRET_ACCESS_KEY=$key_secret
url=s3://$bucket/two-machines

# The machines, each a process group in a mount namespace of its own.
shared=$work/shared
mkdir -p "$shared"
set -m
"${ns[@]}" -- bash "$0" machine A "$shared" "$work/two_machines" "$url" &
a_pid=$!
"${ns[@]}" -- bash "$0" machine B "$shared" "$work/two_machines" "$url" &
b_pid=$!
set +m
# Both must succeed; the first to fail ends the run (and the other).
while [ -n "$a_pid$b_pid" ]; do
    status=0 done_pid=
    # shellcheck disable=SC2086 # the pids left, unquoted: an empty one is none
    wait -n -p done_pid $a_pid $b_pid || status=$?
    name=B
    [ "$done_pid" != "$a_pid" ] || name=A
    if [ "$status" -ne 0 ]; then
        die "machine $name failed (status $status)"
    fi
    if [ "$name" = A ]; then a_pid=; else b_pid=; fi
done

# Neither store was ever in the host's /dev/shm.
for s in "$STORE_A" "$STORE_B"; do
    [ ! -e "/dev/shm/$s" ] || die "/dev/shm/$s exists on the host"
done
log "two machines passed: B fetched A's 15 tensors from the bucket, A fetched B's 15 transposes, every byte checked"
