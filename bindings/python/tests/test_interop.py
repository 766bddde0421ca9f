"""Tensors across languages: a C, a C++ and a Go program each read a tensor
Python wrote, by the documented format alone, and write one back that Python
reads as a tensor (tests/interop: tensor_interop.c with objstore.h,
tensor_interop.cpp with the C++ wrapper, go/ with the Go binding). The three
take the same arguments and print the same lines, so every test runs on each.
Needs the C library built in the repository (make build, or cargo build
--release --lib as ci/test.sh does), a C and a C++ compiler, go and
pkg-config."""

import os
import re
import shutil
import struct
import subprocess

import numpy as np
import pytest

import objstore
from conftest import REPO

LIB = os.path.join(REPO, "target", "release")
SRC = os.path.join(os.path.dirname(__file__), "interop")


@pytest.fixture(scope="module")
def libdir(tmp_path_factory):
    """A copy of the library under its SONAME, for the programs' rpath."""
    if not os.path.exists(os.path.join(LIB, "libobjstore.so")):
        pytest.skip("the C library is not built (make build)")
    d = tmp_path_factory.mktemp("interop-lib")
    # The library's SONAME is libobjstore.so.0 (make build links it; cargo alone does not).
    shutil.copyfile(os.path.join(LIB, "libobjstore.so"), d / "libobjstore.so.0")
    os.symlink("libobjstore.so.0", d / "libobjstore.so")
    return d


def build_c(out, lib):
    if shutil.which("cc") is None:
        pytest.skip("there is no C compiler (cc)")
    subprocess.run(
        ["cc", "-std=c11", "-O1", "-Wall", "-Werror", f"-I{REPO}/include", os.path.join(SRC, "tensor_interop.c"),
         f"-L{lib}", "-lobjstore", f"-Wl,-rpath,{lib}", "-o", str(out)],
        check=True,
    )


def build_cpp(out, lib):
    cxx = shutil.which("c++") or shutil.which("g++")
    if cxx is None:
        pytest.skip("there is no C++ compiler (c++ or g++)")
    subprocess.run(
        [cxx, "-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", f"-I{REPO}/include",
         f"-I{REPO}/bindings/cpp/include", os.path.join(SRC, "tensor_interop.cpp"),
         f"-L{lib}", "-lobjstore", f"-Wl,-rpath,{lib}", "-o", str(out)],
        check=True,
    )


def build_go(out, lib):
    # The binding finds the library with pkg-config: an objstore.pc made here
    # from pkg/objstore.pc.in, as make build makes its uninstalled one, but
    # pointing at the copy (cargo alone, as ci/test.sh may build the library,
    # writes no .pc); the rpath finds the copy at run time. The module needs
    # nothing but the binding, which its go.mod replaces with this tree's,
    # so no module is downloaded (GOPROXY=off).
    if shutil.which("go") is None or shutil.which("pkg-config") is None:
        pytest.skip("there is no go or no pkg-config")
    with open(os.path.join(REPO, "Cargo.toml")) as f:
        version = re.search(r'^version = "(.*)"', f.read(), re.M).group(1)
    with open(os.path.join(REPO, "pkg", "objstore.pc.in")) as f:
        pc = f.read()
    for key, value in {"PREFIX": REPO, "LIBDIR": lib, "INCLUDEDIR": f"{REPO}/include", "VERSION": version}.items():
        pc = pc.replace(f"@{key}@", str(value))
    pcdir = out.parent / "pkgconfig"
    pcdir.mkdir()
    (pcdir / "objstore.pc").write_text(pc)
    env = dict(
        os.environ,
        PKG_CONFIG_PATH=str(pcdir),
        CGO_ENABLED="1",
        CGO_LDFLAGS=f"-Wl,-rpath,{lib}",
        GOTOOLCHAIN="local",
        GOFLAGS="-buildvcs=false",
        GOPROXY="off",
        GOWORK="off",
    )
    subprocess.run(["go", "build", "-o", str(out), "."], cwd=os.path.join(SRC, "go"), env=env, check=True)


