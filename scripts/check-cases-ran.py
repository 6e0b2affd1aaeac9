#!/usr/bin/env python3
"""After a whole ctest pass: did every doctest case that the test binaries define run?

The test binaries (tests/support/main.cpp) append the name of each case they start to
$TEST_CASES_RAN_DIR/<binary>.<pid>.ran. This script lists each binary's cases
(--list-test-cases) and compares: a defined case that never started is an error, and so is a
log naming a case that no binary defines. It prints

    cases: N defined, N ran, N never ran

and exits 1 when they differ.

usage: check-cases-ran.py BUILD_DIR RAN_DIR [BINARY ...]
       (BINARY: names under BUILD_DIR/tests; default: every doctest binary found there)
"""
import os
import subprocess
import sys

DEFAULT_BINARIES = ["unit_tests", "integration_tests", "e2e_tests", "cluster_tests", "fault_tests"]


def defined_cases(binary):
    out = subprocess.run([binary, "--list-test-cases", "--no-version"], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    names = []
    for line in out.splitlines():
        if not line or line.startswith("[doctest]") or set(line) == {"="}:
            continue
        names.append(line)
    return names


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    build, ran_dir = argv[1], argv[2]
    wanted = argv[3:] or DEFAULT_BINARIES
    if not os.path.isdir(ran_dir):
        print(f"check-cases-ran: {ran_dir}: no such directory; run ctest with "
              f"TEST_CASES_RAN_DIR={ran_dir} first", file=sys.stderr)
        return 2
    ran = {}
    for entry in os.listdir(ran_dir):
        if not entry.endswith(".ran"):
            continue
        binary = entry.rsplit(".", 2)[0]
        with open(os.path.join(ran_dir, entry), encoding="utf-8", errors="replace") as f:
            ran.setdefault(binary, set()).update(line.rstrip("\n") for line in f if line.strip())

    total_defined = total_ran = 0
    problems = []
    for name in wanted:
        binary = os.path.join(build, "tests", name)
        if not os.path.exists(binary):
            problems.append(f"{name}: not built ({binary} missing)")
            continue
        defined = defined_cases(binary)
        dupes = sorted({n for n in defined if defined.count(n) > 1})
        for d in dupes:
            problems.append(f"{name}: two cases are named {d!r}; one of them can never be selected")
        started = ran.get(name, set())
        total_defined += len(defined)
        never = [n for n in defined if n not in started]
        total_ran += len(defined) - len(never)
        for n in never:
            problems.append(f"{name}: never ran: {n!r}")
        for n in sorted(started - set(defined)):
            problems.append(f"{name}: a log names {n!r}, which the binary does not define")

    print(f"cases: {total_defined} defined, {total_ran} ran, {total_defined - total_ran} never ran")
    for p in problems:
        print(f"check-cases-ran: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
