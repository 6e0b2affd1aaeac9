#!/usr/bin/env python3
"""Regenerates the configuration reference from the schema in lib/config/schema.cpp:
docs/CONFIGURATION.md and the KEYS section of man/dataflow-config.1.

Usage: scripts/update-config-docs.py [path/to/dataflow]   (default: build/cli/dataflow)
"""
import pathlib
import subprocess
import sys

root = pathlib.Path(__file__).resolve().parent.parent
binary = sys.argv[1] if len(sys.argv) > 1 else str(root / "build" / "cli" / "dataflow")


def schema(fmt: str) -> str:
    return subprocess.run([binary, "config", "schema", "-o", fmt], check=True,
                          capture_output=True, text=True).stdout


(root / "docs" / "CONFIGURATION.md").write_text(schema("markdown"))
man = root / "man" / "dataflow-config.1"
text = man.read_text()
begin = '.\\" BEGIN GENERATED KEYS\n'
end = '.\\" END GENERATED KEYS\n'
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
man.write_text(head + begin + schema("man") + end + tail)
print("updated docs/CONFIGURATION.md and man/dataflow-config.1")
