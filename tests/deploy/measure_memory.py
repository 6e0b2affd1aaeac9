#!/usr/bin/env python3
"""Measures the memory of `dataflow serve` under concurrent catalogue uploads, the figures the
Deployment's memory limit and GLIBC_TUNABLES are sized from (docs/OPERATIONS.md). Not a test:
a measurement to rerun after changes to the analysis or the server.

  python3 tests/deploy/measure_memory.py --binary build/cli/dataflow [--count 6000]

For each scenario it starts the server on loopback with the ConfigMap's limits
(server.max_concurrent_analyses, server.max_body_size, cache.memory_budget; memory cache,
no catalogue), posts N uploads of the generated catalogue at once, R rounds, and prints the
peak (VmHWM) and the resident size 1 s after the last round (VmRSS).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import deploylib as d  # noqa: E402

TUNED = "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=1048576"


def status_kib(pid, field):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def upload(port, body, boundary, results):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/analysis/dataflow/upload?include_tests=false"
        f"&max_results={uuid.uuid4().int % 900 + 1}", data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            results.append(r.status)
    except urllib.error.HTTPError as e:
        results.append(e.code)


def scenario(catalogue, concurrency, rounds, tunables, limits):
    procs = d.Processes()
    try:
        api, metrics = d.free_port(), d.free_port()
        env = d.clean_env(dict(limits, DATAFLOW_CATALOG_MODE="off",
                               DATAFLOW_SERVER_HOST="127.0.0.1",
                               DATAFLOW_SERVER_PORT=str(api),
                               DATAFLOW_SERVER_METRICS_PORT=str(metrics)))
        env.pop("GLIBC_TUNABLES", None)
        if tunables:
            env["GLIBC_TUNABLES"] = tunables
        p = procs.start([d.BINARY, "serve"], env=env, name="serve")
        d.wait_until("serve", lambda: d.http_get(f"http://127.0.0.1:{api}/health/ready")[0]
                     == 200, 10)
        idle = status_kib(p.pid, "VmRSS")
        boundary = uuid.uuid4().hex
        with open(catalogue, "rb") as f:
            body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                    f"filename=\"c.xml\"\r\n\r\n").encode() + f.read() + \
                f"\r\n--{boundary}--\r\n".encode()
        codes = []
        for _ in range(rounds):
            threads = [threading.Thread(target=upload, args=(api, body, boundary, codes))
                       for _ in range(concurrency)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        time.sleep(1)
        return idle, status_kib(p.pid, "VmHWM"), status_kib(p.pid, "VmRSS"), codes
    finally:
        procs.close()


def main():
    argv = d.parse_args(__doc__)
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=6000, help="dataflows (6000: ~14 MB)")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv[1:])
    tmp = tempfile.mkdtemp(prefix="dataflow-mem-")
    try:
        measure(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure(args, tmp):
    catalogue = os.path.join(tmp, "catalogue.xml")
    with open(catalogue, "wb") as out:
        subprocess.run([sys.executable, d.src("bench", "gen_catalog.py"), "--count",
                        str(args.count)], stdout=out, check=True)
    size = os.path.getsize(catalogue) / 1e6
    config_dir, secrets_dir, _ = d.write_config_dirs(os.path.join(tmp, "pod"),
                                                     "k8s/overlays/prod")
    cfg = d.effective_config(config_dir, secrets_dir)
    limits = {"DATAFLOW_SERVER_MAX_CONCURRENT_ANALYSES":
              str(cfg["server"]["max_concurrent_analyses"]),
              "DATAFLOW_SERVER_MAX_BODY_SIZE": cfg["server"]["max_body_size"],
              "DATAFLOW_CACHE_MEMORY_BUDGET": cfg["cache"]["memory_budget"]}
    print(f"catalogue {size:.1f} MB ({args.count} dataflows), {args.rounds} rounds; "
          f"{', '.join(f'{k}={v}' for k, v in limits.items())}")
    print(f"{'uploads at once':>16} {'GLIBC_TUNABLES':>15} {'idle':>9} {'peak':>9} "
          f"{'after':>9}  answers")
    for concurrency in (1, 2, 8):
        for tunables in ("", TUNED):
            idle, peak, after, codes = scenario(catalogue, concurrency, args.rounds, tunables,
                                                limits)
            summary = ", ".join(f"{codes.count(c)}x{c}" for c in sorted(set(codes)))
            print(f"{concurrency:>16} {'tuned' if tunables else 'default':>15} "
                  f"{idle / 1024:>7.1f}Mi {peak / 1024:>7.1f}Mi {after / 1024:>7.1f}Mi  {summary}")


if __name__ == "__main__":
    main()
