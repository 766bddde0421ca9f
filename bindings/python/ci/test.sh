#!/usr/bin/env bash
# make test-python: build the wheel, check it, install it into a fresh
# virtualenv and test it there.
#
#   1. build/python/tools-venv: maturin, auditwheel, abi3audit, ziglang
#      (kept; remade when ci/requirements-build.txt changes);
#   2. rustfmt and clippy -D warnings on the native module's crate; then
#      maturin build --release --zig --compatibility manylinux_2_28: one
#      abi3 wheel for every CPython >= 3.9 (cargo target dir
#      build/python/target); auditwheel show must call it manylinux_2_28,
#      and abi3audit must find no symbol outside the stable ABI of 3.9;
#   3. a fresh venv (build/py-venv) gets the wheel with pip, with no Rust on
#      PATH, and imports it without numpy; every other CPython 3.9 ... 3.13
#      found on the machine (pyenv's versions, pythonX.Y on PATH) installs
#      the same wheel and uses it. No registry this project may use ships
#      CPython interpreters (Debian 12's apt has 3.11 only, PyPI none), so
#      this step runs on the versions the machine has: it names the
#      versions it ran on and those it could not find, again at the end;
#   4. the test dependencies (ci/requirements-test.txt: numpy, pytest, mypy,
#      pandas, pyarrow, torch) live in build/python/deps-venv, kept between
#      runs and made again when that file changes; the fresh venv sees them
#      through a .pth file, so only the wheel is installed anew each run;
#   5. pytest (its interop test builds a C, a C++ and a Go program against
#      the repository's C library, target/release, built here with cargo if
#      make build has not), with OBJSTORE_TEST_NO_SKIP=1: a skipped test fails the run;
#      mypy --strict on the package and on code using it runs there
#      (tests/test_typing.py, its cache in build/python/mypy-cache); then
#      the examples (spawn and fork): the tensor walk-through (torch
#      required) and references through a process pool.
#
# `test.sh --wheel-only` builds and checks the wheel (step 2 without rustfmt
# and clippy), then stops and prints the wheel's path last (.ci/fuzz.sh
# and the benchmarks use it).
#
# Environment: PYTHON (default python3), CARGO_BUILD_JOBS (default: every
# core under CI=true, else 1, as the machine is shared),
# OBJSTORE_PY_SKIP_OTHER_PYTHONS=1 to skip step 3's other interpreters
# (said so at the end).
set -euo pipefail
cd "$(dirname "$0")/../../.."
REPO=$PWD
PYTHON=${PYTHON:-python3}
OUT=$REPO/build/python
TOOLS=$OUT/tools-venv
DEPS=$OUT/deps-venv
VENV=$REPO/build/py-venv
WHEELS=$OUT/wheels
CI=$REPO/bindings/python/ci
export CARGO_TARGET_DIR=$OUT/target
if [ "${CI:-}" = true ]; then
    export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-$(nproc)}
else
    export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
fi
mkdir -p "$OUT"

step() { printf '\n== %s (%ds)\n' "$1" "$SECONDS"; }

# A venv with the packages of a requirements file, made again when the file
# changes (its hash is kept in the venv).
venv_with() {
    local dir=$1 req=$2 sum
    sum=$(sha256sum "$req" | cut -c1-16)
    if [ "$(cat "$dir/.requirements" 2>/dev/null)" != "$sum" ]; then
        rm -rf "$dir"
        "$PYTHON" -m venv "$dir"
        "$dir/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
        echo "$sum" >"$dir/.requirements"
    fi
}

step "build tools ($TOOLS)"
venv_with "$TOOLS" "$CI/requirements-build.txt"

if [ "${1:-}" != --wheel-only ]; then
    step "rustfmt, clippy (the native module's crate)"
    (cd bindings/python && cargo fmt --check && cargo clippy --release --quiet -- -D warnings)
fi

step "wheel"
rm -rf "$WHEELS"
# maturin finds zig as the ziglang module of the python on PATH: the tools venv's.
(cd bindings/python && PATH="$TOOLS/bin:$PATH" "$TOOLS/bin/maturin" build --release --zig --compatibility manylinux_2_28 -o "$WHEELS" 2>&1 |
    grep -vE '^\s+(Compiling|Checking)' || true)
