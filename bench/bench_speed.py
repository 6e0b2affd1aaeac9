#!/usr/bin/env python3
"""Issue 19's table, side by side in one run: the served catalogue against /health/live, POST
/api/analysis/dataflow against the reference port (bench/reference_service.py: FastAPI +
uvicorn, Debian's python3-fastapi), `dataflow analyze` against the reference algorithm, and the
SDMX-JSON catalogue against the same catalogue as SDMX-ML. Each round measures every row, the
two sides of a row back to back; the table gives medians over the rounds.

    cmake --build build && python3 bench/bench_speed.py [--rounds 3] [--duration 5] [--binary build/cli/dataflow]

Everything on 127.0.0.1 with wrk (2 threads, 16 connections) on the same 2 cores as the
servers. Inputs: the bundled 456-flow catalogue (POST body 0.27 MB) and the generated 5,000-flow
catalogue (bench/data/catalog-5k.xml / .json, gen_catalog.py). Every process has a deadline.
"""
import argparse, http.client, json, os, statistics, subprocess, sys, time

import bench_analyze
import bench_load
import bench_reference
import bench_serve

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORK = os.path.join(HERE, "data", "speed")
PYTHON = "/usr/bin/python3"  # Debian's, with python3-fastapi and python3-uvicorn
CONNECTIONS = 16


