#!/usr/bin/env python3
"""Where a wasm module's code goes: the size of every function body (code section), summed by
the crate that starts its name (name section), largest first. Needs a module that still has
its names: the tests' `site-ci` build (`trunk build --cargo-profile site-ci`, no wasm-opt).

    python3 tools/wasm_size.py dist/web_bg.wasm [rows]
"""

import collections
import re
import sys


def leb(data, at):
    """An unsigned LEB128 number at `at`, and where the next field starts."""
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def skip_name(data, at):
    length, at = leb(data, at)
    return at + length


def imported_functions(section):
    """How many imports are functions: they come first in the function index space."""
    count, at = leb(section, 0)
    functions = 0
    for _ in range(count):
        at = skip_name(section, skip_name(section, at))
        kind = section[at]
        at += 1
        if kind == 0:  # function: a type index
            _, at = leb(section, at)
            functions += 1
        elif kind == 1:  # table: element type, limits
            at += 1
            flags = section[at]
            _, at = leb(section, at + 1)
            if flags & 1:
                _, at = leb(section, at)
        elif kind == 2:  # memory: limits
            flags = section[at]
            _, at = leb(section, at + 1)
            if flags & 1:
                _, at = leb(section, at)
        elif kind == 3:  # global: value type, mutability
            at += 2
        else:  # tag: attribute, type index
            _, at = leb(section, at + 1)
    return functions


def main():
    data = open(sys.argv[1], "rb").read()
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    imports, bodies, names = 0, [], {}
    at = 8
    while at < len(data):
        kind = data[at]
        size, start = leb(data, at + 1)
        section, at = data[start:start + size], start + size
        if kind == 2:
            imports = imported_functions(section)
        elif kind == 10:
            count, pos = leb(section, 0)
            for _ in range(count):
                length, pos = leb(section, pos)
                bodies.append(length)
                pos += length
        elif kind == 0 and section[1:1 + section[0]] == b"name":
            pos = 1 + section[0]
            while pos < len(section):
                sub = section[pos]
                length, pos = leb(section, pos + 1)
                end = pos + length
                if sub == 1:  # function names
                    count, pos = leb(section, pos)
                    for _ in range(count):
                        index, pos = leb(section, pos)
                        length, pos = leb(section, pos)
                        names[index] = section[pos:pos + length].decode("utf8", "replace")
                        pos += length
                pos = end
    if not names:
        sys.exit(f"{sys.argv[1]}: no function names (wasm-opt removed them): use the site-ci build")
    by_crate = collections.Counter()
    for index, size in enumerate(bodies):
        name = names.get(imports + index, "?").lstrip("<")
        crate = re.match(r"[A-Za-z_][A-Za-z0-9_]*", name)
        by_crate[crate.group(0) if crate else name[:20]] += size
    total = sum(bodies)
    print(f"code: {total / 2**20:.2f} MiB in {len(bodies)} functions")
    for crate, size in by_crate.most_common(rows):
        print(f"{size / 2**20:7.2f} MiB {100 * size / total:5.1f}%  {crate}")


if __name__ == "__main__":
    main()