BUILD = {"c": build_c, "cpp": build_cpp, "go": build_go}


@pytest.fixture(scope="module", params=list(BUILD))
def program(request, libdir, tmp_path_factory):
    """The program of one language, built once per module."""
    exe = tmp_path_factory.mktemp(f"interop-{request.param}") / "tensor_interop"
    BUILD[request.param](exe, libdir)
    return str(exe)


def call(program, store, ref, out):
    return subprocess.run([program, store.name, ref.hex(), out.hex()], capture_output=True, text=True)


def run(program, store, ref, out):
    r = call(program, store, ref, out)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_reads_numpy_and_writes_a_tensor(program, store):
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = objstore.ObjectID(os.urandom(20))
    assert run(program, store, store.put(arr), out) == "hint 0 shape 3x4 sum 66.0"
    torch = pytest.importorskip("torch")
    got = store.get(out)
    assert type(got) is torch.Tensor and got.shape == (3, 4)
    assert torch.equal(got, torch.from_numpy(arr * 2))


def test_reads_a_torch_tensor(program, store):
    torch = pytest.importorskip("torch")
    t = torch.ones(2, 5, 7)
    out = objstore.ObjectID(os.urandom(20))
    assert run(program, store, store.put(t), out) == "hint 1 shape 2x5x7 sum 70.0"
    assert torch.equal(store.get(out), t * 2)


def test_an_out_id_that_exists_fails(program, store):
    taken = store.put(b"taken", id=objstore.ObjectID(os.urandom(20)))
    r = call(program, store, store.put(np.ones(4, dtype=np.float32)), taken)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout.strip() == "hint 0 shape 4 sum 4.0"  # read, then refused the write
    assert r.stderr.startswith("tensor_interop: create: already exists"), r.stderr
    assert store.get(taken) == b"taken"


@pytest.mark.parametrize(
    "value, message",
    [
        ("a str, pickled", "not an ndarray object of format version 1"),
        (b"raw bytes", "not an ndarray object of format version 1"),
        (np.ones(3), "not a C-order float32 array"),  # float64
        (np.ones((2, 3), dtype=np.float32, order="F"), "not a C-order float32 array"),
    ],
    ids=["str", "bytes", "float64", "fortran-order"],
)
def test_a_value_that_is_not_a_float32_tensor_fails(program, store, value, message):
    out = objstore.ObjectID(os.urandom(20))
    r = call(program, store, store.put(value), out)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stderr == f"tensor_interop: {message}\n"
    assert out not in store


def test_a_shape_whose_element_count_wraps_fails(program, store):
    # 3 x 0xAAAAAAAAAAAAAAAB is 1 modulo 2**64: a program that multiplies
    # the shape unchecked finds 1 element in the data's 4 bytes.
    with store.get_buffer(store.put(np.ones((1, 1), dtype=np.float32))) as buf:
        meta = buf.meta
    assert meta[-17] == 2  # ndim, then the shape
    wraps = meta[:-16] + struct.pack("<QQ", 3, 0xAAAAAAAAAAAAAAAB)
    assert (3 * 0xAAAAAAAAAAAAAAAB) % 2**64 == 1
    with store.create(4, meta=wraps) as p:
        p.data[:] = struct.pack("<f", 1.0)
    out = objstore.ObjectID(os.urandom(20))
    r = call(program, store, p.id, out)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stdout == f"hint 0 shape 3x{0xAAAAAAAAAAAAAAAB}", r.stdout
    assert r.stderr == "tensor_interop: the shape's element count overflows\n"
    assert out not in store


def test_usage_and_a_bad_id(program, store):
    r = subprocess.run([program, store.name], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("usage: tensor_interop STORE IN_HEX OUT_HEX")
    r = subprocess.run([program, store.name, "00" * 20, "xyz"], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.startswith("tensor_interop: id: invalid argument"), r.stderr
