#!/usr/bin/env python3
"""meta/lengths: no function in lib/ or cli/ longer than 120 lines and no file longer than 700
lines, except the table literals listed in TABLES (the configuration schema): a reader should
never have to hold more than a screenful or two of one function in mind.

A brace scan with comments, strings and preprocessor lines blanked out: a `{` after `)` at
namespace or class level opens a function, a `{` after `=` a table. Good enough for this code
base's style (clang-format, braces always); it errs towards reporting.

usage: check_lengths.py SOURCE_DIR             (the self-test, then the check)
"""
import os, re, sys, tempfile

MAX_FUNCTION = 120
MAX_FILE = 700
# Table literals: data, not logic (one row per key), allowed to be long, and the files holding them.
TABLES = {"lib/config/schema.cpp": "the configuration schema, one row per key"}

def strip(src):
    out = []; i = 0; n = len(src)
    while i < n:
        c = src[i]
        if src.startswith('//', i):
            j = src.find('\n', i); j = n if j < 0 else j
            out.append(' ' * (j - i)); i = j
        elif src.startswith('/*', i):
            j = src.find('*/', i + 2); j = n if j < 0 else j + 2
            out.append(''.join(ch if ch == '\n' else ' ' for ch in src[i:j])); i = j
        elif c == 'R' and src.startswith('R"', i) and (i == 0 or not (src[i-1].isalnum() or src[i-1]=='_')):
            m = re.match(r'R"([^(\s]*)\(', src[i:])
            end = src.find(')' + m.group(1) + '"', i)
            j = end + len(m.group(1)) + 2
            out.append('""' + ''.join('\n' for ch in src[i:j] if ch == '\n')); i = j
        elif c == '"' or (c == "'" and not (i > 0 and src[i-1].isalnum())):
            q = c; j = i + 1
            while j < n and src[j] != q:
                if src[j] == '\\': j += 1
                j += 1
            out.append(q + ''.join('\n' for ch in src[i+1:j] if ch == '\n') + q); i = j + 1
        else:
            out.append(c); i += 1
    return ''.join(out)

CTRL = re.compile(r'\b(if|for|while|switch|catch|do|else|try)\b\s*(\(|$|\{)')
def scan(path, fmax):
    src = open(path, encoding='utf-8').read()
    s = strip(src)
    s = re.sub(r'(?m)^[ \t]*#.*$', lambda m: ' ' * len(m.group(0)), s)
    stack = []  # (kind, start_line, name)
    res = []
    last = 0  # index after last ; { }
    for i, c in enumerate(s):
        if c in ';{}':
            if c == '{':
                head = s[last:i]
                outer = stack[-1][0] if stack else 'ns'
                h = ' '.join(head.split())
                if outer in ('ns', 'class'):
                    if re.match(r'^(inline\s+)?namespace\b', h) or h.startswith('extern "C"'):
                        kind = 'ns'
                    elif re.search(r'\b(class|struct|union|enum)\b', h) and '(' not in h.split(':')[0]:
                        kind = 'class'
                    elif ')' in h and not re.search(r'=\s*$', h) and not re.search(r'\]\s*=', h):
                        kind = 'fn'
                    else:
                        kind = 'table'
                else:
                    kind = 'inner'
                # start line: first non-blank char of head
                k = last
                while k < i and s[k].isspace(): k += 1
                line = s.count('\n', 0, k) + 1
                name = re.sub(r'\s*\(.*', '', h)[-80:] if kind in ('fn',) else h[:60]
                stack.append((kind, line, name))
            elif c == '}':
                if stack:
                    kind, line, name = stack.pop()
                    end = s.count('\n', 0, i) + 1
                    if kind in ('fn', 'table') and end - line + 1 > fmax:
                        res.append((end - line + 1, path, line, kind, name))
            last = i + 1
        elif c == ':' and stack and stack[-1][0] == 'class' and re.search(r'\b(public|private|protected)\s*$', s[last:i]):
            last = i + 1
    return res, src.count('\n')


def check(root):
    problems = []
    for d in ("lib", "cli"):
        for dp, _, fs in os.walk(os.path.join(root, d)):
            for f in sorted(fs):
                if not f.endswith((".cpp", ".hpp", ".h", ".cc")):
                    continue
                p = os.path.join(dp, f)
                rel = os.path.relpath(p, root).replace(os.sep, "/")
                found, lines = scan(p, MAX_FUNCTION)
                for n, _, line, kind, name in found:
                    if kind == "table" and rel in TABLES:
                        continue
                    problems.append(f"{rel}:{line}: {name} is {n} lines (at most {MAX_FUNCTION}); "
                                    "split it where a reader would")
                if lines > MAX_FILE and rel not in TABLES:
                    problems.append(f"{rel}: {lines} lines (at most {MAX_FILE}); split it by concern")
    return problems


def self_test():
    """A planted long function and a long file are reported; a short one is not."""
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "lib", "x"))
        with open(os.path.join(tmp, "lib", "x", "long.cpp"), "w") as out:
            out.write("namespace a {\nint f(int x) {\n" + "    x += 1;\n" * 130 + "    return x;\n}\n}\n")
        with open(os.path.join(tmp, "lib", "x", "big.cpp"), "w") as out:
            out.write("".join(f"int g{i}() {{\n    return {i};\n}}\n" for i in range(240)))
        with open(os.path.join(tmp, "lib", "x", "short.cpp"), "w") as out:
            out.write("int h() {\n    return 1;\n}\n")
        found = check(tmp)
        ok = (any("long.cpp:2: int f is" in p for p in found) and any(p.startswith("lib/x/big.cpp: 720 lines") for p in found)
              and not any("short.cpp" in p for p in found))
        print(("ok  " if ok else "FAIL") + " self-test: a planted long function and long file are reported")
        if not ok:
            print("\n".join(found))
        return ok


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    ok = self_test()
    problems = check(argv[0])
    for p in problems:
        print("FAIL " + p)
    print(f"{len(problems)} function(s) or file(s) over the limits")
    return 0 if ok and not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
