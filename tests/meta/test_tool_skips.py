#!/usr/bin/env python3
"""Tests that need an optional tool skip with a reason when it is missing, and fail instead in
CI or under scripts/test.sh (tests/support/need-tools.sh).

1. Every test of the labels deploy, image and fuzz and the shipping tests that need shellcheck,
   zsh, fish or mandoc run through need-tools.sh, and CTest knows its skip code (77).
2. For two representative tests, run as CTest would run them but with a PATH without the tool
   (fish for shipping/completions, node for deploy/k8s-schema-catches-mistakes): exit 77 and
   "skipped: needs TOOL (...)"; with REQUIRE_ALL_TOOLS=1 or CI=true, exit 1 naming it.
3. need-tools.sh passes the command's exit status through when nothing is missing.

usage: test_tool_skips.py BUILD_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

failures = []
VAR = "REQUIRE_ALL_TOOLS"
WRAPPED_SHIPPING = {"shipping/completions", "shipping/man-pages", "shipping/revision"}


def expect(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what + (": " + detail if detail else ""))


def ctest_tests(build, tmp):
    """{name: (command, properties)} as `ctest --show-only=json-v1` lists them. ctest writes
    Testing/Temporary/LastTest.log even then, so it reads copies of the build's CTestTestfile.cmake
    files (they include the rest by absolute path): never the log of the ctest running this."""
    copy = os.path.join(tmp, "ctest-files")
    for root, _, files in os.walk(build):
        if "CTestTestfile.cmake" in files:
            target = os.path.join(copy, os.path.relpath(root, build))
            os.makedirs(target, exist_ok=True)
            shutil.copy(os.path.join(root, "CTestTestfile.cmake"), target)
    r = subprocess.run(["ctest", "--show-only=json-v1"], cwd=copy, capture_output=True,
                       text=True, check=True, timeout=60)
    tests = {}
    for t in json.loads(r.stdout)["tests"]:
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        tests[t["name"]] = (t.get("command", []), props)
    return tests


def path_without(tool, tmp):
    """A directory of links to every program on PATH except `tool`."""
    shadow = os.path.join(tmp, f"path-without-{tool}")
    if os.path.isdir(shadow):
        return shadow
    os.mkdir(shadow)
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            target = os.path.join(d, name)
            link = os.path.join(shadow, name)
            if name != tool and not os.path.lexists(link) and os.access(target, os.X_OK):
                os.symlink(target, link)
    return shadow


def run_without(tool, command, props, tmp, extra_env):
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "REQUIRE_ALL_TOOLS")}
    env["PATH"] = path_without(tool, tmp)
    env.update(extra_env)
    return subprocess.run(command, cwd=props.get("WORKING_DIRECTORY"), env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def check_wrapping(tests):
    """1. Every test that needs an optional tool is wrapped, with CTest's skip code."""
    needing = [n for n, (_, props) in tests.items()
               if set(props.get("LABELS", [])) & {"deploy", "image", "fuzz"}
               or n in WRAPPED_SHIPPING]
    expect("the build has tests that need optional tools", len(needing) >= 5, str(needing))
    for name in sorted(needing):
        command, props = tests[name]
        wrapped = any(c.endswith("/need-tools.sh") for c in command[:2])
        expect(f"{name} runs through need-tools.sh with SKIP_RETURN_CODE 77",
               wrapped and props.get("SKIP_RETURN_CODE") == 77,
               f"command {command[:4]}, SKIP_RETURN_CODE {props.get('SKIP_RETURN_CODE')}")
    return next((c for n in needing for c in tests[n][0] if c.endswith("/need-tools.sh")), None)


def check_skips(tests, tmp):
    """2. Without the tool: skipped with the reason; failed when every tool is required."""
    for name, tool in [("shipping/completions", "fish"),
                       ("deploy/k8s-schema-catches-mistakes", "node")]:
        if name not in tests:
            expect(f"{name} is a test of this build", False)
            continue
        command, props = tests[name]
        r = run_without(tool, command, props, tmp, {})
        expect(f"{name} without {tool} on PATH: exit 77 (skipped)", r.returncode == 77,
               f"exit {r.returncode}: {r.stdout[-300:]}{r.stderr[-300:]}")
        expect(f"... and says why: 'skipped: needs {tool} (...)'",
               f"skipped: needs {tool} (" in r.stdout, r.stdout[-300:])
        for extra in ({"REQUIRE_ALL_TOOLS": "1"}, {"CI": "true"}):
            r = run_without(tool, command, props, tmp, extra)
            setting = " ".join(f"{k}={v}" for k, v in extra.items())
            expect(f"{name} without {tool}, {setting}: exit 1 (failed, not skipped)",
                   r.returncode == 1, f"exit {r.returncode}: {r.stdout[-300:]}")
            expect(f"... naming {tool}", f"needs {tool} (" in r.stderr, r.stderr[-300:])


def check_passthrough(helper):
    """3. Tools present: the command runs and its exit status is the test's."""
    r = subprocess.run(["bash", helper, "bash", "--", "bash", "-c", "echo ran; exit 3"],
                       capture_output=True, text=True, timeout=30, check=False)
    expect("need-tools.sh runs the command when its tools are there, exit status kept",
           r.returncode == 3 and r.stdout == "ran\n", f"exit {r.returncode}: {r.stdout}")
    r = subprocess.run(["bash", helper, "bash", "bash", "-c", "true"], capture_output=True,
                       text=True, timeout=30, check=False)
    expect("need-tools.sh without '--' is a usage error (exit 2)", r.returncode == 2,
           f"exit {r.returncode}")


def main():
    build = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="dataflow-tool-skips-") as tmp:
        tests = ctest_tests(build, tmp)
        helper = check_wrapping(tests)
        check_skips(tests, tmp)
        if helper:
            check_passthrough(helper)
    print(f"{len(failures)} failed" if failures else "tool skips OK")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
