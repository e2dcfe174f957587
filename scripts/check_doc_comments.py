#!/usr/bin/env python3
"""Lists public types (struct, class, enum, protocol, actor, typealias) in Sources/ without a `///` doc comment.

Run by .ci/run: every public type of the library carries a doc comment (issue 15). Attributes (`@frozen`, …)
between the comment and the declaration are allowed. Exit status 1 when something is missing.
"""
import pathlib
import re
import sys

DECLARATION = re.compile(r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*public\s+(?:final\s+)?(?:indirect\s+)?"
                         r"(struct|class|enum|protocol|actor|typealias)\s+(\w+)")
root = pathlib.Path(__file__).resolve().parent.parent / "Sources"
missing = []
for path in sorted(root.rglob("*.swift")):
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        match = DECLARATION.match(line)
        if not match:
            continue
        previous = number - 1
        while previous >= 0 and lines[previous].strip().startswith("@"):
            previous -= 1
        if previous < 0 or not lines[previous].strip().startswith("///"):
            missing.append(f"{path.relative_to(root.parent)}:{number + 1}: public {match.group(1)} {match.group(2)}")
for entry in missing:
    print(entry)
print(f"{len(missing)} public types without a doc comment")
sys.exit(1 if missing else 0)
