#!/usr/bin/env python3
"""Fails when a C++ string literal names a user.mkd.* attribute outside memfs-protocol/.

The names of a mkd-memfs mount's attributes belong to memfs-protocol/names.h (one owner, so
memfs and its clients cannot disagree); code elsewhere uses its constants and helpers. Comments
may mention names (they document), and unit tests (*_test.cc) may spell them out (they pin the
format). Scans every .cc and .h under the source root except memfs-protocol/ and build
directories; prints file:line for each literal and exits 1 if there is one.

    tests/lint/check_protocol_literals.py [SOURCE_ROOT]

Before scanning it checks itself on samples (a scanner that finds nothing would pass anything).
"""

import os
import re
import sys

NAME = "user.mkd."
OWNER = "memfs-protocol"
SKIP_DIRS = {".git", "build", "build-fuzz", "subprojects", OWNER}


def string_literals(text):
    """(line, content) of every string literal in C++ source `text`, comments skipped."""
    out = []
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            line += text.count("\n", i, j)
            i = j
        elif c == "R" and i + 1 < n and text[i + 1] == '"' and not _ident_before(text, i):
            m = re.compile(r'R"([^(\s]{0,16})\(').match(text, i)
            if not m:
                i += 1
                continue
            end = text.find(")" + m.group(1) + '"', m.end())
            end = n if end < 0 else end
            out.append((line, text[m.end():end]))
            line += text.count("\n", i, end)
            i = end + len(m.group(1)) + 2
        elif c == '"' or c == "'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            if c == '"':
                out.append((line, text[i + 1:j]))
            i = j + 1
        else:
            i += 1
    return out


def _ident_before(text, i):
    """True when text[i] continues an identifier (so an R there is not a raw-string prefix,
    except for the u8R/uR/UR/LR prefixes, which count as raw strings)."""
    if i == 0:
        return False
    p = text[i - 1]
    if not (p.isalnum() or p == "_"):
        return False
    k = i - 1
    while k >= 0 and (text[k].isalnum() or text[k] == "_"):
        k -= 1
    return text[k + 1:i] not in ("u8", "u", "U", "L")


def violations(text):
    return [line for line, s in string_literals(text) if NAME in s]


def self_test():
    samples = [
        ('f("user.mkd.summary");', [1]),
        ('// see "user.mkd.summary"\nint x;', []),
        ('/* "user.mkd.sync"\n */ g("x");', []),
        ('a = R"(user.mkd.wanted)";', [1]),
        ('a = R"x(")user.mkd.wanted)x";', [1]),
        ("char q = '\"'; s = \"user.mkd.arrive\";", [1]),
        ('s = "a\\"user.mkd.b";', [1]),
        ('kSummary; // user.mkd.summary\n\n"user.mkd.x"', [3]),
        ('FOR(x) "plain" "also plain"', []),
    ]
    for text, want in samples:
        got = violations(text)
        if got != want:
            sys.exit(f"check_protocol_literals: self-test failed on {text!r}: {got} != {want}")


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), "..", ".."))
    self_test()
    found = []
    scanned = 0
    for d, dirs, files in os.walk(root):
        rel = os.path.relpath(d, root)
        dirs[:] = sorted(x for x in dirs
                         if not (rel == "." and (x in SKIP_DIRS or x.startswith("build"))))
        for f in sorted(files):
            if not f.endswith((".cc", ".h")) or f.endswith("_test.cc"):
                continue
            path = os.path.join(d, f)
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
            scanned += 1
            for line in violations(text):
                found.append(f"{os.path.relpath(path, root)}:{line}")
    if scanned == 0:
        sys.exit(f"check_protocol_literals: no .cc/.h files under {root}")
    for f in found:
        print(f"{f}: a string literal names a {NAME}* attribute: use memfs-protocol/names.h")
    print(f"check_protocol_literals: {scanned} files, {len(found)} literal(s) outside {OWNER}/")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
