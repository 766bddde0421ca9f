"""The remote tier beside Ray's transfer between two nodes on one machine, in one run.

    python3 benches/remote_vs_ray.py [--smoke] [--venv DIR] [--no-ray] [--sizes 1,16,256,1024] [--rounds 3]
    make bench-remote-ray

Issue #14 asks for objstore's publish and fetch through S3-compatible
storage to be reported beside Ray's transfer of the same sizes between two
nodes on one machine. Both run here, one after the other:

1. objstore: this script runs `cargo bench --features remote --bench remote
   -- --sizes ... --rounds ...` (benches/remote.rs; `make bench-remote`),
   reprints its table and reads from it, per size, publish (from a store
   already holding the object, to a single-node Garage on loopback), fetch
   (a get in a second store: the download, its CRC-32, into that store's
   memory) and the second get there (local). Each is the best of the rounds.
   Without Garage (`.ci/garage.sh install`, `make garage`) that bench
   measures nothing, and this script says so.

2. Ray, in the bench virtualenv (the one of benches/vs_ray.py: made by
   bindings/python/bench/bench_vs_ray.py's `ensure_venv`, with this
   repository's wheel, numpy and Ray from pip): a `ray.cluster_utils.Cluster`
   of two nodes on this machine, the head (where the driver runs) and node B
   (custom resource {"node_b": 1}), each with its own object store, big
   enough for the largest size three times over (at least 3 GiB). For each
   size and round, a FRESH object: the driver `ray.put`s a uint8 numpy
   array of that size (its first byte changed each round) on the head node
   (timed: "put"), then calls a task that needs {"node_b": 1}, passing the
   ObjectRef inside a list so that Ray does not resolve it before the task
   starts, and waits for its small result (timed: the task round trip). In
   the task, on node B (checked with the node id the task reports), `ray.get`
   pulls the object from the head node's store into node B's (Ray's object
   manager, node to node over gRPC), timed there too ("in-task get"); the
   task reads one byte per MiB (a checksum the driver checks), drops the
   array and gets it again: the second get, now local to node B. The same
   task with no object, called 20 times before the sizes (5 with --smoke),
   gives the empty-task round trip; the cross-node transfer is the best
   round trip minus the best empty one. Each object is dropped at the end of
   its round, so the next round's is not on node B.

Figures are best of the rounds, MB/s = 10^6 B/s. The last column of the
main table is objstore's publish + fetch time over Ray's put + cross-node
transfer time for the same bytes (above 1: Ray was faster). The two do not
do the same work: objstore's figures start from an object already in a
store (the local put is not in publish) and go through an S3 server over
HTTP on loopback (an upload, the server's write, a download: two copies
through sockets, plus a CRC over the bytes each way), while Ray's start
from a numpy array (the put is a copy into the head node's store) and move
the bytes node to node in 5 MiB chunks over its own gRPC. Both run on this
one machine and share its cores, so neither measures a network.

--smoke: sizes 1 and 16 MiB, one round (seconds, once built; rough figures:
with one round, the first fetch of the process, tens of ms even for 1 MiB,
is the 1 MiB figure). --no-ray: the
objstore figures only, without making the virtualenv. If Ray cannot be
installed or started, the objstore figures are printed alone, with the
reason, and the script exits 0. Nothing asserts on a timing.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "bindings", "python", "bench"))

MiB = 1 << 20
GiB = 1 << 30
PROBE = MiB  # the task reads one byte in every PROBE bytes

_UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def fmt_time(t: float) -> str:
    if t < 1e-3:
        return f"{t * 1e6:.1f} µs"
    if t < 1.0:
        return f"{t * 1e3:.1f} ms"
    return f"{t:.2f} s"


def label(mib: int) -> str:
    return f"{mib // 1024} GiB" if mib >= 1024 and mib % 1024 == 0 else f"{mib} MiB"


def mbps(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / 1e6


# ----------------------------------------------------------------------------- objstore: benches/remote.rs


def objstore_figures(sizes: list[int], rounds: int) -> tuple[dict, str | None]:
    """Run benches/remote.rs now, reprint its output, and return
    ({MiB: {"publish": MB/s, "fetch": MB/s, "put": MB/s, "get": MB/s,
    "second": seconds}}, None), or ({}, why) if it measured nothing."""
    cmd = ["cargo", "bench", "-q", "--features", "remote", "--bench", "remote", "--",
           "--sizes", ",".join(map(str, sizes)), "--rounds", str(rounds)]
    print(f"$ {' '.join(cmd)}", flush=True)
    try:
        r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=3600)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {}, f"{' '.join(cmd)}: {e}"
    print(r.stdout, end="", flush=True)
    if r.returncode != 0:
        return {}, f"{' '.join(cmd)} failed: {r.stderr.strip()[-400:]}"
    out = {}
    # "    1MiB        167        133    0.80        141        166    1.18      340ns     18572"
    row = re.compile(r"^\s*(\d+)MiB\s+([0-9.]+)\s+([0-9.]+)\s+[0-9.]+\s+([0-9.]+)\s+([0-9.]+)\s+[0-9.]+\s+"
                     r"([0-9.]+)(ns|µs|us|ms|s)\s")
    for line in r.stdout.splitlines():
        m = row.match(line + " ")
        if m:
            out[int(m.group(1))] = {
                "put": float(m.group(2)),
                "publish": float(m.group(3)),
                "get": float(m.group(4)),
                "fetch": float(m.group(5)),
                "second": float(m.group(6)) * _UNITS[m.group(7)],
            }
    if not out:
        why = r.stderr.strip().splitlines()[-1:] or ["no table in its output"]
        return {}, f"{' '.join(cmd)} measured nothing: {why[0]}"
    return out, None


# ----------------------------------------------------------------------------- Ray: two nodes, one machine


def bench_ray(sizes: list[int], rounds: int, empties: int) -> dict:
    import numpy as np
    import ray
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    store = max(3 * GiB, 3 * max(sizes) * MiB)
    common = dict(num_cpus=1, object_store_memory=store)
    cluster = Cluster(initialize_head=True, head_node_args=dict(common, include_dashboard=False))
    try:
        cluster.add_node(**common, resources={"node_b": 1})
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
        head = ray.get_runtime_context().get_node_id()
        node_b = [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("node_b")]
        if len(node_b) != 1 or node_b[0] == head:
            raise RuntimeError(f"expected one node B beside the head, found {node_b}")
        node_b = node_b[0]

        @ray.remote(resources={"node_b": 1})
        def take(box):
            # box = [ObjectRef]: a ref inside a list is passed as is, so this
            # ray.get is the pull from the head node's store into node B's.
            ctx = ray.get_runtime_context()
            if not box:
                return ctx.get_node_id(), 0.0, 0.0, 0, 0
            t0 = time.perf_counter()
            x = ray.get(box[0])
            t1 = time.perf_counter()
            check = int(x[::PROBE].sum(dtype=np.uint64))
            n = x.nbytes
            del x
            t2 = time.perf_counter()
            y = ray.get(box[0])
            t3 = time.perf_counter()
            del y
            return ctx.get_node_id(), t1 - t0, t3 - t2, check, n

        # Warm up: node B's worker process, the function's export.
        for _ in range(3):
            ray.get(take.remote([]))
        empty = []
        for _ in range(empties):
            t0 = time.perf_counter()
            where = ray.get(take.remote([]))[0]
            empty.append(time.perf_counter() - t0)
            if where != node_b:
                raise RuntimeError(f"the task ran on node {where}, not node B {node_b}")
        out = {"_version": ray.__version__, "_empty": sorted(empty), "_store": store, "_load": os.getloadavg()}
        for mib in sizes:
            arr = np.random.default_rng(mib).integers(0, 255, mib * MiB, dtype=np.uint8)
            best = {"put": float("inf"), "rtt": float("inf"), "get": float("inf"), "second": float("inf")}
            for r in range(rounds):
                arr[0] = r + 1  # another object each round (and another checksum)
                want = int(arr[::PROBE].sum(dtype=np.uint64))
                t0 = time.perf_counter()
                ref = ray.put(arr)
                t1 = time.perf_counter()
                where, t_get, t_second, check, n = ray.get(take.remote([ref]))
                t2 = time.perf_counter()
                if where != node_b or where == head:
                    raise RuntimeError(f"the task ran on node {where}, not node B {node_b}")
                if check != want or n != arr.nbytes:
                    raise RuntimeError(f"node B read other bytes ({n} B, checksum {check} for {want})")
                for k, v in (("put", t1 - t0), ("rtt", t2 - t1), ("get", t_get), ("second", t_second)):
                    best[k] = min(best[k], v)
                del ref  # freed on both nodes: the next round's object is new to node B
            out[mib] = best
            del arr
        return out
    finally:
        try:
            ray.shutdown()
        finally:
            cluster.shutdown()


# ----------------------------------------------------------------------------- report


def report(sizes, rounds, mine, mine_why, ray_out, ray_why):
    rv = f"Ray {ray_out['_version']}" if ray_out else "Ray"
    empty = ray_out["_empty"][0] if ray_out else None
    print()
    print(f"Best of {rounds} round(s); MB/s = 10^6 B/s. objstore: publish to Garage on loopback, fetch into a "
          f"second store, 2nd get there (benches/remote.rs). {rv}: put on the head node, a task on node B gets it "
          f"(cross-node: task round trip minus the empty task's), 2nd get on node B.")
    print()
    print(f"| size | objstore publish | objstore fetch | objstore 2nd get | {rv} put | {rv} cross-node get | "
          f"{rv} 2nd get (node B) | objstore publish + fetch / Ray put + transfer (time) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for mib in sizes:
        n = mib * MiB
        m = mine.get(mib)
        cells = [label(mib)]
        if m:
            cells += [f"{m['publish']:.0f} MB/s", f"{m['fetch']:.0f} MB/s", fmt_time(m["second"])]
        else:
            cells += ["–", "–", "–"]
        rr = ray_out.get(mib) if ray_out else None
        if rr:
            transfer = rr["rtt"] - empty
            cells += [f"{mbps(n, rr['put']):.0f} MB/s", f"{mbps(n, transfer):.0f} MB/s", fmt_time(rr["second"])]
        else:
            cells += ["skipped", "skipped", "skipped"]
        if m and rr:
            ours = n / 1e6 / m["publish"] + n / 1e6 / m["fetch"]
            cells.append(f"{ours / (rr['put'] + rr['rtt'] - empty):.2f}×")
        else:
            cells.append("–")
        print("| " + " | ".join(cells) + " |")
    if ray_out:
        e = ray_out["_empty"]
        print()
        print(f"Ray details: empty task on node B, round trip best {fmt_time(e[0])}, median {fmt_time(e[len(e) // 2])} "
              f"({len(e)} calls); object store {ray_out['_store'] / GiB:.0f} GiB per node; load average when the cluster "
              f"was up, before the first put: {' '.join(f'{x:.2f}' for x in ray_out['_load'])}.")
        print()
        print("| size | objstore publish + fetch | Ray put | Ray task round trip | minus empty task | "
              "Ray in-task get | in-task get MB/s | Ray 2nd get (node B) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for mib in sizes:
            n = mib * MiB
            m, rr = mine.get(mib), ray_out.get(mib)
            if not rr:
                continue
            ours = fmt_time(n / 1e6 / m["publish"] + n / 1e6 / m["fetch"]) if m else "–"
            print(f"| {label(mib)} | {ours} | {fmt_time(rr['put'])} | {fmt_time(rr['rtt'])} | "
                  f"{fmt_time(rr['rtt'] - empty)} | {fmt_time(rr['get'])} | {mbps(n, rr['get']):.0f} MB/s | "
                  f"{fmt_time(rr['second'])} |")
    if mine_why:
        print(f"\nobjstore figures missing: {mine_why}")
    if ray_why:
        print(f"\nRay skipped: {ray_why}")


# ----------------------------------------------------------------------------- command line


def parse_sizes(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x]


def inner(args):
    sizes = parse_sizes(args.sizes) if args.sizes else ([1, 16] if args.smoke else [1, 16, 256, 1024])
    rounds = args.rounds or (1 if args.smoke else 3)
    def version(module: str) -> str:
        try:
            return __import__(module).__version__
        except ImportError:
            return "not installed"

    print(f"numpy {version('numpy')}, Ray {version('ray') if args.no_ray_reason is None else 'not used'}, Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"sizes {', '.join(label(s) for s in sizes)}; {rounds} round(s)", flush=True)
    mine, mine_why = objstore_figures(sizes, rounds)
    ray_out, why = None, args.no_ray_reason
    if why is None:
        print(f"\nRay: a two-node ray.cluster_utils.Cluster on this machine "
              f"(load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)
        try:
            ray_out = bench_ray(sizes, rounds, 5 if args.smoke else 20)
        except Exception as e:  # Ray failed to start or run: say so, keep ours
            why = f"Ray failed: {type(e).__name__}: {e}"
    report(sizes, rounds, mine, mine_why, ray_out, why)
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main():
    ap = argparse.ArgumentParser(description="objstore's remote tier beside Ray's transfer between two nodes")
    ap.add_argument("--venv", default=os.path.join(REPO, "build", "bench-venv"))
    ap.add_argument("--smoke", action="store_true", help="sizes 1 and 16 MiB, one round")
    ap.add_argument("--no-ray", action="store_true", help="objstore figures only (no virtualenv)")
    ap.add_argument("--sizes", default=None, help="MiB, comma-separated (default 1,16,256,1024)")
    ap.add_argument("--rounds", type=int, default=None, help="rounds per size, best kept (default 3)")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-ray-reason", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        inner(args)
        return
    py, why = sys.executable, "--no-ray given"
    if not args.no_ray:
        from bench_vs_ray import ensure_venv  # the Python binding's set-up, reused

        try:
            py, why = ensure_venv(args.venv, False)
        except Exception as e:  # no wheel, no venv: the objstore figures alone
            py, why = sys.executable, f"could not make the virtualenv {args.venv}: {type(e).__name__}: {e}"
    if why:
        print(f"Ray will be skipped: {why}", flush=True)
    cmd = [py, os.path.abspath(__file__), "--inner"]
    for flag, v in (("--sizes", args.sizes), ("--rounds", args.rounds)):
        if v is not None:
            cmd += [flag, str(v)]
    if args.smoke:
        cmd.append("--smoke")
    if why:
        cmd += ["--no-ray-reason", why]
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    sys.exit(subprocess.run(cmd, env=env).returncode)


if __name__ == "__main__":
    main()
