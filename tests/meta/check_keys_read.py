#!/usr/bin/env python3
"""Every configuration key in the schema is read somewhere: a key that no code reads is a setting
that silently does nothing.

The key names come from the built binary (`dataflow config schema -o markdown`, the tables under
the key sections; the "Legacy names" table is aliases, not keys). A key counts as read when its
full name appears as a string literal ("server.port"), outside comments, in a .cpp or .hpp under
lib/ or cli/ other than lib/config/schema.cpp (which declares the keys and the legacy alias
table). No code reads a group of keys by a prefix today (loader.cpp's "redis." loop only warns
that settings have no effect), so there is no prefix rule: a helper that builds names from a
prefix would have to be taught here.

usage: check_keys_read.py SOURCE_DIR DATAFLOW_BIN              (the self-test, then the check)
       check_keys_read.py --self-test SOURCE_DIR DATAFLOW_BIN  (only that it catches a planted
                                                                unread key)
"""
import pathlib
import re
import subprocess
import sys

# Keys the schema declares before any code reads them, each with the reason. A listed key that
# is read, or that is not in the schema, is itself a failure: the list cannot go stale.
NOT_READ_YET = {
    "server.request_timeout": "reserved for the whole-request deadline at the front door "
                              "(issue 15); its description says it is not enforced yet",
}


def schema_keys(binary):
    out = subprocess.run([binary, "config", "schema", "-o", "markdown"], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    keys, in_keys = [], False
    for line in out.splitlines():
        if line.startswith("| "):
            if line.startswith("| Key |"):
                in_keys = True
            elif line.startswith("| Name |"):
                in_keys = False
            m = re.match(r"^\| `([a-z0-9_.]+)` \|", line)
            if in_keys and m:
                keys.append(m.group(1))
    return keys


def string_literals(text):
    """The string literals of C++ source, comments skipped (raw strings are not used for keys)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            i = text.find("*/", i + 2)
            i = n if i < 0 else i + 2
        elif c == "'" and i > 0 and text[i - 1].isalnum():
            i += 1  # a digit separator (30'000), not a character literal
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            if c == '"':
                out.append(text[i + 1:j])
            i = j + 1
        else:
            i += 1
    return out


def literals_by_file(source):
    root = pathlib.Path(source)
    found = {}
    for top in ("lib", "cli"):
        for path in sorted((root / top).rglob("*")):
            rel = path.relative_to(root).as_posix()
            if path.suffix in (".cpp", ".hpp") and rel != "lib/config/schema.cpp":
                found[rel] = set(string_literals(path.read_text(errors="replace")))
    return found


def problems(keys, literals, whole_schema=True, not_read_yet=None):
    not_read_yet = NOT_READ_YET if not_read_yet is None else not_read_yet
    out = []
    for key in keys:
        readers = [f for f, lits in literals.items() if key in lits]
        if key in not_read_yet:
            if readers:
                out.append(f"{key}: listed in NOT_READ_YET but read in {', '.join(readers)}; "
                           "remove it from the list")
        elif not readers:
            out.append(f"{key}: declared in lib/config/schema.cpp but read nowhere under lib/ "
                       "or cli/ (a setting that does nothing)")
    for key in not_read_yet if whole_schema else ():
        if key not in keys:
            out.append(f"{key}: listed in NOT_READ_YET but not in the schema")
    return out


def self_test(source, binary):
    """The check catches a planted unread key, and passes the real keys."""
    keys = schema_keys(binary)
    literals = literals_by_file(source)
    failures = []
    if len(keys) < 50 or "server.port" not in keys or "redis_password" in keys:
        failures.append(f"the key list looks wrong: {len(keys)} keys")
    planted = "server.planted_unread_key"
    found = problems(keys + [planted], literals)
    if not any(p.startswith(planted + ":") for p in found):
        failures.append("a planted unread key was not reported")
    if problems(["server.port"], literals, whole_schema=False):
        failures.append("server.port, which is read, was reported")
    # A name only in a comment, or only in the schema file, is no read.
    fake = {"lib/x.cpp": set(string_literals('// c.str("a.b")\n/* "a.b" */ f(30\'000, "a.bc");')),
            "lib/y.cpp": {"a.c"}}
    if not problems(["a.b"], fake, False) or problems(["a.c"], fake, False):
        failures.append("comments or partial names were taken for reads")
    if "lib/config/schema.cpp" in literals:
        failures.append("lib/config/schema.cpp counts as a reader")
    # The exemption list cannot go stale: a listed key that is read, or that left the schema.
    listed = {"a.listed": "a reason"}
    if not problems(["a.listed"], {"lib/z.cpp": {"a.listed"}}, False, listed):
        failures.append("a NOT_READ_YET key that is read was not reported")
    if problems(["a.listed"], {}, True, listed):
        failures.append("a NOT_READ_YET key that is not read was reported")
    if not problems(["server.port"], literals, True, listed):
        failures.append("a NOT_READ_YET key missing from the schema was not reported")
    for f in failures:
        print("FAIL self-test: " + f)
    if not failures:
        print("ok   self-test: a planted unread key is reported")
    return 1 if failures else 0


def main(argv):
    if argv and argv[0] == "--self-test":
        return self_test(*argv[1:3])
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    source, binary = argv
    # The check first proves it catches an unread key, then checks the real ones.
    failed = self_test(source, binary)
    keys = schema_keys(binary)
    found = problems(keys, literals_by_file(source))
    for p in found:
        print("FAIL " + p)
    print(f"{len(keys)} keys, {len(found)} problems")
    return 1 if found or failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
