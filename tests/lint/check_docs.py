#!/usr/bin/env python3
"""Checks that the documentation of the repository stands on its own.

1. No file of the repository points outside it: a user who clones it has neither the team's
   shared folder nor the original design page, so no tracked file may name them (the strings
   are built below so that this file does not name them either).
2. Every relative link in README.md and docs/*.md resolves: the file exists, and a `#anchor`
   into one of our markdown files names one of its headings (GitHub's slugs).

Usage: check_docs.py [SOURCE_ROOT]   (default: two directories above this file)
Prints one line per problem and exits 1 if there is any, 0 otherwise. Plain python3, no
packages. The files are `git ls-files` when git knows the tree, else a walk of the tree that
skips hidden and build directories.
"""

import os
import re
import subprocess
import sys

FORBIDDEN = ["../" + "shared/", "DESIGN" + ".md"]
HINT = "point to docs/architecture.md (or another page under docs/) instead"

# [text](target) and ![alt](target); the target ends at whitespace or ')'.
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")


def tracked_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z"], capture_output=True,
                             check=True).stdout
        files = [f for f in out.decode("utf-8", "replace").split("\0") if f]
        if files:
            return files
    except (OSError, subprocess.CalledProcessError):
        pass
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__pycache__"
                       and not os.path.isdir(os.path.join(dirpath, d, "meson-private"))]
        for name in filenames:
            files.append(os.path.relpath(os.path.join(dirpath, name), root))
    return files


def check_forbidden(root, files):
    problems = []
    needles = [n.encode() for n in FORBIDDEN]
    for rel in files:
        path = os.path.join(root, rel)
        if not os.path.isfile(path):
            continue  # deleted in the work tree, or a submodule
        with open(path, "rb") as f:
            data = f.read()
        if not any(n in data for n in needles):
            continue
        for number, line in enumerate(data.split(b"\n"), 1):
            for needle in needles:
                if needle in line:
                    problems.append(f"{rel}:{number}: names {needle.decode()}: {HINT}")
    return problems


def markdown_lines(text):
    """The lines of a markdown text outside fenced code blocks, with their numbers."""
    inside = False
    for number, line in enumerate(text.split("\n"), 1):
        if FENCE.match(line):
            inside = not inside
            continue
        if not inside:
            yield number, line


def slug(heading):
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation dropped,
    spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").replace("*", "")
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


_anchors = {}


def anchors(path):
    if path not in _anchors:
        seen = {}
        found = set()
        with open(path, encoding="utf-8") as f:
            for _, line in markdown_lines(f.read()):
                m = HEADING.match(line)
                if not m:
                    continue
                base = slug(m.group(2))
                n = seen.get(base, 0)
                seen[base] = n + 1
                found.add(base if n == 0 else f"{base}-{n}")
        _anchors[path] = found
    return _anchors[path]


def check_links(root, files):
    problems = []
    docs = sorted(f for f in files if f == "README.md"
                  or (f.startswith("docs/") and f.count("/") == 1 and f.endswith(".md")))
    for rel in docs:
        path = os.path.join(root, rel)
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for number, line in markdown_lines(text):
            line = re.sub(r"`[^`]*`", "", line)  # code spans are not links
            for m in LINK.finditer(line):
                target = m.group(1)
                if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                    continue  # http:, https:, mailto: ...
                file_part, _, anchor = target.partition("#")
                dest = path if not file_part else os.path.normpath(
                    os.path.join(os.path.dirname(path), file_part))
                where = f"{rel}:{number}: link {target}"
                if not os.path.exists(dest):
                    problems.append(f"{where}: {os.path.relpath(dest, root)} does not exist")
                    continue
                if not os.path.realpath(dest).startswith(os.path.realpath(root) + os.sep):
                    problems.append(f"{where}: points outside the repository")
                    continue
                if anchor and dest.endswith(".md") and anchor not in anchors(dest):
                    problems.append(f"{where}: {os.path.relpath(dest, root)} has no heading "
                                    f"with the anchor #{anchor}")
    return problems


def main(argv):
    root = os.path.abspath(argv[1] if len(argv) > 1 else
                           os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    files = tracked_files(root)
    problems = check_forbidden(root, files) + check_links(root, files)
    for p in problems:
        print(p)
    print(f"check_docs: {len(files)} files, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
