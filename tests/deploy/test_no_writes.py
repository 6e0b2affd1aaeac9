#!/usr/bin/env python3
"""The pods run with readOnlyRootFilesystem and no emptyDir, because `dataflow serve` writes no
files. This test keeps it true: it runs the service as the Deployment does (deploylib.Service)
under strace, exercises it (every probe, metrics, an upload analysis, the served catalogue, a
configuration reload by SIGHUP and by a changed config file, shutdown) and fails on any system
call that would create, modify or remove a file.

  python3 tests/deploy/test_no_writes.py --source-dir . --binary build/cli/dataflow [-v]
"""

import json
import os
import re
import shutil
import signal
import sys
import time
import unittest
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deploylib as d  # noqa: E402

WRITING_CALLS = ["creat", "mkdir", "mkdirat", "rename", "renameat", "renameat2", "link",
                 "linkat", "symlink", "symlinkat", "unlink", "unlinkat", "rmdir", "truncate",
                 "mknod", "mknodat", "chmod", "fchmodat", "chown", "fchownat", "lchown",
                 "utimensat", "setxattr", "lsetxattr"]
OPEN_CALLS = ["open", "openat", "openat2"]
# Opening these for writing touches no file system the pod could make read-only.
HARMLESS = re.compile(r'"/(dev/(null|tty|urandom|random|pts/\d+)|proc/|sys/)')


class NoWrites(unittest.TestCase):
    def test_serve_writes_no_files(self):
        strace = shutil.which("strace")
        if strace is None:
            self.fail("strace not found: install it (apt-get install strace; "
                      "scripts/install-deps.sh lists it)")
        procs = d.Processes()
        self.addCleanup(procs.close)
        trace = os.path.join(procs.tmp, "strace.out")
        calls = ",".join(OPEN_CALLS + WRITING_CALLS)
        svc = d.Service(procs, "k8s/overlays/prod",
                        wrapper=[strace, "-f", "-qq", "-o", trace, "-e", f"trace={calls}"])
        self.addCleanup(svc.close)
        main = svc.main

        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            get = main[kind]["httpGet"]
            self.assertEqual(svc.get(get["path"], port=svc.ports[d.container_port(
                main, get["port"])])[0], 200, kind)
        self.assertEqual(svc.get("/health/status")[0], 200)
        self.assertEqual(svc.get("/metrics", port=svc.metrics)[0], 200)
        bearer = {"Authorization": f"Bearer {svc.token()}"}
        d.wait_until("the catalogue", lambda: svc.get(
            "/api/v1/dataflows?limit=5", headers=bearer)[0] == 200, 10)
        self.assertEqual(self.upload(svc, bearer), 200)

        # Reloads: SIGHUP (nothing changed), then a ConfigMap update (a new one-key file, swapped
        # in as the kubelet does), which the watcher applies.
        pid = traced_child(svc.process.pid)
        os.kill(pid, signal.SIGHUP)
        data = d.find(svc.objects, "ConfigMap", d.CONFIG_MAP)["data"]
        d.write_volume(svc.config_dir, dict(data, **{"log.slow_request_threshold": "2s\n"}))

        def applied():
            status = json.loads(svc.get("/health/status")[2])
            return status["config_reloads"]["applied"] >= 1
        d.wait_until("the configuration reload", applied, 10)

        os.kill(pid, signal.SIGTERM)
        svc.process.wait(timeout=60)

        with open(trace, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        self.assertTrue(any("dataflow.toml" in line for line in lines),
                        "strace recorded the binary's file accesses")
        writes = []
        for line in lines:
            m = re.match(r"\d+\s+(\w+)\(", line)
            if not m or "resumed>" in line:
                continue
            call = m.group(1)
            if call in WRITING_CALLS and " = -1 " not in line:
                writes.append(line)
            elif (call in OPEN_CALLS and re.search(r"O_(WRONLY|RDWR|CREAT|TRUNC|APPEND)", line)
                  and not HARMLESS.search(line)):
                writes.append(line)
        self.assertEqual(writes, [], "the binary writes files: the pods need an emptyDir there "
                                     "(k8s/base/deployment.yaml), or the binary must stop")

    @staticmethod
    def upload(svc, headers):
        """POST /api/analysis/dataflow/upload with the bundled catalogue (multipart)."""
        boundary = uuid.uuid4().hex
        with open(d.src("examples", "istat-dataflows-2020.xml"), "rb") as f:
            content = f.read()
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"catalogue.xml\"\r\nContent-Type: application/xml\r\n\r\n").encode() \
            + content + f"\r\n--{boundary}--\r\n".encode()
        req = urllib.request.Request(
            svc.url("/api/analysis/dataflow/upload?include_tests=false"), data=body,
            headers=dict(headers, **{"Content-Type": f"multipart/form-data; boundary={boundary}"}))
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status


def traced_child(strace_pid):
    """The pid of the program strace started (its only child)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{strace_pid}/task/{strace_pid}/children", encoding="ascii") as f:
                children = f.read().split()
        except FileNotFoundError:
            children = []
        if children:
            return int(children[0])
        time.sleep(0.02)
    raise AssertionError("cannot find the process strace runs")


if __name__ == "__main__":
    argv = d.parse_args(__doc__)
    unittest.main(argv=argv)
