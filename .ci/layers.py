#!/usr/bin/env python3
"""Checks that the crate's modules form layers and import each other in no
cycle.

Every file under src/ is a module (foo.rs and foo/mod.rs are `foo`). Its
imports are the `crate::a::b` and `super::` paths it names, resolved to the
deepest module that exists. Layers, lowest first: `platform` and `error`;
`id`; `shared` and `remote`; `object`; `store`; `capi`; then the crate
root (`lib`). A module may use modules of its own layer or of lower ones,
never higher; and no set of modules may use each other in a circle.
"""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(__file__), "..", "src")
RANK = {"platform": 0, "error": 0, "id": 1, "shared": 2, "remote": 2, "object": 3, "store": 4, "capi": 5, "lib": 6}


def modules():
    mods = {}
    for root, _, files in os.walk(SRC):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            if rel == ["lib"]:
                rel = []
            mods[tuple(rel)] = path
    return mods


def strip_tests(text):
    # Test modules may reach anywhere (they test the layer they sit in).
    m = re.search(r"#\[cfg\((all\()?test.*\)\]\s*mod tests\s*\{", text)
    return text[: m.start()] if m else text


def expand(path):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    i = path.find("{")
    if i < 0:
        return [path]
    prefix, inner = path[:i], path[i + 1 : path.rfind("}")]
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    return [x for p in parts if p.strip() for x in expand(prefix + p.strip())]


def paths(text):
    """Every crate:: and super:: path the text names, use groups expanded."""
    out = []
    for m in re.finditer(r"\buse\s+((?:crate|super)::[^;]*);", text, flags=re.S):
        out += expand(re.sub(r"\s+", "", m.group(1)))
    text = re.sub(r"\buse\s+(crate|super)::[^;]*;", "", text, flags=re.S)
    out += [m.group(0) for m in re.finditer(r"\b(crate|super)(::\w+)+", text)]
    return out


def imports(mod, text, mods):
    found = set()
    for path in paths(text):
        m = re.match(r"(crate|super)((?:::\w+)*)", path)
        base = [] if m.group(1) == "crate" else list(mod[:-1]) if mod else []
        if m.group(1) == "super" and mods.get(mod, "").endswith("mod.rs"):
            base = list(mod[:-1])
        parts = base + [p for p in m.group(2).split("::")[1:] if p not in ("self", "")]
        # The deepest existing module on the path.
        for n in range(len(parts), -1, -1):
            if tuple(parts[:n]) in mods:
                target = tuple(parts[:n])
                break
        if target != mod and target != ():
            found.add(target)
    return found


def layer(mod):
    return RANK.get(mod[0] if mod else "lib", 6)


def main():
    mods = modules()
    graph = {}
    errors = []
    for mod, path in mods.items():
        text = strip_tests(open(path).read())
        # `mod x;` declarations are structure, not use.
        text = re.sub(r"^\s*(pub(\(crate\))?\s+)?mod \w+;", "", text, flags=re.M)
        deps = imports(mod, text, mods)
        graph[mod] = deps
        for d in deps:
            if layer(d) > layer(mod):
                errors.append(f"{'::'.join(mod) or 'lib'} (layer {layer(mod)}) uses {'::'.join(d)} (layer {layer(d)})")
    # Cycles, by depth-first search.
    state = {}

    def visit(m, stack):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cyc = stack[stack.index(d):] + [d]
                errors.append("cycle: " + " -> ".join("::".join(x) or "lib" for x in cyc))
            elif state.get(d) is None:
                visit(d, stack)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if state.get(m) is None:
            visit(m, [])
    if errors:
        print("module layering check failed:", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        return 1
    print(f"module layers: {len(graph)} modules, no upward use, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
