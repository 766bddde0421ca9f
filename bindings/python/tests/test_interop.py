"""Tensors across languages: a C program reads a tensor Python wrote, with
nothing but objstore.h and the documented format, and writes one back that
Python reads as a tensor (tests/interop/tensor_interop.c). Needs the C
library built in the repository (make build; make test builds it first)."""

import os
import shutil
import subprocess

import numpy as np
import pytest

import objstore
from conftest import REPO

LIB = os.path.join(REPO, "target", "release")


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    if not os.path.exists(os.path.join(LIB, "libobjstore.so")) or shutil.which("cc") is None:
        pytest.skip("the C library is not built (make build) or there is no C compiler")
    d = tmp_path_factory.mktemp("interop")
    exe = d / "tensor_interop"
    # The library's SONAME is libobjstore.so.0 (make build links it; cargo alone does not).
    shutil.copyfile(os.path.join(LIB, "libobjstore.so"), d / "libobjstore.so.0")
    os.symlink("libobjstore.so.0", d / "libobjstore.so")
    src = os.path.join(os.path.dirname(__file__), "interop", "tensor_interop.c")
    subprocess.run(
        ["cc", "-std=c11", "-O1", "-Wall", "-Werror", f"-I{REPO}/include", src, f"-L{d}", "-lobjstore",
         f"-Wl,-rpath,{d}", "-o", str(exe)],
        check=True,
    )
    return str(exe)


def run(program, store, ref, out):
    r = subprocess.run([program, store.name, ref.hex(), out.hex()], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_c_reads_numpy_and_writes_a_tensor(program, store):
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    out = objstore.ObjectID(os.urandom(20))
    assert run(program, store, store.put(arr), out) == "hint 0 shape 3x4 sum 66.0"
    torch = pytest.importorskip("torch")
    got = store.get(out)
    assert type(got) is torch.Tensor and got.shape == (3, 4)
    assert torch.equal(got, torch.from_numpy(arr * 2))


def test_c_reads_a_torch_tensor(program, store):
    torch = pytest.importorskip("torch")
    t = torch.ones(2, 5, 7)
    out = objstore.ObjectID(os.urandom(20))
    assert run(program, store, store.put(t), out) == "hint 1 shape 2x5x7 sum 70.0"
    assert torch.equal(store.get(out), t * 2)
