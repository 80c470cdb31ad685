#!/usr/bin/env python3
"""Print a fenced code block of README.md, verbatim.

    readme.py SECTION LANG [N]

SECTION is a heading's text (e.g. "C" for "### C"); LANG the fence's language
(`c`, `sh`, `js`); N (default 1) which such block inside that section. Exit 1
with a message when there is no such block, so a test fails instead of running
nothing.
"""
import pathlib
import re
import sys

section, lang = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 1
readme = pathlib.Path(__file__).resolve().parents[2] / "README.md"
lines = readme.read_text(encoding="utf-8").splitlines(keepends=True)
inside = False
level = 0
found = 0
block = None
for line in lines:
    m = re.match(r"^(#+)\s+(.*?)\s*$", line)
    if block is None and m:
        if inside and len(m.group(1)) <= level:
            break
        if m.group(2) == section:
            inside, level = True, len(m.group(1))
        continue
    if not inside:
        continue
    if block is None and line.rstrip() == "```" + lang:
        found += 1
        if found == n:
            block = []
        continue
    if block is not None:
        if line.rstrip() == "```":
            sys.stdout.write("".join(block))
            sys.exit(0)
        block.append(line)
sys.exit(f"readme.py: README.md has no ```{lang} block #{n} under the heading {section!r}")
