"""The binding's C declarations are the header's: the installed package
carries the repository's header, cffi's layout of every struct matches the C
compiler's, and every function and constant is there."""

import os
import re
import subprocess

import cffi

import pytest

import objstore
from objstore import _cdef, errors
from objstore._native import HEADER_PATH, LIBRARY_PATH, STATUS_NAMES, ffi, lib
from conftest import REPO


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def test_installed_header_is_the_repositorys():
    repo_header = os.path.join(REPO, "include", "objstore.h")
    assert os.path.isfile(repo_header), "tests run from the objstore repository"
    assert read(repo_header) == read(HEADER_PATH), "include/objstore.h changed: reinstall the package (pip install ./bindings/python)"


def test_struct_layouts_match_the_c_compiler(tmp_path):
    _, structs, _ = ffi.list_types()
    assert {"os_options", "os_object_id", "os_store_stats", "os_buffer", "os_object_info"} <= set(structs)
    header = read(HEADER_PATH)
    # Integer constants (a string one, OS_VERSION_STRING, has no place in cffi).
    macros = re.findall(r'^#define (OS_\w+) (?!")', header, re.M)
    lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "objstore.h"', "int main(void) {"]
    expected = []
    for s in sorted(structs):
        t = ffi.typeof(f"struct {s}")
        try:
            ffi.sizeof(t)
        except ffi.error:  # opaque (os_store); cffi aborts on its .fields
            continue
        lines.append(f'printf("%zu\\n", sizeof(struct {s}));')
        expected.append(ffi.sizeof(t))
        for name, field in t.fields:
            lines.append(f'printf("%zu %zu\\n", offsetof(struct {s}, {name}), sizeof(((struct {s} *)0)->{name}));')
            expected.append(f"{field.offset} {ffi.sizeof(field.type)}")
    for m in macros:
        lines.append(f'printf("%llu\\n", (unsigned long long)({m}));')
        expected.append(getattr(lib, m))
    lines += ["return 0;", "}"]
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "layout"
    subprocess.run(
        ["cc", "-std=c11", "-Wall", "-Werror", f"-I{os.path.dirname(HEADER_PATH)}", str(src), "-o", str(exe)], check=True
    )
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split("\n")
    assert out[: len(expected)] == [str(e) for e in expected]


def test_every_function_of_the_header_is_callable():
    header = read(HEADER_PATH)
    names = set(re.findall(r"\b(os_\w+)\s*\(", _cdef.header_to_cdef(header)))
    assert {"os_open", "os_put", "os_get_many", "os_release", "os_stats"} <= names
    for n in sorted(names):
        assert callable(getattr(lib, n)), n


def test_every_status_has_an_exception():
    for code in range(256):
        text = ffi.string(lib.os_status_str(code))
        if text != b"unknown status":
            assert code in STATUS_NAMES, f"status {code} ({text}) has no exception class in objstore.errors"
    assert set(errors.BY_STATUS_NAME) == {n for c, n in STATUS_NAMES.items() if c != lib.OS_OK}


def test_library_and_package_versions():
    assert objstore.library_version() == objstore.__version__
    cargo = read(os.path.join(REPO, "Cargo.toml"))
    assert f'version = "{objstore.__version__}"' in cargo
    assert os.path.isfile(LIBRARY_PATH)


# ---- the translator itself


def test_cdef_translation():
    text = """
#ifndef GUARD
#define GUARD
#include <stdint.h>
/* a comment with #define FAKE 1 inside */
#define A 20
#define B UINT64_MAX
#define C (A)
#define D 0x10u
#ifdef __cplusplus
extern "C" {
#endif // __cplusplus
typedef struct s { uint8_t b[A]; } s;
int f(const s *x);
#ifdef __cplusplus
}
#else
int only_in_c(void);
#endif
#endif
"""
    out = _cdef.header_to_cdef(text)
    assert "#define A 20" in out and f"#define B {2**64 - 1}" in out
    assert "#define C 20" in out and "#define D 16" in out
    assert "extern" not in out and "FAKE" not in out and "GUARD" not in out
    assert "int f(const s *x);" in out and "int only_in_c(void);" in out
    f = cffi.FFI()
    f.cdef(out)
    assert f.sizeof("s") == 20


def test_cdef_translation_drops_what_cffi_cannot_express():
    text = """
#define V 3
#define TEXT "te\\"xt"
#define MAKE(a, b) ((a) * 1000 + (b))
struct o { int size; };
int init(struct o *x);
static inline struct o make(void) {
    struct o x;
    if (init(&x)) { x.size = 0; }
    return x;
}
int after(void);
"""
    out = _cdef.header_to_cdef(text)
    assert "#define V 3" in out and "TEXT" not in out and "MAKE" not in out
    assert "inline" not in out and "make" not in out and "int after(void);" in out
    assert out.count("\n") == text.count("\n"), "line numbers survive"
    f = cffi.FFI()
    f.cdef(out)


@pytest.mark.parametrize(
    "bad",
    [
        "#if FOO > 1\n#endif\n",
        "#define NAME text\n",
        "#define NAME 1.5\n",
        "static inline int f(void);\n",
        "static inline int f(void) { return 0;\n",
        "#pragma once\n",
        "#ifdef X\n",
        "#endif\n",
    ],
)
def test_cdef_translation_refuses_what_it_does_not_understand(bad):
    with pytest.raises(_cdef.HeaderError):
        _cdef.header_to_cdef(bad)
