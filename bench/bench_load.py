#!/usr/bin/env python3
"""Load and capacity figures for `dataflow serve` (issue #8), everything on 127.0.0.1:

  1. throughput and latency percentiles (p50/p95/p99) at 16/64/256 connections for
     GET /health/ready, cached GET /api/v1/dataflows and POST /api/analysis/dataflow (the bundled
     456-flow catalogue), the server's RSS at each level, and how many requests were shed
     (503 + Retry-After) instead of queued;
  2. exec to ready, and exec to the first served catalogue from a cold Redis (fetched from the
     upstream) and from a warm one (a restarted replica);
  3. a soak run (--soak SECONDS at --soak-rate requests/s): RSS and open fds sampled every 10 s,
     every non-2xx counted.

  cmake --build build && python3 bench/bench_load.py [--duration 8] [--soak 600] [--binary build/cli/dataflow]

Generated files (request body, wrk's Lua script, an empty configuration directory) go to
bench/data/load/; every wrk run, request and server stop has a deadline.

The server runs with the defaults (server.threads 16, server.max_concurrent_analyses 4) unless
--threads is given; wrk uses 2 threads and shares the 2 cores with the server.
"""
import argparse, http.client, http.server, json, os, re, shutil, socket, statistics
import subprocess, sys, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.join(ROOT, "build", "cli", "dataflow")
CATALOG = os.path.join(ROOT, "examples", "istat-dataflows-2020.xml")
WORK = os.path.join(HERE, "data", "load")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(env_extra, args=()):
    cfg = os.path.join(WORK, "empty-config")
    os.makedirs(cfg, exist_ok=True)
    env = dict(os.environ)
    env.update({"DATAFLOW_CONFIG_DIR": cfg, "DATAFLOW_SECRETS_DIR": cfg,
                "DATAFLOW_UPSTREAM_BASE_URL": "http://127.0.0.1:1/rest",
                "DATAFLOW_SERVER_DRAIN_DELAY": "0s", "DATAFLOW_LOG_LEVEL": "warn"})
    env.update(env_extra)
    port = free_port()
    t0 = time.perf_counter()
    p = subprocess.Popen([BIN, "serve", "--port", str(port), "--metrics-port", "0",
                          "--host", "127.0.0.1", *args],
                         stderr=subprocess.DEVNULL, env=env)
    return p, port, t0


def get(port, path, timeout=2):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("GET", path)
    r = c.getresponse()
    return r.status, r.read()


def wait_status(port, path, p, limit=30):
    end = time.perf_counter() + limit
    while time.perf_counter() < end:
        if p.poll() is not None:
            sys.exit(f"serve exited with {p.returncode}")
        try:
            if get(port, path)[0] == 200:
                return time.perf_counter()
        except OSError:
            pass
        time.sleep(0.002)
    sys.exit(f"{path} never answered 200")


def stop(p):
    p.terminate()
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024.0
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


