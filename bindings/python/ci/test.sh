#!/usr/bin/env bash
# make test-python: build the wheel, check it, install it into a fresh
# virtualenv and test it there.
#
#   1. build/python/tools-venv: maturin, auditwheel, ziglang (kept; remade
#      when ci/requirements-build.txt changes);
#   2. rustfmt and clippy -D warnings on the native module's crate; then
#      maturin build --release --zig --compatibility manylinux_2_28: one
#      abi3 wheel for every CPython >= 3.9 (cargo target dir
#      build/python/target); auditwheel show must call it manylinux_2_28;
#   3. a fresh venv (build/py-venv) gets the wheel with pip, with no Rust on
#      PATH, and imports it without numpy; other CPythons found on the
#      machine (pyenv's 3.9 ... 3.13) install the same wheel and use it;
#   4. the test dependencies (ci/requirements-test.txt: numpy, pytest, mypy,
#      pandas, pyarrow, torch) live in build/python/deps-venv, kept between
#      runs and made again when that file changes; the fresh venv sees them
#      through a .pth file, so only the wheel is installed anew each run;
#   5. pytest (its interop test builds a C program against the repository's
#      C library, built here with cargo), mypy --strict on the package, the
#      example (spawn and fork, with torch).
#
# `test.sh --wheel-only` stops after step 2 (benchmarks use it) and prints
# the wheel's path last.
#
# Environment: PYTHON (default python3), CARGO_BUILD_JOBS (default 1: the
# machine is shared), OBJSTORE_PY_SKIP_OTHER_PYTHONS=1 to skip step 3's
# other interpreters.
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
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
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

step "rustfmt, clippy (the native module's crate)"
(cd bindings/python && cargo fmt --check && cargo clippy --release --quiet -- -D warnings)

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

if [ "${OBJSTORE_PY_SKIP_OTHER_PYTHONS:-0}" != 1 ]; then
    step "the same wheel on other CPythons"
    for v in 3.9 3.10 3.12 3.13; do
        py=""
        if command -v pyenv >/dev/null; then
            py=$(ls -d "$(pyenv root)"/versions/"$v".*/bin/python"$v" 2>/dev/null | tail -1 || true)
        fi
        if [ -z "$py" ]; then
            py=$(command -v "python$v" || true)
            case "$py" in */shims/*) py="" ;; esac
        fi
        [ -n "$py" ] && [ -x "$py" ] || { echo "python$v: not found, skipped"; continue; }
        d=$OUT/py$v-venv
        rm -rf "$d"
        "$py" -m venv "$d"
        "$d/bin/python" -m pip install -q --disable-pip-version-check "$WHEEL"
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
print(f"Python {sys.version.split()[0]}: ok")
PY
    done
fi

step "test dependencies ($DEPS)"
venv_with "$DEPS" "$CI/requirements-test.txt"
site() { "$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
site "$DEPS" >"$(site "$VENV")/objstore-test-deps.pth"

step "the C library (the interop test's C program links it)"
cargo build --release --lib --quiet

step "pytest"
(cd bindings/python && OBJSTORE_MYPY_CACHE=$OUT/mypy-cache "$VENV/bin/python" -m pytest -q tests)

step "mypy --strict"
(cd bindings/python/tests && "$VENV/bin/python" -m mypy --strict --cache-dir "$OUT/mypy-cache" -p objstore &&
    "$VENV/bin/python" -m mypy --strict --cache-dir "$OUT/mypy-cache" typing_usage.py)

step "example (spawn, fork)"
"$VENV/bin/python" examples/python/tensors.py --start-method spawn
"$VENV/bin/python" examples/python/tensors.py --start-method fork

step "done"
