#!/usr/bin/env python3
"""`dataflow serve` figures: time from exec to ready, idle and loaded RSS, /health/live throughput
and p99 under wrk (64 connections), the served catalogue (GET /api/v1/dataflows), and POST
/api/analysis/dataflow with the bundled 456-flow
ISTAT catalogue, cold (cache off) and cached. Everything on 127.0.0.1; the server and wrk share
the machine's cores.

  cmake --build build && python3 bench/bench_serve.py [--duration 10] [--binary build/cli/dataflow]

Generated files (the request body, wrk's Lua script, an empty configuration directory) go to
bench/data/serve/. Every server start, request and wrk run has a deadline.
"""
import argparse, json, os, re, statistics, subprocess, sys, threading, time, http.client

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.join(ROOT, "build", "cli", "dataflow")
CATALOG = os.path.join(ROOT, "examples", "istat-dataflows-2020.xml")
WORK = os.path.join(HERE, "data", "serve")


def start(extra_env=None, limit=30):
    cfg = os.path.join(WORK, "empty-config")
    os.makedirs(cfg, exist_ok=True)
    env = dict(os.environ)
    env.update({"DATAFLOW_CONFIG_DIR": cfg, "DATAFLOW_SECRETS_DIR": cfg,
                "DATAFLOW_UPSTREAM_BASE_URL": "http://127.0.0.1:1/rest",
                "DATAFLOW_SERVER_DRAIN_DELAY": "0s"})
    env.update(extra_env or {})
    t0 = time.perf_counter()
    p = subprocess.Popen([BIN, "serve", "--port", "0", "--metrics-port", "0", "--host", "127.0.0.1",
                          "--catalog", CATALOG, "--log-format", "json"],
                         stderr=subprocess.PIPE, env=env, text=True)
    killer = threading.Timer(limit, p.kill)  # a server that never gets ready is killed
    killer.start()
    port = None
    while port is None:
        line = p.stderr.readline()
        if not line:
            sys.exit("serve exited: " + str(p.wait()))
        m = re.search(r"listening on http://127.0.0.1:(\d+)", line)
        if m:
            port = int(m.group(1))
    while True:
        if p.poll() is not None:
            sys.exit(f"serve exited ({p.returncode}) before /health/startup answered 200")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/health/startup")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
    ready = time.perf_counter() - t0
    killer.cancel()
    # Drain stderr so the server never blocks on a full pipe.
    subprocess.Popen(["cat"], stdin=p.stderr, stdout=subprocess.DEVNULL)
    return p, port, ready


def stop(p):
    p.terminate()
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def rss(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024.0
    return out


def wrk(url, duration, connections, script=None):
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if script:
        cmd[1:1] = ["-s", script]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, float(p99.group(1)) * scale, int(non2xx.group(1)) if non2xx else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--starts", type=int, default=10)
    ap.add_argument("--binary", default=BIN)
    a = ap.parse_args()
    globals()["BIN"] = a.binary

    readies = []
    for _ in range(a.starts):
        p, port, ready = start()
        readies.append(ready * 1000)
        stop(p)
    print(f"exec to /health/startup 200: median {statistics.median(readies):.1f} ms "
          f"(min {min(readies):.1f}, max {max(readies):.1f}, {a.starts} starts)")

    p, port, _ = start()
    time.sleep(1)
    print(f"idle RSS: {rss(p.pid)['VmRSS']:.1f} MiB")
    rps, p99, bad = wrk(f"http://127.0.0.1:{port}/health/live", a.duration, 16)
    print(f"GET /health/live, 16 connections (= server.threads, the default), {a.duration} s: "
          f"{rps:.0f} req/s, p99 {p99:.2f} ms, non-2xx {bad}")
    rps, p99, bad = wrk(f"http://127.0.0.1:{port}/health/live", a.duration, 64)
    print(f"GET /health/live, 64 connections, server.threads 16: {rps:.0f} req/s, p99 {p99:.2f} ms")
    rps, p99, bad = wrk(f"http://127.0.0.1:{port}/api/v1/dataflows?limit=20", a.duration, 16)
    print(f"GET /api/v1/dataflows?limit=20 (served catalogue, 456 flows), 16 connections, "
          f"{a.duration} s: {rps:.0f} req/s, p99 {p99:.2f} ms, non-2xx {bad}")
    stop(p)
    # cpp-httplib serves a keep-alive connection on one worker: give each connection a thread.
    p, port, _ = start({"DATAFLOW_SERVER_THREADS": "64"})
    runs = [wrk(f"http://127.0.0.1:{port}/health/live", a.duration, 64) for _ in range(3)]
    runs.sort(key=lambda r: r[1])
    rps, p99, bad = runs[1]
    print(f"GET /health/live, 64 connections, server.threads 64, median of 3 runs: {rps:.0f} req/s, "
          f"p99 {p99:.2f} ms (p99s {', '.join(f'{r[1]:.2f}' for r in runs)}), non-2xx {bad}")
    body = json.dumps({"xml_content": open(CATALOG, encoding="utf-8").read(), "include_tests": False})
    tmp = WORK
    with open(os.path.join(tmp, "body.json"), "w") as f:
        f.write(body)
    script = os.path.join(tmp, "post.lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                f'local f = io.open("{tmp}/body.json")\nwrk.body = f:read("*a")\nf:close()\n')
    rps, p99, bad = wrk(f"http://127.0.0.1:{port}/api/analysis/dataflow", a.duration, 4, script)
    print(f"POST /api/analysis/dataflow (456 flows, {len(body) / 1e6:.2f} MB), cached, 4 connections: "
          f"{rps:.0f} req/s, p99 {p99:.1f} ms, non-2xx {bad}")
    print(f"RSS after load: {rss(p.pid)['VmRSS']:.1f} MiB (peak {rss(p.pid)['VmHWM']:.1f} MiB)")
    stop(p)

    p, port, _ = start({"DATAFLOW_CACHE_MEMORY_BUDGET": "0"})
    rps, p99, bad = wrk(f"http://127.0.0.1:{port}/api/analysis/dataflow", a.duration, 4, script)
    print(f"POST /api/analysis/dataflow (456 flows), cold (no cache), 4 connections: "
          f"{rps:.0f} req/s, p99 {p99:.1f} ms, non-2xx {bad}")
    print(f"RSS under cold load: peak {rss(p.pid)['VmHWM']:.1f} MiB")
    stop(p)


if __name__ == "__main__":
    main()
