"""objstore vs Ray's object store, from Python, in one run.

    python bindings/python/bench/bench_vs_ray.py [--venv DIR] [--quick]

Makes a virtualenv (default build/bench-venv in the repository) with this
repository's objstore wheel (built by bindings/python/ci/test.sh), numpy
and torch (the test dependencies make test-python keeps) and Ray (pip), and
runs the measurements in that venv, both stores in the same process:

- put and get of a 1 KiB bytes object;
- put and get of a 1 MiB and a 64 MiB float32 numpy array;
- one get of a list of 1000 refs (1 KiB numpy arrays each).

A get takes the value and drops it (for objstore that is a pin and its
release; both return numpy arrays as zero-copy views). Each figure is the
median over several rounds of the time per operation. The ratio is Ray's
time over objstore's (above 1: objstore is faster). memcpy of the same
bytes into warm memory is printed as a floor for the large puts.

If Ray cannot be installed (or started), the objstore figures are printed
alone with a message saying why. Timings are informative: nothing here
asserts on them.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(PKG))

KiB, MiB = 1 << 10, 1 << 20


# --------------------------------------------------------------- outer: venv


def ensure_venv(venv: str, skip_ray: bool) -> tuple[str, str | None]:
    """Create the venv and install into it; return (python, why_no_ray).

    objstore comes from the wheel that `make test-python` builds
    (bindings/python/ci/test.sh --wheel-only builds just that); numpy and
    torch from the test dependencies' venv it keeps (build/python/deps-venv),
    which this venv sees through a .pth file; Ray is installed here."""
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        print(f"creating virtualenv {venv}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    pip = [py, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    print("building the objstore wheel (bindings/python/ci/test.sh --wheel-only)", flush=True)
    out = subprocess.run(
        ["bash", os.path.join(PKG, "ci", "test.sh"), "--wheel-only"], check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    wheel = out.strip().splitlines()[-1]
    subprocess.run(pip + ["--force-reinstall", "--no-deps", wheel, "cloudpickle"], check=True)
    deps = os.path.join(REPO, "build", "python", "deps-venv")
    if os.path.isdir(deps):
        site = lambda p: subprocess.run(  # noqa: E731
            [p, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], check=True, stdout=subprocess.PIPE, text=True
        ).stdout.strip()
        with open(os.path.join(site(py), "objstore-test-deps.pth"), "w") as f:
            f.write(site(os.path.join(deps, "bin", "python")) + "\n")
    else:
        subprocess.run(pip + ["numpy"], check=True)
    if skip_ray:
        return py, "--no-ray given"
    have = subprocess.run([py, "-c", "import ray"], capture_output=True).returncode == 0
    if not have:
        print("installing ray with pip (a few minutes the first time)", flush=True)
        r = subprocess.run(pip + ["ray"], capture_output=True, text=True)
        if r.returncode != 0:
            tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
            return py, "pip could not install ray: " + " / ".join(tail)
    return py, None


# --------------------------------------------------------------- inner: measure


def timed(fn, n: int, rounds: int) -> float:
    """Median seconds per call of fn() over `rounds` rounds of n calls."""
    per = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        per.append((time.perf_counter() - t0) / n)
    return statistics.median(per)


def cases(quick: bool):
    import numpy as np

    scale = 4 if quick else 1
    rng = np.random.default_rng(0)
    return [
        # (name, value maker, puts per round, gets per round)
        ("1 KiB bytes", lambda: rng.bytes(KiB), 2000 // scale, 5000 // scale),
        ("1 MiB ndarray", lambda: rng.random(MiB // 4, dtype=np.float32), 200 // scale, 5000 // scale),
        ("64 MiB ndarray", lambda: rng.random(64 * MiB // 4, dtype=np.float32), 10 // min(scale, 2), 2000 // scale),
    ]


def bench_objstore(quick, rounds):
    import numpy as np

    import objstore

    name = f"objstore-bench-{os.getpid()}"
    out = {}
    with objstore.Store(name, capacity=2 << 30) as s:
        try:
            for label, make, nput, nget in cases(quick):
                v = make()
                refs = []

                def put():
                    refs.append(s.put(v))

                def drain():
                    s.delete(refs)
                    refs.clear()

                # Keep the store from filling: delete between rounds, untimed.
                per = []
                for _ in range(rounds):
                    t0 = time.perf_counter()
                    for _ in range(nput):
                        put()
                    per.append((time.perf_counter() - t0) / nput)
                    drain()
                out[f"put {label}"] = statistics.median(per)
                ref = s.put(v)
                out[f"get {label}"] = timed(lambda: s.get(ref), nget, rounds)
                s.delete(ref)
            small = [s.put(np.zeros(KiB // 4, np.float32)) for _ in range(1000)]
            out["get list of 1000 refs"] = timed(lambda: s.get(small), 20, rounds)
        finally:
            objstore.destroy(name, missing_ok=True)
    return out


def bench_ray(quick, rounds):
    import numpy as np
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(
        num_cpus=1,
        object_store_memory=4 << 30,  # room enough that Ray never spills here
        include_dashboard=False,
        log_to_driver=False,
        logging_level="ERROR",
    )
    out = {}
    try:
        for label, make, nput, nget in cases(quick):
            v = make()
            refs = []
            per = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                for _ in range(nput):
                    refs.append(ray.put(v))
                per.append((time.perf_counter() - t0) / nput)
                refs.clear()  # Ray frees objects whose refs are gone
            out[f"put {label}"] = statistics.median(per)
            ref = ray.put(v)
            out[f"get {label}"] = timed(lambda: ray.get(ref), nget, rounds)
            del ref
        small = [ray.put(np.zeros(KiB // 4, np.float32)) for _ in range(1000)]
        out["get list of 1000 refs"] = timed(lambda: ray.get(small), 20, rounds)
        out["_version"] = ray.__version__
    finally:
        ray.shutdown()
    return out


def bench_memcpy(rounds):
    import numpy as np

    out = {}
    for label, size in (("1 MiB", MiB), ("64 MiB", 64 * MiB)):
        src = np.ones(size, np.uint8)
        dst = np.empty_like(src)
        np.copyto(dst, src)  # warm
        out[label] = timed(lambda: np.copyto(dst, src), 2000 if size == MiB else 20, rounds)
    return out


def fmt_time(t: float) -> str:
    if t < 1e-3:
        return f"{t * 1e6:.2f} µs"
    return f"{t * 1e3:.2f} ms"


def inner(args):
    import numpy as np

    import objstore

    rounds = 3 if args.quick else 5
    print(f"objstore {objstore.__version__} (library {objstore.library_version()}), numpy {np.__version__}, "
          f"Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs", flush=True)
    mine = bench_objstore(args.quick, rounds)
    memcpy = bench_memcpy(rounds)
    ray_out, why = None, args.no_ray_reason
    if why is None:
        try:
            ray_out = bench_ray(args.quick, rounds)
        except Exception as e:  # Ray failed to start or run: say so, keep ours
            why = f"Ray failed: {type(e).__name__}: {e}"
    rows = list(mine)
    head = "| operation | objstore | Ray" + (f" {ray_out['_version']}" if ray_out else "") + " | Ray / objstore |"
    lines = [head, "|---|---:|---:|---:|"]
    for r in rows:
        if ray_out:
            lines.append(f"| {r} | {fmt_time(mine[r])} | {fmt_time(ray_out[r])} | {ray_out[r] / mine[r]:.1f}× |")
        else:
            lines.append(f"| {r} | {fmt_time(mine[r])} | skipped | – |")
    print()
    print("\n".join(lines))
    print()
    print(f"memcpy into warm memory (floor for a put): 1 MiB {fmt_time(memcpy['1 MiB'])}, "
          f"64 MiB {fmt_time(memcpy['64 MiB'])}")
    if why:
        print(f"\nRay skipped: {why}")


def launch(script, description, inner_main, short_flag, short_help):
    """The command line shared by the Ray comparison scripts: parse the
    options; outside the virtualenv, make it (with Ray when it installs) and
    run `script --inner` in it; inside, run `inner_main(args)`."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--venv", default=os.path.join(REPO, "build", "bench-venv"))
    ap.add_argument(short_flag, action="store_true", help=short_help)
    ap.add_argument("--no-ray", action="store_true", help="objstore figures only")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-ray-reason", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner:
        inner_main(args)
        return
    py, why = ensure_venv(args.venv, args.no_ray)
    short = getattr(args, short_flag.lstrip("-").replace("-", "_"))
    cmd = [py, os.path.abspath(script), "--inner"] + ([short_flag] if short else [])
    if why:
        print(f"Ray will be skipped: {why}", flush=True)
        cmd += ["--no-ray-reason", why]
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    sys.exit(subprocess.run(cmd, env=env).returncode)


def main():
    launch(__file__, "objstore vs Ray's object store, from Python", inner, "--quick", "fewer iterations")


if __name__ == "__main__":
    main()
