#!/usr/bin/env python3
"""The guards that keep a green run honest catch what they are there for.

1. A test binary whose filters select no case fails (tests/support/main.cpp), whether the
   filter matches nothing or is a CTest entry made from a name that CMake split at ';'.
2. scripts/check-cases-ran.py fails when a defined case never ran, and passes when all did.

usage: test_guards.py SOURCE_DIR BUILD_DIR
"""
import os
import subprocess
import sys
import tempfile

failures = []


def expect(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what + (": " + detail if detail else ""))


def main():
    source, build = sys.argv[1], sys.argv[2]
    unit = os.path.join(build, "tests", "unit_tests")
    checker = os.path.join(source, "scripts", "check-cases-ran.py")

    # 1. Zero selected cases is a failure, with a message that says so.
    for filt in ["--test-case=no such case anywhere", "--test-case=ties keep the earlier rule"]:
        r = subprocess.run([unit, filt], capture_output=True, text=True, timeout=60)
        expect(f"unit_tests {filt!r} exits non-zero", r.returncode != 0, f"exit {r.returncode}")
        expect(f"unit_tests {filt!r} says no case was selected",
               "select no test case" in r.stderr, r.stderr[-300:])
    # ... while a filter that selects a case passes, and listing is not a run.
    r = subprocess.run([unit, "--test-case=summary lists every category with its count"],
                       capture_output=True, text=True, timeout=60)
    expect("a filter that selects one case passes", r.returncode == 0, r.stdout[-300:])
    r = subprocess.run([unit, "--list-test-cases"], capture_output=True, text=True, timeout=60)
    expect("--list-test-cases is not refused", r.returncode == 0, r.stderr[-300:])
    names = [l for l in r.stdout.splitlines() if l and not l.startswith("[doctest]")
             and set(l) != {"="}]
    for binary in ["unit_tests", "integration_tests", "e2e_tests", "cluster_tests", "fault_tests"]:
        r = subprocess.run([os.path.join(build, "tests", binary), "--list-test-cases"],
                           capture_output=True, text=True, timeout=60)
        split = [l for l in r.stdout.splitlines() if ";" in l]
        expect(f"no case name of {binary} contains ';' (CMake would split it)",
               r.returncode == 0 and not split, ", ".join(split))

    # 2. The ran-versus-defined check.
    with tempfile.TemporaryDirectory() as ran:
        r = subprocess.run([sys.executable, checker, build, ran, "unit_tests"],
                           capture_output=True, text=True, timeout=120)
        expect("check-cases-ran fails when nothing ran", r.returncode == 1, r.stdout + r.stderr)
        expect("... and names a case that never ran", "never ran: " in r.stderr, r.stderr[-300:])
        with open(os.path.join(ran, "unit_tests.1.ran"), "w") as f:
            f.write("\n".join(names[:-1]) + "\n")
        r = subprocess.run([sys.executable, checker, build, ran, "unit_tests"],
                           capture_output=True, text=True, timeout=120)
        expect("check-cases-ran names the one case left out",
               r.returncode == 1 and repr(names[-1]) in r.stderr, r.stderr[-300:])
        with open(os.path.join(ran, "unit_tests.2.ran"), "w") as f:
            f.write(names[-1] + "\n")
        r = subprocess.run([sys.executable, checker, build, ran, "unit_tests"],
                           capture_output=True, text=True, timeout=120)
        expect("check-cases-ran passes when every case ran", r.returncode == 0,
               r.stdout + r.stderr)
        expect("... and counts them", f"cases: {len(names)} defined, {len(names)} ran" in r.stdout,
               r.stdout)

    # The binary's own log: one run records the case it started.
    with tempfile.TemporaryDirectory() as ran:
        env = dict(os.environ, TEST_CASES_RAN_DIR=ran)
        subprocess.run([unit, "--test-case=summary lists every category with its count"],
                       capture_output=True, text=True, timeout=60, env=env)
        logged = "".join(open(os.path.join(ran, f)).read() for f in os.listdir(ran))
        expect("a run logs the case it started",
               logged == "summary lists every category with its count\n", repr(logged))

    print(f"{len(failures)} failed" if failures else "all guards hold")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
