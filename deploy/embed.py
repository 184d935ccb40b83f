#!/usr/bin/env python3
"""Copy deploy/boot.sh into the user data of both launch templates in template.yaml.

Run after editing boot.sh:  python3 deploy/embed.py
Each launch template's UserData is a !Join whose second element is a `- |` block that follows
the comment line `# deploy/boot.sh, verbatim ...`; that block is replaced by the file.
deploy/test_template.py fails while the two differ. `--check` only reports (exit 1 if stale).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
BOOT = ROOT / "deploy" / "boot.sh"
MARKER = re.compile(r"^\s*# deploy/boot\.sh, verbatim")
BLOCK = re.compile(r"^(\s*)- \|$")


def embedded(template: str, script: str) -> str:
    lines = template.split("\n")
    body = script.rstrip("\n").split("\n")
    out: list[str] = []
    i = 0
    blocks = 0
    while i < len(lines):
        out.append(lines[i])
        if MARKER.match(lines[i]):
            m = BLOCK.match(lines[i + 1])
            if not m:
                raise SystemExit(f"template.yaml:{i + 2}: expected `- |` after the boot.sh marker")
            out.append(lines[i + 1])
            indent = len(m.group(1))
            j = i + 2
            # The block runs while lines are blank or indented deeper than the `-`.
            while j < len(lines) and (lines[j].strip() == "" or len(lines[j]) - len(lines[j].lstrip()) > indent):
                j += 1
            while j > i + 2 and lines[j - 1].strip() == "":
                j -= 1
            pad = " " * (indent + 2)
            out.extend(pad + line if line else "" for line in body)
            blocks += 1
            i = j
            continue
        i += 1
    if blocks != 2:
        raise SystemExit(f"expected the boot.sh block in 2 launch templates, found {blocks}")
    return "\n".join(out)


def main() -> int:
    template = TEMPLATE.read_text(encoding="utf-8")
    new = embedded(template, BOOT.read_text(encoding="utf-8"))
    if "--check" in sys.argv[1:]:
        if new != template:
            print("template.yaml does not embed the current deploy/boot.sh: run python3 deploy/embed.py")
            return 1
        return 0
    TEMPLATE.write_text(new, encoding="utf-8")
    print(f"embedded deploy/boot.sh ({len(BOOT.read_bytes())} bytes) into both launch templates")
    return 0


if __name__ == "__main__":
    sys.exit(main())