def post_script(body):
    path = os.path.join(WORK, "body.json")
    with open(path, "w") as f:
        f.write(body)
    script = os.path.join(WORK, "post.lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                f'local f = io.open("{path}")\nwrk.body = f:read("*a")\nf:close()\n')
    return script


def etag_script(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path)
    r = c.getresponse()
    r.read()
    etag = r.getheader("ETag")
    if not etag:
        sys.exit(f"GET {path} sent no ETag")
    c.request("GET", path, headers={"If-None-Match": etag})
    r = c.getresponse()
    r.read()
    if r.status != 304:
        sys.exit(f"GET {path} with If-None-Match answered {r.status}, not 304")
    script = os.path.join(WORK, "inm.lua")
    with open(script, "w") as f:
        f.write(f'wrk.headers["If-None-Match"] = {json.dumps(etag)}\n')
    return script


def reference_port():
    port = bench_load.free_port()
    p = subprocess.Popen([PYTHON, os.path.join(HERE, "reference_service.py"), "--port", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/health/live")
            if c.getresponse().status == 200:
                return p, port
        except OSError:
            time.sleep(0.1)
    p.kill()
    sys.exit("the reference port did not start (is python3-fastapi installed? "
             "scripts/install-deps.sh installs it)")


def analyze_pair(binary, path, other, runs):
    """`dataflow analyze path` and `other` (a callable timing one run) alternately: medians."""
    ours, theirs = [], []
    for _ in range(runs):
        ours.append(bench_analyze.run_once(binary, path, "json", [])["wall"])
        theirs.append(other())
    return statistics.median(ours), statistics.median(theirs)


def one_round(a, body_script, rows):
    url = lambda port, path: f"http://127.0.0.1:{port}{path}"
    p, port, _ = bench_serve.start()
    try:
        live = bench_serve.wrk(url(port, "/health/live"), a.duration, CONNECTIONS)
        listing = bench_serve.wrk(url(port, "/api/v1/dataflows?limit=20"), a.duration, CONNECTIONS)
        inm = bench_serve.wrk(url(port, "/api/v1/dataflows?limit=20"), a.duration, CONNECTIONS,
                              etag_script(port, "/api/v1/dataflows?limit=20"))
        analysis = bench_serve.wrk(url(port, "/api/analysis/dataflow"), a.duration, CONNECTIONS,
                                   body_script)
        peak = bench_serve.rss(p.pid)["VmHWM"]
    finally:
        bench_serve.stop(p)
    rp, rport = reference_port()
    try:
        ref = bench_serve.wrk(url(rport, "/api/analysis/dataflow"), a.duration, CONNECTIONS,
                              body_script)
    finally:
        rp.kill()
        rp.wait()
    xml5k = bench_analyze.ensure_input(5000, "xml")
    json5k = bench_analyze.ensure_input(5000, "json")
    ours, reference = analyze_pair(a.binary, xml5k,
                                   lambda: bench_reference.run_reference(xml5k, 300)["wall"],
                                   a.analyze_runs)
    js, xml = analyze_pair(a.binary, json5k,
                           lambda: bench_analyze.run_once(a.binary, xml5k, "json", [])["wall"],
                           a.analyze_runs)
    for key, value in [("live", live[0]), ("listing", listing[0]), ("listing_bad", listing[2]),
                       ("inm", inm[0]), ("analysis", analysis[0]), ("analysis_bad", analysis[2]),
                       ("reference", ref[0]), ("reference_bad", ref[2]), ("peak", peak),
                       ("analyze", ours * 1000), ("analyze_ref", reference * 1000),
                       ("json", js * 1000), ("xml", xml * 1000)]:
        rows.setdefault(key, []).append(value)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--analyze-runs", type=int, default=5, help="alternated runs per analyze row and round")
    ap.add_argument("--binary", default=bench_serve.BIN)
    a = ap.parse_args()
    a.binary = os.path.abspath(a.binary)
    bench_serve.BIN = a.binary
    os.makedirs(WORK, exist_ok=True)
    os.makedirs(bench_serve.WORK, exist_ok=True)
    body = json.dumps({"xml_content": open(bench_serve.CATALOG, encoding="utf-8").read(),
                       "include_tests": False})
    body_script = post_script(body)
    rows = {}
    for i in range(a.rounds):
        one_round(a, body_script, rows)
        print(f"round {i + 1} of {a.rounds}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in rows.items()),
              file=sys.stderr)
    m = {k: statistics.median(v) for k, v in rows.items()}
    tot = lambda k: int(sum(rows[k]))
    print(f"medians of {a.rounds} rounds; wrk -t2 -c{CONNECTIONS} -d{a.duration}s; analyze rows: "
          f"{a.analyze_runs} alternated runs per round; 2 cores")
    print("| what | ours | compared with | ratio | target |")
    print("|---|---|---|---|---|")
    print(f"| `GET /api/v1/dataflows?limit=20` (456 flows), 16 connections | {m['listing']:,.0f} req/s "
          f"(non-2xx {tot('listing_bad')}) | `/health/live` {m['live']:,.0f} req/s | "
          f"{m['listing'] / m['live'] * 100:.0f}% | ≥ 50% |")
    print(f"| the same with `If-None-Match` (304, no body) | {m['inm']:,.0f} req/s | `/health/live` "
          f"{m['live']:,.0f} req/s | {m['inm'] / m['live'] * 100:.0f}% | |")
    print(f"| `POST /api/analysis/dataflow` (456 flows, {len(body) / 1e6:.2f} MB, same body), 16 "
          f"connections, defaults | {m['analysis']:,.0f} req/s, non-2xx {tot('analysis_bad')} | "
          f"reference port {m['reference']:,.0f} req/s (non-2xx {tot('reference_bad')}) | "
          f"{m['analysis'] / m['reference']:.1f}× | 0 non-2xx, ≥ 10× |")
    print(f"| `dataflow analyze` 5,000 flows (11.7 MB), whole process | {m['analyze']:.1f} ms | "
          f"reference algorithm {m['analyze_ref']:.0f} ms | {m['analyze_ref'] / m['analyze']:.1f}× | ≥ 25× |")
    print(f"| SDMX-JSON catalogue of the same 5,000 flows | {m['json']:.1f} ms | SDMX-ML {m['xml']:.1f} ms "
          f"| {m['json'] / m['xml']:.2f}× | ≤ 1.5× |")
    print(f"serve peak RSS over a round (all rows): median {m['peak']:.1f} MiB")


if __name__ == "__main__":
    main()
