#!/usr/bin/env python3
"""Every configuration key in the schema maps to a typed settings field, and that field is read
somewhere: a key that no code reads is a setting that silently does nothing.

The key names come from the built binary (`dataflow config schema -o markdown`, the tables under
the key sections; the "Legacy names" table is aliases, not keys). The mapping key -> field is
generated from the name, as lib/config/settings.hpp promises: "area.name" is the field `name` of
`Settings::area`; a top-level key is a field of `Settings::identity` (a C++ keyword gets a
trailing underscore: namespace -> namespace_). The struct and field names are read from
settings.hpp, so a key without a field, and a field without a key, both fail.

A key counts as read when, in a .cpp or .hpp under lib/ or cli/ other than the files that
declare, load and print the configuration (lib/config/settings.*, schema.*, loader*, render.*),
outside comments and string literals, its field is accessed:
  - through its area: `settings().server.port`, `s->server.port`;
  - through a variable bound to the area: `const auto& s = c.settings().server; ... s.port`;
  - through a variable or parameter of the area's type: `const config::ServerSettings& s`.
The match is by name within one file, not by scope: simple, and it errs towards "read".

A key's name as a string literal ("server.port", as in config->str("server.port")) does not
count (STRING_READS_ACCEPTED = False): code outside lib/config reads the typed settings.
analysis.rules is also read as
Config::rules() (`.rules()`), which is the same rule set as its field; analysis.rules_file is
read by the loader (LOADER_READS), which loads that file into the rule set.

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
NOT_READ_YET = {}

# See the docstring: string reads count until the remaining callers use the typed settings.
STRING_READS_ACCEPTED = False

# Other spellings of a read, per key (regular expressions over code without comments/strings).
OTHER_READS = {
    "analysis.rules": r"(?:\.|->)\s*rules\s*\(\s*\)",
}

# Keys the loader itself consumes, each with how: they count as read when the loader names
# them (a string literal in lib/config/loader*), since their effect is another key's value.
LOADER_READS = {
    "analysis.rules_file": "loads the rule file into the rule set (analysis.rules' field)",
    "upstream.sources_file": "loads the sources file into the registry (Settings::sources)",
}

SETTINGS_HPP = "lib/config/settings.hpp"
LOADER = "lib/config/loader*"  # the pseudo-file of loader_literals() in `files`
CPP_KEYWORDS = {"namespace", "class", "default", "delete", "new", "operator", "private",
                "public", "protected", "template", "this", "typename", "union", "using",
                "virtual", "register", "export", "auto", "enum", "struct", "switch", "case"}


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


def split_code(text):
    """(code, literals): the source with comments and string/char literals blanked out, and the
    string literals' contents (raw strings are not used for keys)."""
    code, literals, i, n = [], [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            code.append(" ")
        elif c == "'" and i > 0 and text[i - 1].isalnum():
            code.append(c)  # a digit separator (30'000), not a character literal
            i += 1
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            if c == '"':
                literals.append(text[i + 1:j])
            code.append('""')
            i = j + 1
        else:
            code.append(c)
            i += 1
    return "".join(code), literals


def string_literals(text):
    return split_code(text)[1]


def is_excluded(rel):
    """The files that declare, load and print the configuration are no readers."""
    return (rel.startswith("lib/config/settings.") or rel.startswith("lib/config/schema.")
            or rel.startswith("lib/config/loader") or rel.startswith("lib/config/render."))


def sources(source):
    """{relative path: (code, set of string literals)} of the readers under lib/ and cli/."""
    root = pathlib.Path(source)
    found = {}
    for top in ("lib", "cli"):
        for path in sorted((root / top).rglob("*")):
            rel = path.relative_to(root).as_posix()
            if path.suffix in (".cpp", ".hpp") and not is_excluded(rel):
                code, literals = split_code(path.read_text(errors="replace"))
                found[rel] = (code, set(literals))
    # Only LOADER_READS keys are looked up in it; its code is no reader.
    found[LOADER] = ("", loader_literals(source))
    return found


def settings_layout(text):
    """({area member: struct name}, {struct name: [fields]}) from settings.hpp."""
    code, _ = split_code(text)
    areas, structs = {}, {}
    for m in re.finditer(r"\bstruct\s+(\w+)\s*\{(.*?)\n\};", code, re.S):
        if m.group(1) == "Settings":
            for a in re.finditer(r"(\w+)\s+(\w+)\s*;", m.group(2)):
                areas[a.group(2)] = a.group(1)
            continue
        fields = []
        for decl in m.group(2).split(";"):
            decl = re.sub(r"\{[^{}]*\}|=[^;]*$", "", decl.strip())  # initialisers
            f = re.search(r"(\w+)\s*$", decl)
            if f and "(" not in decl:
                fields.append(f.group(1))
        structs[m.group(1)] = fields
    return areas, structs


def field_of(key):
    """(area member, field) the key maps to."""
    area, _, name = key.rpartition(".")
    if not area:
        area = "identity"
    if name in CPP_KEYWORDS:
        name += "_"
    return area, name


_INDEX = {}


def access_index(code, in_config):
    """Member accesses of `code`, computed once per file: (pairs preceded by an accessor
    (`.area.field`), all pairs (`var.field`), {area: variables bound to it}, {struct:
    variables of that type})."""
    cache_key = (code, in_config)
    if cache_key not in _INDEX:
        acc = r"\s*(?:\.|->)\s*"
        after_accessor = set(re.findall(r"(?:(?<=\.)|(?<=->))\s*(\w+)" + acc + r"(?=(\w+))",
                                        code))
        pairs = set(re.findall(r"\b(\w+)" + acc + r"(?=(\w+))", code))
        bound = {}
        for var, area in re.findall(r"(\w+)\s*=\s*[^;{}=]*?(?:\.|->)\s*(\w+)\s*;", code):
            bound.setdefault(area, set()).add(var)
        qualifier = r"(?:\bconfig::|(?<![:\w]))" if in_config else r"\bconfig::"
        typed = {}
        for struct, var in re.findall(qualifier + r"(\w+Settings)\s*(?:const\s*)?[&*]*\s*(\w+)",
                                      code):
            typed.setdefault(struct, set()).add(var)
        _INDEX[cache_key] = (after_accessor, pairs, bound, typed)
    return _INDEX[cache_key]


def reads_field(code, area, struct, field, in_config=False):
    """Whether `code` reads the field; outside lib/config/ a variable typed by the area's
    struct must spell it config::XSettings (upstream::ProbeSettings is another type)."""
    after_accessor, pairs, bound, typed = access_index(code, in_config)
    if (area, field) in after_accessor:
        return True
    names = bound.get(area, set()) | typed.get(struct, set())
    return any((v, field) in pairs for v in names)


def loader_literals(source):
    """The string literals of lib/config/loader*, for LOADER_READS."""
    out = set()
    for path in sorted((pathlib.Path(source) / "lib" / "config").glob("loader*")):
        if path.suffix in (".cpp", ".hpp"):
            out |= set(string_literals(path.read_text(errors="replace")))
    return out


def readers_of(key, area, struct, field, files):
    out = []
    if key in LOADER_READS and key in files.get(LOADER, (None, set()))[1]:
        out.append(LOADER)
    for rel, (code, literals) in files.items():
        if rel == LOADER:
            continue
        if (reads_field(code, area, struct, field, rel.startswith("lib/config/"))
                or (STRING_READS_ACCEPTED and key in literals)
                or (key in OTHER_READS and re.search(OTHER_READS[key], code))):
            out.append(rel)
    return out


def problems(keys, files, layout, whole_schema=True, not_read_yet=None):
    not_read_yet = NOT_READ_YET if not_read_yet is None else not_read_yet
    areas, structs = layout
    out, mapped = [], set()
    for key in keys:
        area, field = field_of(key)
        struct = areas.get(area)
        if struct is None or field not in structs.get(struct, []):
            out.append(f"{key}: no settings field {area}.{field} in {SETTINGS_HPP} (every key "
                       "maps to the field named after its last component)")
            continue
        mapped.add((struct, field))
        readers = readers_of(key, area, struct, field, files)
        if key in not_read_yet:
            if readers:
                out.append(f"{key}: listed in NOT_READ_YET but read in {', '.join(readers)}; "
                           "remove it from the list")
        elif not readers:
            out.append(f"{key}: settings field {area}.{field} is read nowhere under lib/ or "
                       "cli/ (a setting that does nothing)")
    if whole_schema:
        for area, struct in areas.items():
            for field in structs.get(struct, []):
                if (struct, field) not in mapped:
                    out.append(f"{area}.{field}: a field of {SETTINGS_HPP} without a schema key")
        for key in not_read_yet:
            if key not in keys:
                out.append(f"{key}: listed in NOT_READ_YET but not in the schema")
    return out


def fake(text):
    code, literals = split_code(text)
    return code, set(literals)


def self_test(source, binary):
    """The check catches a planted unread key and a key without a field, and passes the real
    keys; comments, strings and other areas' fields are no reads."""
    keys = schema_keys(binary)
    files = sources(source)
    layout = settings_layout((pathlib.Path(source) / SETTINGS_HPP).read_text())
    failures = []
    if len(keys) < 50 or "server.port" not in keys or "redis_password" in keys:
        failures.append(f"the key list looks wrong: {len(keys)} keys")
    if len(layout[0]) < 10 or "port" not in layout[1].get(layout[0].get("server", ""), []):
        failures.append(f"the settings layout looks wrong: {sorted(layout[0])}")
    planted = "server.planted_unread_key"
    if not any(p.startswith(planted + ":") for p in problems(keys + [planted], files, layout)):
        failures.append("a key without a settings field was not reported")
    planted_layout = ({**layout[0]}, {k: list(v) for k, v in layout[1].items()})
    planted_layout[1][layout[0]["server"]].append("planted_unread_key")
    found = problems([planted], files, planted_layout, whole_schema=False)
    if not any("read nowhere" in p for p in found):
        failures.append("a planted field that nothing reads was not reported")
    if problems(["server.port"], files, layout, whole_schema=False):
        failures.append("server.port, which is read, was reported")
    mini = ({"server": "ServerSettings", "upstream": "UpstreamSettings"},
            {"ServerSettings": ["port", "host"], "UpstreamSettings": ["retries", "agency"]})
    reads = {
        "direct": "int p = c.settings().server.port;",
        "pointer": "int p = s->server.port;",
        "bound": "const auto& u = config->settings().upstream;\nf(u.retries);",
        "typed": "int g(const config::UpstreamSettings& up) { return up.retries; }",
    }
    for name, text in reads.items():
        key = "upstream.retries" if "retries" in text else "server.port"
        if problems([key], {"lib/x.cpp": fake(text)}, mini, False, {}):
            failures.append(f"a {name} field read was not counted: {text!r}")
    no_reads = {
        "comment": "// c.settings().server.port\n/* s.server.port */ f(30'000);",
        "other area": "int p = c.settings().redis.port;",
        "string": 'log("settings.server.port");',
        "unbound variable": "f(x.retries);",
        "another namespace's type": "int g(const upstream::UpstreamSettings& up) "
                                    "{ return up.retries; }",
    }
    for name, text in no_reads.items():
        key = "upstream.retries" if "retries" in text else "server.port"
        if not problems([key], {"lib/x.cpp": fake(text)}, mini, False, {}):
            failures.append(f"a {name} was taken for a read: {text!r}")
    if STRING_READS_ACCEPTED and problems(["server.host"], {"lib/x.cpp": fake(
            'c.str("server.host");')}, mini, False, {}):
        failures.append("a string read was not accepted")
    if any(is_excluded(f) for f in files if f != LOADER) or "lib/config/settings.cpp" in files:
        failures.append("a settings, schema, loader or render file counts as a reader")
    # A field without a key is reported.
    extra = ({"server": "ServerSettings"}, {"ServerSettings": ["port", "orphan"]})
    if not any("orphan" in p for p in problems([], {}, extra, True, {})):
        failures.append("a field without a schema key was not reported")
    # The exemption list cannot go stale: a listed key that is read, or that left the schema.
    listed = {"server.host": "a reason"}
    if not problems(["server.host"], {"lib/z.cpp": fake("f(s.server.host);")}, mini, False,
                    listed):
        failures.append("a NOT_READ_YET key that is read was not reported")
    if problems(["server.host"], {}, mini, False, listed):
        failures.append("a NOT_READ_YET key that is not read was reported")
    if not any("not in the schema" in p for p in problems([], {}, ({}, {}), True, listed)):
        failures.append("a NOT_READ_YET key missing from the schema was not reported")
    for f in failures:
        print("FAIL self-test: " + f)
    if not failures:
        print("ok   self-test: a planted unread key or field is reported")
    return 1 if failures else 0


STRING_READ = re.compile(
    r"""\b(?:str|integer|number|flag|duration|size|list|value)\(\s*"([a-z_]+(?:\.[a-z_]+)*)"\s*\)""")


def string_reads(source):
    """Reads of a schema key by its name outside lib/config: "FILE:LINE: text" for each."""
    root = pathlib.Path(source)
    found = []
    for top in ("lib", "cli"):
        for path in sorted((root / top).rglob("*")):
            rel = path.relative_to(root).as_posix()
            if path.suffix not in (".cpp", ".hpp") or rel.startswith("lib/config/"):
                continue
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if STRING_READ.search(line) and "default_str" not in line:
                    found.append(f"{rel}:{n}: {line.strip()} (read the typed settings instead)")
    return found


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
    layout = settings_layout((pathlib.Path(source) / SETTINGS_HPP).read_text())
    found = problems(keys, sources(source), layout)
    if not STRING_READS_ACCEPTED:
        found += string_reads(source)
    for p in found:
        print("FAIL " + p)
    print(f"{len(keys)} keys, {len(found)} problems")
    return 1 if found or failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
