#!/usr/bin/env python3
"""Regenerates the configuration reference from the schema in lib/config/schema.cpp:
docs/CONFIGURATION.md and every generated block of the man pages, i.e. the lines between
  .\\" BEGIN GENERATED KEYS [SELECTOR...]
  .\\" END GENERATED KEYS
where each SELECTOR is a key or a prefix ending in a dot (none: every key). Also rewrites the
committed shell completions in completions/ from the command tree.

Usage: scripts/update-config-docs.py [path/to/dataflow]   (default: build/cli/dataflow)
"""
import pathlib
import re
import subprocess
import sys

root = pathlib.Path(__file__).resolve().parent.parent
binary = sys.argv[1] if len(sys.argv) > 1 else str(root / "build" / "cli" / "dataflow")


def run(*args: str) -> str:
    return subprocess.run([binary, *args], check=True, capture_output=True, text=True).stdout


def schema(fmt: str, selectors=()) -> str:
    args = ["config", "schema", "-o", fmt]
    for s in selectors:
        args += ["--keys", s]
    return run(*args)


(root / "docs" / "CONFIGURATION.md").write_text(schema("markdown"))

block = re.compile(r'(\.\\" BEGIN GENERATED KEYS([^\n]*)\n)(.*?)(\.\\" END GENERATED KEYS\n)', re.S)
for man in sorted((root / "man").glob("*.1")):
    text = man.read_text()
    new = block.sub(lambda m: m.group(1) + schema("man", m.group(2).split()) + m.group(4), text)
    if new != text:
        man.write_text(new)
        print(f"updated {man.relative_to(root)}")

for shell, name in (("bash", "dataflow.bash"), ("zsh", "_dataflow"), ("fish", "dataflow.fish")):
    path = root / "completions" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(run("completion", shell))
print("updated docs/CONFIGURATION.md and completions/")
