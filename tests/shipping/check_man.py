#!/usr/bin/env python3
"""Man pages match the binary: every command has a page with the standard sections; the options
on the OPTIONS tag lines are exactly the options the binary has (none missing, none stale); every
configuration key and DATAFLOW_* name the pages mention exists; and mandoc -Tlint finds nothing.

Usage: check_man.py path/to/dataflow path/to/source-dir
"""
import json
import pathlib
import re
import shutil
import subprocess
import sys

binary, source = sys.argv[1], pathlib.Path(sys.argv[2])
man_dir = source / "man"
failures = []


def fail(message):
    failures.append(message)


tree = json.loads(subprocess.run([binary, "completion", "json"], check=True,
                                 capture_output=True, text=True).stdout)


def names(option):
    return {"-" + s for s in option["short"]} | {"--" + l for l in option["long"]}


global_options = set().union(*(names(o) for o in tree["options"]))


def command_options(command):
    """Options of a command and its subcommands, without the global ones (incl. --help)."""
    out = set()
    for o in command["options"]:
        out |= names(o)
    for sub in command["subcommands"]:
        out |= command_options(sub)
    return out - global_options


def plain(line):
    line = re.sub(r"\\f[BIRP]", "", line)
    return line.replace("\\-", "-").replace("\\(em", "-")


def sections(text):
    """{section title: [lines]} in order."""
    out = {}
    current = None
    for line in text.splitlines():
        m = re.match(r'^\.SH\s+"?([^"]+)"?\s*$', line)
        if m:
            current = m.group(1).strip()
            out[current] = []
        elif current:
            out[current].append(line)
    return out


def tagged_options(lines):
    """Every -x / --name token on the line after each .TP."""
    found = set()
    for i, line in enumerate(lines[:-1]):
        if line.strip() == ".TP":
            tag = plain(lines[i + 1])
            found |= set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])", tag))
    return found


schema = json.loads(subprocess.run([binary, "config", "show", "-o", "json"], check=True,
                                   capture_output=True, text=True,
                                   env={"PATH": "/usr/bin:/bin"}).stdout)
keys = set()


def flatten(prefix, value):
    if isinstance(value, dict) and prefix not in ("analysis.rules",):
        for k, v in value.items():
            flatten(f"{prefix}.{k}" if prefix else k, v)
    else:
        keys.add(prefix)


flatten("", schema)
sections_of_keys = {k.split(".")[0] for k in keys if "." in k}
# Every variable the reference lists: keys' names, the reference deployment's aliases (and the
# names it ignores on purpose), plus the three that say where configuration comes from.
reference = subprocess.run([binary, "config", "schema", "-o", "markdown"], check=True,
                           capture_output=True, text=True).stdout
env_names = set(re.findall(r"\bDATAFLOW_[A-Z0-9_]+\b", reference))
env_names |= {"DATAFLOW_" + k.upper().replace(".", "_") for k in keys}
env_names |= {"DATAFLOW_CONFIG", "DATAFLOW_CONFIG_DIR", "DATAFLOW_SECRETS_DIR"}

required_command = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "CONFIGURATION", "EXIT STATUS",
                    "FILES", "EXAMPLES", "SEE ALSO"]
required_root = ["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "GLOBAL OPTIONS", "ENVIRONMENT",
                 "CONFIGURATION", "EXIT STATUS", "FILES", "EXAMPLES", "SEE ALSO"]

pages = {"dataflow": tree}
for command in tree["subcommands"]:
    pages["dataflow-" + command["name"]] = command
expected_files = {f"{p}.1" for p in pages}
actual_files = {p.name for p in man_dir.glob("*.1")}
for missing in sorted(expected_files - actual_files):
    fail(f"man/{missing}: no page for this command")
for extra in sorted(actual_files - expected_files):
    fail(f"man/{extra}: no such command in the binary")

for page, command in pages.items():
    path = man_dir / f"{page}.1"
    if not path.exists():
        continue
    text = path.read_text()
    sec = sections(text)
    required = required_root if page == "dataflow" else required_command
    titles = list(sec)
    for title in required:
        if title not in sec:
            fail(f"{path.name}: no {title} section")
    if titles[:1] != ["NAME"] or titles[-1:] != ["SEE ALSO"]:
        fail(f"{path.name}: NAME must come first and SEE ALSO last: {titles}")
    if page == "dataflow":
        documented = tagged_options(sec.get("GLOBAL OPTIONS", []))
        want = global_options
        for sub in command["subcommands"]:
            if not re.search(r"\.B\w*\s+" + re.escape(sub["name"]) + r"\b", "\n".join(sec.get("COMMANDS", []))):
                fail(f"{path.name}: COMMANDS does not list '{sub['name']}'")
    else:
        documented = tagged_options(sec.get("OPTIONS", []))
        want = command_options(command)
    for opt in sorted(want - documented):
        fail(f"{path.name}: option {opt} is not documented (add a .TP item under OPTIONS)")
    for opt in sorted(documented - want):
        fail(f"{path.name}: documents {opt}, which 'dataflow {command['name'] if page != 'dataflow' else ''}' does not have")
    # Option tags outside OPTIONS would dodge the check above.
    for title, lines in sec.items():
        if title not in ("OPTIONS", "GLOBAL OPTIONS") and tagged_options(lines):
            fail(f"{path.name}: {title} has option tag lines {sorted(tagged_options(lines))}; options belong under OPTIONS")
    body = plain(text)
    for key in sorted(set(re.findall(r"(?<![\w./-])([a-z]+)\.([a-z_]+[a-z])(?![\w(/-])", body))):
        name = f"{key[0]}.{key[1]}"
        if key[0] in sections_of_keys and name not in keys and not any(k.startswith(name + ".") for k in keys):
            fail(f"{path.name}: mentions configuration key {name}, which does not exist")
    for env in sorted(set(re.findall(r"\bDATAFLOW_[A-Z0-9_]+\b", body))):
        if env not in env_names:
            fail(f"{path.name}: mentions {env}, which is not a configuration variable")
    for must in ("/etc/config", "/etc/secrets"):
        if must not in "\n".join(sec.get("FILES", [])):
            fail(f"{path.name}: FILES does not mention {must}")

mandoc = shutil.which("mandoc")
if not mandoc:
    fail("mandoc is not installed; run scripts/install-deps.sh")
else:
    for path in sorted(man_dir.glob("*.1")):
        out = subprocess.run([mandoc, "-Tlint", "-W", "warning", str(path)], capture_output=True,
                             text=True)
        if out.stdout.strip() or out.stderr.strip():
            fail(f"mandoc -Tlint {path.name}:\n{out.stdout}{out.stderr}")

if failures:
    for f in failures:
        print("FAIL:", f, file=sys.stderr)
    print(f"{len(failures)} man page check(s) failed", file=sys.stderr)
    sys.exit(1)
print(f"man pages OK: {len(pages)} pages, {sum(len(command_options(c)) for c in tree['subcommands']) + len(global_options)} options")
