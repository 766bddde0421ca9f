"""Turn include/objstore.h into a declaration string for ``cffi.FFI.cdef``.

The Python binding has no hand-written C declarations: at build time the
header that the core's build generated is copied into the package and fed
through :func:`header_to_cdef`, and cffi compiles the result into the
package's ``_ffi`` module. So the binding's view of every struct, function
and constant is the header's, and cannot drift from it.

cffi parses C declarations but not the preprocessor, so this module runs a
deliberately small preprocessor over the header:

- ``#include`` lines are dropped (cffi knows the standard types);
- ``#ifdef``/``#ifndef``/``#else``/``#endif`` are evaluated, with only the
  macros the header itself defines being defined (so ``__cplusplus`` blocks
  go away and the include guard stays open);
- ``#define NAME <integer>`` is kept (cffi turns it into a constant);
  ``#define NAME <stdint limit>`` or ``<another integer macro>`` is kept with
  the value substituted; ``#define NAME`` with no value is noted and dropped;
- what cffi's ABI mode cannot express is dropped: a string constant
  (``OS_VERSION_STRING``: the library says its version with os_version()), a
  function-like macro (``OS_MAKE_VERSION``), and a ``static inline``
  function, which is C code compiled into the caller, not a symbol of the
  library (``os_options_default``: the binding calls os_options_init).

Anything else (``#if EXPR``, a macro of another kind of value) raises
:class:`HeaderError`: the build then fails loudly instead of producing a
binding that silently differs from the header.
"""

from __future__ import annotations

import re

__all__ = ["HeaderError", "header_to_cdef"]


class HeaderError(ValueError):
    """The header uses a construct this translator does not handle."""


_STDINT_LIMITS = {
    "INT8_MAX": 2**7 - 1,
    "INT16_MAX": 2**15 - 1,
    "INT32_MAX": 2**31 - 1,
    "INT64_MAX": 2**63 - 1,
    "UINT8_MAX": 2**8 - 1,
    "UINT16_MAX": 2**16 - 1,
    "UINT32_MAX": 2**32 - 1,
    "UINT64_MAX": 2**64 - 1,
    "SIZE_MAX": 2**64 - 1,
}

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_DIRECTIVE = re.compile(r"^\s*#\s*(\w+)\s*(.*?)\s*$")
_INT = re.compile(r"^(-?(?:0[xX][0-9a-fA-F]+|\d+))[uUlL]*$")
_NAME = re.compile(r"^[A-Za-z_]\w*$")
_STRING = re.compile(r'^"(?:[^"\\\n]|\\.)*"$')
_FUNCTION_MACRO = re.compile(r"^[A-Za-z_]\w*\(")
_STATIC_INLINE = re.compile(r"\bstatic\s+inline\b")


def _strip_comments(text: str) -> str:
    # Keep the line structure (a comment's newlines survive) so that error
    # messages can cite header line numbers.
    return _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def _int_value(value: str, ints: dict[str, int], lineno: int) -> int:
    while value.startswith("(") and value.endswith(")"):
        value = value[1:-1].strip()
    m = _INT.match(value)
    if m:
        return int(m.group(1), 0)
    if value in _STDINT_LIMITS:
        return _STDINT_LIMITS[value]
    if value in ints:
        return ints[value]
    raise HeaderError(f"objstore.h line {lineno}: cannot translate the value of a #define: {value!r}")


def header_to_cdef(text: str) -> str:
    """Return the declarations of the C header ``text`` in the form cffi's
    ``cdef`` accepts. Raises HeaderError on an unsupported construct."""
    defined: set[str] = set()
    ints: dict[str, int] = {}
    # One entry per open conditional: (this branch active, parent active).
    stack: list[tuple[bool, bool]] = []
    active = True
    out: list[str] = []
    for lineno, line in enumerate(_strip_comments(text).splitlines(), 1):
        m = _DIRECTIVE.match(line)
        if not m:
            out.append(line if active else "")
            continue
        word, rest = m.group(1), m.group(2)
        if word in ("ifdef", "ifndef"):
            if not _NAME.match(rest):
                raise HeaderError(f"objstore.h line {lineno}: #{word} {rest!r}")
            cond = (rest in defined) == (word == "ifdef")
            stack.append((cond, active))
            active = active and cond
        elif word == "else":
            if not stack:
                raise HeaderError(f"objstore.h line {lineno}: #else without #if")
            cond, parent = stack.pop()
            stack.append((not cond, parent))
            active = parent and not cond
        elif word == "endif":
            if not stack:
                raise HeaderError(f"objstore.h line {lineno}: #endif without #if")
            _, active = stack.pop()
        elif word == "include":
            pass
        elif word == "define":
            if not active:
                out.append("")
                continue
            if _FUNCTION_MACRO.match(rest):
                out.append("")
                continue
            parts = rest.split(None, 1)
            name = parts[0] if parts else ""
            if not _NAME.match(name):
                raise HeaderError(f"objstore.h line {lineno}: unsupported macro {rest!r}")
            defined.add(name)
            if len(parts) == 2 and _STRING.match(parts[1]):
                out.append("")
                continue
            if len(parts) == 2:
                ints[name] = _int_value(parts[1], ints, lineno)
                out.append(f"#define {name} {ints[name]}")
                continue
        else:
            raise HeaderError(f"objstore.h line {lineno}: unsupported directive #{word} {rest}".rstrip())
        out.append("")
    if stack:
        raise HeaderError("objstore.h: unterminated #if")
    return _drop_static_inline("\n".join(out) + "\n")


def _drop_static_inline(text: str) -> str:
    """Removes each ``static inline`` function definition, from ``static``
    to its closing brace (keeping its newlines, for line numbers)."""
    while True:
        m = _STATIC_INLINE.search(text)
        if not m:
            return text
        open_at = text.find("{", m.end())
        semi = text.find(";", m.end())
        if open_at < 0 or 0 <= semi < open_at:
            raise HeaderError("objstore.h: a static inline declaration without a body")
        depth, i = 0, open_at
        while i < len(text):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        else:
            raise HeaderError("objstore.h: unbalanced braces in a static inline function")
        text = text[: m.start()] + "\n" * text.count("\n", m.start(), i + 1) + text[i + 1 :]
