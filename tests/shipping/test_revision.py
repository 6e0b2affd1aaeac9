#!/usr/bin/env python3
"""The revision the binary reports is the commit it was built from: the dataflow_build_info
metric of `dataflow serve` carries `git rev-parse --short=12 HEAD` of the source checkout, or the
-DDATAFLOW_REVISION override when the build was configured with one. The revision is stamped at
build time (lib/util/revision.cmake), so after a new commit and a rebuild this still holds.
Outside a git checkout (a source tarball) there is nothing to compare with: skipped (exit 77).

usage: test_revision.py path/to/dataflow SOURCE_DIR [--override=REVISION]
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

SKIP = 77


def expected_revision(source, override):
    if override:
        return override, f"the -DDATAFLOW_REVISION override {override!r}"
    r = subprocess.run(["git", "rev-parse", "--show-toplevel", "--short=12", "HEAD"], cwd=source,
                       capture_output=True, text=True, check=False)
    lines = r.stdout.split()
    if r.returncode != 0 or len(lines) != 2 or \
            os.path.realpath(lines[0]) != os.path.realpath(source):
        print(f"skipped: {source} is not a git checkout, so there is no HEAD to compare the"
              f" reported revision with ({r.stderr.strip() or 'git rev-parse gave no HEAD'})")
        sys.exit(SKIP)
    return lines[1], "git rev-parse --short=12 HEAD"


def reported_revision(binary, source):
    """Starts `dataflow serve` on a free loopback port (metrics on the API port, memory cache,
    the bundled catalogue, no upstream) and reads dataflow_build_info from /metrics."""
    with tempfile.TemporaryDirectory(prefix="dataflow-revision-") as tmp:
        for d in ("config", "secrets"):
            os.mkdir(os.path.join(tmp, d))
        env = {k: v for k, v in os.environ.items() if not k.startswith("DATAFLOW_")}
        env.update({
            "DATAFLOW_CONFIG_DIR": os.path.join(tmp, "config"),
            "DATAFLOW_SECRETS_DIR": os.path.join(tmp, "secrets"),
            "DATAFLOW_CACHE_BACKEND": "memory",
            "DATAFLOW_UPSTREAM_BASE_URL": "http://127.0.0.1:1/rest",
            "DATAFLOW_SERVER_DRAIN_DELAY": "0s",
        })
        log_path = os.path.join(tmp, "serve.log")
        with open(log_path, "w+b") as log:
            proc = subprocess.Popen(
                [binary, "serve", "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0",
                 "--catalog", os.path.join(source, "examples", "istat-dataflows-2020.xml")],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            try:
                port = None
                deadline = time.monotonic() + 20
                while port is None and time.monotonic() < deadline:
                    if proc.poll() is not None:
                        break
                    log.seek(0)
                    m = re.search(rb"listening on http://127\.0\.0\.1:(\d+)", log.read())
                    if m:
                        port = int(m.group(1))
                    else:
                        time.sleep(0.05)
                if port is None:
                    log.seek(0)
                    sys.exit(f"FAIL: dataflow serve did not start listening within 20 s:\n"
                             f"{log.read().decode(errors='replace')[-2000:]}")
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                    body = r.read().decode()
            finally:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait()
    m = re.search(r'^dataflow_build_info\{[^}]*\brevision="([^"]*)"', body, re.MULTILINE)
    if not m:
        sys.exit("FAIL: /metrics has no dataflow_build_info with a revision label:\n" +
                 "\n".join(l for l in body.splitlines() if "build_info" in l))
    return m.group(1)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--override=")]
    overrides = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--override=")]
    if len(args) != 2:
        sys.exit(__doc__.strip())
    binary, source = args
    want, source_of_want = expected_revision(source, overrides[-1] if overrides else "")
    got = reported_revision(binary, source)
    if got != want:
        sys.exit(f"FAIL: the binary reports revision {got!r}, {source_of_want} is {want!r}:"
                 " the build did not stamp the current revision (lib/util/revision.cmake)")
    print(f"revision OK: dataflow_build_info revision=\"{got}\" = {source_of_want}")


if __name__ == "__main__":
    main()