shopt -s nullglob
wheels=("$WHEELS"/objstore_shm-*-cp39-abi3-manylinux_2_28_x86_64.whl)
[ ${#wheels[@]} -eq 1 ] || { echo "expected one abi3 manylinux_2_28 wheel in $WHEELS" >&2; ls -l "$WHEELS" >&2; exit 1; }
WHEEL=${wheels[0]}
ls -l "$WHEEL"
"$TOOLS/bin/auditwheel" show "$WHEEL" | tee "$OUT/auditwheel.txt"
grep -q 'consistent with the following platform tag: *"manylinux_2_28_x86_64"' <(tr -s ' \n' ' ' <"$OUT/auditwheel.txt") ||
    { echo "auditwheel does not accept the wheel as manylinux_2_28" >&2; exit 1; }
# Every CPython symbol the extension uses is in the stable ABI (what the
# cp39-abi3 tag promises to 3.10, 3.11, ... whether or not this machine has
# them to try), and in that of 3.9 but for the two buffer functions the
# native module declares itself (rust/exporter.rs): PyObject_GetBuffer and
# PyBuffer_Release joined the stable ABI in 3.11, but every CPython 3
# exports them with the same signature and Py_buffer layout, and the step
# below runs the wheel on 3.9 and 3.10 where the machine has them. Any other
# symbol fails the run.
"$TOOLS/bin/abi3audit" --report "$WHEEL" >"$OUT/abi3audit.json" 2>"$OUT/abi3audit.log" || true
"$TOOLS/bin/python" - "$OUT/abi3audit.json" <<'PY'
import json, sys
known = {"PyObject_GetBuffer", "PyBuffer_Release"}
report = json.load(open(sys.argv[1]))
bad = []
for spec in report["specs"].values():
    for so in spec["wheel"]:
        r = so["result"]
        if not r["is_abi3"] or r["non_abi3_symbols"]:
            bad.append(f"{so['name']}: not abi3, or symbols outside the stable ABI: {r['non_abi3_symbols']}")
        later = set(r["future_abi3_objects"]) - known
        if later:
            bad.append(f"{so['name']}: symbols newer than the stable ABI of {r['baseline']}: {sorted(later)}")
if bad:
    sys.exit("abi3audit: " + "; ".join(bad))
print("abi3audit: only stable-ABI symbols, all in 3.9's but PyObject_GetBuffer and PyBuffer_Release (3.11's, exported by every CPython 3)")
PY

if [ "${1:-}" = --wheel-only ]; then
    echo "$WHEEL"
    exit 0
fi

step "fresh venv ($VENV), pip install of the wheel with no Rust on PATH"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
env -u CARGO -u RUSTUP_HOME -u CARGO_HOME PATH=/usr/bin:/bin \
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$WHEEL"
"$VENV/bin/python" - <<'PY'
import sys
import objstore
assert "numpy" not in sys.modules, "objstore imports numpy"
name = "objstore-wheel-smoke"
objstore.destroy(name, missing_ok=True)
with objstore.Store.create(name, capacity=1 << 20) as s:
    ref = s.put(b"no numpy here")
    assert s.get(ref) == b"no numpy here" and s.get(s.put({"k": [1, 2]})) == {"k": [1, 2]}
    assert s.get(s.put(lambda x: x * 2))(21) == 42
objstore.destroy(name)
assert "numpy" not in sys.modules
print(f"objstore {objstore.__version__} from the wheel: ok without numpy, Python {sys.version.split()[0]}")
PY

# The same wheel on every CPython 3.9 ... 3.13 this machine has.
main_version=$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
tried=("$main_version") missing=()
if [ "${OBJSTORE_PY_SKIP_OTHER_PYTHONS:-0}" = 1 ]; then
    others_note="other CPythons: not tried (OBJSTORE_PY_SKIP_OTHER_PYTHONS=1); the wheel ran on $main_version only"
else
    step "the same wheel on the other CPythons of this machine"
    for v in 3.9 3.10 3.11 3.12 3.13; do
        [ "$v" = "$main_version" ] && continue
        py=""
        if command -v pyenv >/dev/null; then
            py=$(ls -d "$(pyenv root)"/versions/"$v".*/bin/python"$v" 2>/dev/null | tail -1 || true)
        fi
        if [ -z "$py" ]; then
            py=$(command -v "python$v" || true)
            case "$py" in */shims/*) py="" ;; esac
        fi
        [ -n "$py" ] && [ -x "$py" ] || { missing+=("$v"); echo "CPython $v: not on this machine"; continue; }
        d=$OUT/py$v-venv
        rm -rf "$d"
        # A venv without pip of its own (ensurepip is most of a venv's making);
        # the tools venv's pip installs into it.
        "$py" -m venv --without-pip "$d"
        "$TOOLS/bin/python" -m pip --python "$d/bin/python" install -q --disable-pip-version-check "$WHEEL"
        "$d/bin/python" - <<'PY'
import os, sys, objstore
name = f"objstore-wheel-smoke-{os.getpid()}"
with objstore.Store.create(name, capacity=1 << 20) as s:
    ref = s.put({"v": sys.version_info[:2], "f": lambda: "ok"})
    got = s.get(ref)
    assert got["f"]() == "ok" and tuple(got["v"]) == sys.version_info[:2]
    with s.get_buffer(s.put(b"abc")) as buf:
        assert bytes(buf.data) == b"abc" and buf.data.readonly
objstore.destroy(name)
print(f"CPython {sys.version.split()[0]}: the wheel works")
PY
        tried+=("$v")
    done
    others_note="the same wheel ran on CPython ${tried[*]}"
    if ((${#missing[@]})); then
        others_note+="; not on this machine, so not tried: ${missing[*]} (no registry CI may use ships CPython:"
        others_note+=" Debian 12's apt has 3.11 only, PyPI none; abi3audit checked the wheel against 3.9's stable ABI)"
    fi
fi
echo "$others_note"

step "test dependencies ($DEPS)"
venv_with "$DEPS" "$CI/requirements-test.txt"
site() { "$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
site "$DEPS" >"$(site "$VENV")/objstore-test-deps.pth"

step "the C library (the interop test's C, C++ and Go programs link it: target/release, as make build makes it)"
CARGO_TARGET_DIR=$REPO/target cargo build --release --lib --quiet --features remote

step "pytest"
(cd bindings/python && OBJSTORE_TEST_NO_SKIP=1 OBJSTORE_MYPY_CACHE=$OUT/mypy-cache "$VENV/bin/python" -m pytest -q -rs tests)

step "examples (spawn, fork): the tensor walk-through, references through a process pool"
"$VENV/bin/python" examples/python/tensors.py --start-method spawn --require-torch
"$VENV/bin/python" examples/python/tensors.py --start-method fork --require-torch
"$VENV/bin/python" examples/python/process_pool.py --start-method spawn
"$VENV/bin/python" examples/python/process_pool.py --start-method fork

step "done"
echo "$others_note"
