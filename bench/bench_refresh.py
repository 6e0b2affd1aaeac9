#!/usr/bin/env python3
"""Conditional catalogue refresh: generates a 5,000-dataflow ISTAT-shaped catalogue
(bench/gen_catalog.py, into bench/data/, git-ignored), starts a throw-away redis-server on a free
loopback port, and runs build/bench_refresh: the CPU time of a refresh the upstream answers with
304 (memory and Redis cache), next to a refresh that downloads and parses again. Every step has a
deadline.

  cmake --build build --target bench_refresh && python3 bench/bench_refresh.py
"""
import argparse, os, socket, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "bench_refresh"))
    ap.add_argument("--count", type=int, default=5000)
    a = ap.parse_args()
    data = os.path.join(ROOT, "bench", "data")
    os.makedirs(data, exist_ok=True)
    catalogue = os.path.join(data, f"catalog-{a.count}.xml")
    if not os.path.exists(catalogue):
        with open(catalogue, "wb") as out:
            subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen_catalog.py"),
                            "--count", str(a.count)], stdout=out, check=True, timeout=300)
    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        subprocess.run([a.binary, catalogue, str(port)], check=True, timeout=600)
    finally:
        redis.kill()
        redis.wait()

if __name__ == "__main__":
    main()
