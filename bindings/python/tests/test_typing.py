"""The package is typed (py.typed, a stub for the native module): mypy
checks it, and code using it, in strict mode."""

import os
import subprocess
import sys

import pytest

import objstore

HERE = os.path.dirname(os.path.abspath(__file__))


def test_the_package_is_marked_typed():
    pkg = os.path.dirname(objstore.__file__)
    assert os.path.isfile(os.path.join(pkg, "py.typed"))
    assert os.path.isfile(os.path.join(pkg, "_objstore.pyi"))


def test_mypy_strict_on_the_package_and_a_user():
    pytest.importorskip("mypy")
    cache = os.environ.get("OBJSTORE_MYPY_CACHE", os.path.join(HERE, "..", "build", "mypy-cache"))
    # (The cache is mypy's incremental one: it rechecks what changed, the
    # installed package included, and reuses its analysis of numpy and
    # torch between runs.)
    cmd = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", cache]
    good = subprocess.run(cmd + ["-p", "objstore", "-m", "typing_usage"], capture_output=True, text=True, cwd=HERE)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = subprocess.run(cmd + [os.path.join(HERE, "typing_errors.py")], capture_output=True, text=True, cwd=HERE)
    assert bad.returncode == 1, bad.stdout
    # Each line marked "E:" in typing_errors.py is an error mypy reports.
    with open(os.path.join(HERE, "typing_errors.py"), encoding="utf-8") as f:
        marked = {i + 1 for i, line in enumerate(f) if "# E:" in line}
    reported = {int(line.split(":")[1]) for line in bad.stdout.splitlines() if "typing_errors.py:" in line and ": error:" in line}
    assert marked == reported, bad.stdout
