#!/usr/bin/env python3
"""meta/documented-limits: the limits the docs state are the ones the code enforces. Every row of
a Markdown table with a `key` and a `default` column (docs/API.md's Limits, and any other such
table in README.md and docs/) must name a schema key and give its schema default; and the
front-door keys must each appear in docs/API.md's Limits table, README.md, docs/OPERATIONS.md
and the dataflow-serve(1) man page.

usage: check_documented_limits.py SOURCE_DIR DATAFLOW_BIN   (a self-test first, then the check)
"""
import pathlib, re, subprocess, sys

FRONT_DOOR = ["server.max_body_size", "server.max_header_bytes", "server.max_headers",
              "server.request_timeout", "server.max_connections"]
WHERE = ["docs/API.md", "README.md", "docs/OPERATIONS.md", "man/dataflow-serve.1"]


def schema_defaults(binary):
    out = subprocess.run([binary, "config", "schema", "-o", "markdown"], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    defaults = {}
    for line in out.splitlines():
        m = re.match(r"^\| `([a-z0-9_.]+)` \| [a-z]+ \| `([^`]*)` \|", line)
        if m:
            defaults[m.group(1)] = m.group(2)
    return defaults


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def table_problems(name, text, defaults):
    problems, header = [], None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.startswith("|"):
            header = None
            continue
        row = cells(line)
        if header is None:
            header = [c.lower() for c in row]
            continue
        if set(row) <= {"", "---"} or "key" not in header or "default" not in header:
            continue
        key = row[header.index("key")].strip("`")
        default = row[header.index("default")].strip("`")
        if not re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", key):
            continue  # a fixed limit, "(fixed)"
        if key not in defaults:
            problems.append(f"{name}:{n}: `{key}` is not a configuration key")
        elif default != defaults[key]:
            problems.append(f"{name}:{n}: `{key}` default {default!r}, the schema says "
                            f"{defaults[key]!r}")
    return problems


def check(source, defaults):
    root = pathlib.Path(source)
    problems = []
    docs = [root / "README.md"] + sorted((root / "docs").glob("*.md"))
    for path in docs:
        if path.name == "CONFIGURATION.md":
            continue  # generated from the schema itself
        problems += table_problems(path.relative_to(root).as_posix(), path.read_text(), defaults)
    for where in WHERE:
        text = (root / where).read_text()
        for key in FRONT_DOOR:
            if key not in text:
                problems.append(f"{where}: does not state {key}")
    return problems


def self_test(defaults):
    bad = "| limit | key | default |\n|---|---|---|\n| body | `server.max_body_size` | 1GiB |\n"
    ok = "| limit | key | default |\n|---|---|---|\n| body | `server.max_body_size` | 64MiB |\n"
    unknown = "| limit | key | default |\n|---|---|---|\n| x | `server.nope` | 1 |\n"
    good = (table_problems("bad", bad, defaults) and not table_problems("ok", ok, defaults)
            and table_problems("unknown", unknown, defaults))
    print(("ok  " if good else "FAIL") + " self-test: a wrong default and an unknown key are reported")
    return bool(good)


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    defaults = schema_defaults(argv[1])
    good = self_test(defaults)
    problems = check(argv[0], defaults)
    for p in problems:
        print("FAIL " + p)
    print(f"{len(problems)} problem(s)")
    return 0 if good and not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