class RssSampler:
    """Peak VmRSS of a process while a block runs (sampled every 20 ms)."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, 0.0, False

    def __enter__(self):
        def run():
            while not self.stop:
                self.peak = max(self.peak, proc_status(self.pid)["VmRSS"])
                time.sleep(0.02)
        self.t = threading.Thread(target=run)
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop = True
        self.t.join()


def wrk(url, duration, connections, script=None):
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "30s",
           url]
    if script:
        cmd[1:1] = ["-s", script]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=duration + 90).stdout

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", out)
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": rps, "p50": pct(50), "p90": pct(90), "p99": pct(99), "total": total,
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0}


def levels(a, tmp):
    env = {}
    if a.threads:
        env["DATAFLOW_SERVER_THREADS"] = str(a.threads)
    p, port, _ = start(env, ["--catalog", CATALOG])
    wait_status(port, "/health/ready", p)
    base = f"http://127.0.0.1:{port}"
    body = json.dumps({"xml_content": open(CATALOG, encoding="utf-8").read(),
                       "include_tests": False})
    with open(os.path.join(tmp, "body.json"), "w") as f:
        f.write(body)
    script = os.path.join(tmp, "post.lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                f'local f = io.open("{tmp}/body.json")\nwrk.body = f:read("*a")\nf:close()\n')
    get(port, "/api/v1/dataflows?limit=20")  # warm the analysis of the served catalogue
    rows = []
    for name, url, scr in (("GET /health/ready", base + "/health/ready", None),
                           ("GET /api/v1/dataflows?limit=20 (cached)",
                            base + "/api/v1/dataflows?limit=20", None),
                           ("POST /api/analysis/dataflow (456 flows, cached)",
                            base + "/api/analysis/dataflow", script)):
        for conns in (16, 64, 256):
            with RssSampler(p.pid) as s:
                r = wrk(url, a.duration, conns, scr)
            r.update(name=name, conns=conns, rss_peak=s.peak)
            rows.append(r)
            print(f"{name:48} c={conns:<3} {r['rps']:8.0f} req/s  p50 {r['p50']:7.2f}  "
                  f"p90 {r['p90']:7.2f}  p99 {r['p99']:8.2f} ms  shed/non-2xx {r['non2xx']:5}  "
                  f"socket errors {r['socket_errors']}  RSS peak {s.peak:.1f} MiB", flush=True)
    stop(p)
    return rows


def fake_upstream():
    data = open(CATALOG, "rb").read()

    class H(http.server.BaseHTTPRequestHandler):
        calls = 0

        def do_GET(self):
            H.calls += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, H


def cold_warm():
    if not shutil.which("redis-server"):
        print("redis-server missing: cold/warm figures skipped")
        return
    rport = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    time.sleep(0.3)
    srv, handler = fake_upstream()
    env = {"DATAFLOW_CACHE_BACKEND": "redis", "DATAFLOW_REDIS_HOST": "127.0.0.1",
           "DATAFLOW_REDIS_PORT": str(rport), "DATAFLOW_CATALOG_MODE": "upstream",
           "DATAFLOW_UPSTREAM_BASE_URL": f"http://127.0.0.1:{srv.server_address[1]}/rest"}
    try:
        for label in ("cold Redis (fetched from the upstream)", "warm Redis (restarted replica)"):
            before = handler.calls
            p, port, t0 = start(env)
            ready = wait_status(port, "/health/ready", p) - t0
            served = wait_status(port, "/api/v1/dataflows?limit=1", p) - t0
            print(f"exec to ready {ready * 1000:.1f} ms; exec to first served catalogue, "
                  f"{label}: {served * 1000:.1f} ms; upstream calls {handler.calls - before}")
            stop(p)
    finally:
        redis.terminate()
        redis.wait(timeout=10)
        srv.shutdown()


def soak(a):
    p, port, _ = start({}, ["--catalog", CATALOG])
    wait_status(port, "/health/ready", p)
    paths = ["/health/ready", "/api/v1/dataflows?limit=20", "/api/v1/dataflows/101_1015",
             "/api/v1/dataflows?category=economia&limit=5"]
    counts = {"ok": 0, "bad": 0, "errors": 0}
    lock = threading.Lock()
    stop_at = time.perf_counter() + a.soak
    threads = 4
    interval = threads / a.soak_rate

    def worker(i):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        nxt = time.perf_counter() + i * interval / threads
        n = i
        while time.perf_counter() < stop_at:
            time.sleep(max(0.0, nxt - time.perf_counter()))
            nxt += interval
            try:
                c.request("GET", paths[n % len(paths)])
                r = c.getresponse()
                r.read()
                key = "ok" if r.status == 200 else "bad"
            except OSError:
                key = "errors"
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            n += threads
            with lock:
                counts[key] += 1

    ws = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in ws:
        w.start()
    samples = []
    t0 = time.perf_counter()
    while time.perf_counter() < stop_at:
        s = proc_status(p.pid)
        samples.append((time.perf_counter() - t0, s["VmRSS"], s["fds"]))
        time.sleep(10)
    for w in ws:
        w.join()
    s = proc_status(p.pid)
    samples.append((time.perf_counter() - t0, s["VmRSS"], s["fds"]))
    stop(p)
    rss = [x[1] for x in samples]
    fds = [x[2] for x in samples]
    total = sum(counts.values())
    print(f"soak {a.soak} s at {a.soak_rate} req/s: {total} requests, {counts['ok']} 200, "
          f"{counts['bad']} other statuses, {counts['errors']} transport errors")
    print(f"  RSS MiB first/after 60 s/last/max: {rss[0]:.1f} / "
          f"{rss[min(6, len(rss) - 1)]:.1f} / {rss[-1]:.1f} / {max(rss):.1f}; "
          f"open fds first/last/max: {fds[0]} / {fds[-1]} / {max(fds)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0, help="server.threads (default: 16)")
    ap.add_argument("--soak", type=int, default=0, help="soak seconds (0: skip)")
    ap.add_argument("--soak-rate", type=int, default=200)
    ap.add_argument("--skip-levels", action="store_true")
    ap.add_argument("--binary", default=BIN)
    a = ap.parse_args()
    globals()["BIN"] = a.binary
    tmp = WORK
    os.makedirs(tmp, exist_ok=True)
    if not a.skip_levels:
        levels(a, tmp)
    cold_warm()
    if a.soak:
        soak(a)


if __name__ == "__main__":
    main()
