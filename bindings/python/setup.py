"""Build of the objstore Python package.

`pip install ./bindings/python` (from the repository) runs this: it builds
the Rust crate with `cargo build --release`, then puts into the package

- libobjstore.so, the library just built;
- objstore.h, the header that build generated (a copy, so that an installed
  package is self-contained);
- _ffi.py, cffi's compiled form of that header's declarations (see
  src/objstore/_cdef.py: no declaration is written by hand);
- _version.py, the crate's version.

The wheel is tagged py3-none-<platform>: it holds a native library but no
Python extension, so one wheel serves every Python 3 on the platform.

Where the crate is: $OBJSTORE_SOURCE_DIR if set, else _crate/ beside this
file (an sdist carries a copy there), else the repository two levels up.
$CARGO picks the cargo binary (default: cargo on PATH, then ~/.cargo/bin).
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel

HERE = os.path.dirname(os.path.abspath(__file__))
# What an sdist copies of the crate: enough to build the library and header
# (tests/ and benches/ too, since Cargo.toml may name targets in them, and
# cargo refuses a manifest whose named targets are missing).
CRATE_FILES = ["Cargo.toml", "Cargo.lock", "build.rs", "cbindgen.toml", "src", "include", "tests", "benches"]


def crate_dir():
    env = os.environ.get("OBJSTORE_SOURCE_DIR")
    candidates = [env] if env else [os.path.join(HERE, "_crate"), os.path.join(HERE, "..", "..")]
    for c in candidates:
        if os.path.isfile(os.path.join(c, "Cargo.toml")) and os.path.isfile(os.path.join(c, "include", "objstore.h")):
            return os.path.abspath(c)
    sys.exit(
        "objstore: cannot find the Rust crate (Cargo.toml and include/objstore.h) in "
        + " or ".join(candidates)
        + ". Build from the repository (pip install ./bindings/python) or set OBJSTORE_SOURCE_DIR."
    )


def crate_version(crate):
    text = open(os.path.join(crate, "Cargo.toml"), encoding="utf-8").read()
    m = re.search(r'^\[package\][^\[]*?^version\s*=\s*"([^"]+)"', text, re.M | re.S)
    if not m:
        sys.exit("objstore: no [package] version in Cargo.toml")
    return m.group(1)


def find_cargo():
    cargo = os.environ.get("CARGO") or shutil.which("cargo")
    if not cargo:
        home = os.path.expanduser("~/.cargo/bin/cargo")
        cargo = home if os.access(home, os.X_OK) else None
    if not cargo:
        sys.exit("objstore: cargo not found. Install Rust (rustup), or set CARGO to the cargo binary.")
    return cargo


def build_library(crate):
    """Run cargo; return the path of the libobjstore.so it produced."""
    cmd = [
        find_cargo(),
        "build",
        "--release",
        "--lib",
        "--manifest-path",
        os.path.join(crate, "Cargo.toml"),
        "--message-format=json-render-diagnostics",
    ]
    print("objstore: " + " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        sys.exit(f"objstore: cargo build failed (exit {proc.returncode})")
    for line in proc.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and "cdylib" in msg.get("target", {}).get("kind", []):
            for f in msg.get("filenames", []):
                if os.path.basename(f) == "libobjstore.so":
                    return f
    sys.exit("objstore: cargo did not report a libobjstore.so")


def load_cdef_module():
    # The package is not importable yet (its _ffi is what we are making).
    path = os.path.join(HERE, "src", "objstore", "_cdef.py")
    spec = importlib.util.spec_from_file_location("_objstore_cdef", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def generate(pkg_dir):
    crate = crate_dir()
    so = build_library(crate)
    os.makedirs(pkg_dir, exist_ok=True)
    shutil.copyfile(so, os.path.join(pkg_dir, "libobjstore.so"))
    os.chmod(os.path.join(pkg_dir, "libobjstore.so"), 0o755)
    # Read the header only after the build, which regenerates it.
    header = os.path.join(crate, "include", "objstore.h")
    shutil.copyfile(header, os.path.join(pkg_dir, "objstore.h"))
    import cffi

    ffi = cffi.FFI()
    with open(header, encoding="utf-8") as f:
        ffi.cdef(load_cdef_module().header_to_cdef(f.read()))
    ffi.set_source("objstore._ffi", None)  # out-of-line ABI mode: a pure-Python module
    ffi.emit_python_code(os.path.join(pkg_dir, "_ffi.py"))
    with open(os.path.join(pkg_dir, "_version.py"), "w", encoding="utf-8") as f:
        f.write(f'"""Generated by setup.py from Cargo.toml."""\n__version__ = "{crate_version(crate)}"\n')


class BuildPy(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            generate(os.path.join(HERE, "src", "objstore"))
        else:
            generate(os.path.join(self.build_lib, "objstore"))


class BinaryDistribution(Distribution):
    def has_ext_modules(self):
        return True  # it carries a native library: a platform wheel, platlib


class BdistWheel(bdist_wheel):
    def get_tag(self):
        _, _, plat = super().get_tag()
        return "py3", "none", plat


class Sdist(sdist):
    def make_release_tree(self, base_dir, files):
        super().make_release_tree(base_dir, files)
        crate = crate_dir()
        dest = os.path.join(base_dir, "_crate")
        for name in CRATE_FILES:
            src = os.path.join(crate, name)
            if os.path.isdir(src):
                shutil.copytree(src, os.path.join(dest, name))
            elif os.path.isfile(src):
                os.makedirs(dest, exist_ok=True)
                shutil.copyfile(src, os.path.join(dest, name))


setup(
    version=crate_version(crate_dir()),
    distclass=BinaryDistribution,
    cmdclass={"build_py": BuildPy, "bdist_wheel": BdistWheel, "sdist": Sdist},
)
