#!/usr/bin/env python3
"""Cache throughput: starts a throw-away redis-server on a free loopback port (no
persistence), runs build/bench_cache against it, then `redis-benchmark -t ping,get -n 20000
-c 1` against the same server for scale (the loopback floor of one synchronous call), and stops
it. Every step has a deadline.

  cmake --build build --target bench_cache && python3 bench/bench_cache.py [--binary build/bench_cache]
"""
import argparse, csv, io, os, shutil, socket, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port

def redis_benchmark(port):
    """redis-benchmark's own figures for PING and GET, one connection, as one line."""
    if not shutil.which("redis-benchmark"):
        return "redis-benchmark missing: loopback floor skipped"
    out = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", "ping,get",
                          "-n", "20000", "-c", "1", "--csv"], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    parts = []
    for row in csv.DictReader(io.StringIO(out)):
        parts.append(f"{row['test']} {float(row['rps']):.0f}/s (p50 {float(row['p50_latency_ms']) * 1000:.0f} us)")
    return "redis-benchmark -t ping,get -n 20000 -c 1, same server: " + ", ".join(parts)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "bench_cache"))
    a = ap.parse_args()
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
        subprocess.run([a.binary, str(port)], check=True, timeout=600)
        sys.stdout.flush()
        print(redis_benchmark(port))
    finally:
        redis.kill()
        redis.wait()

if __name__ == "__main__":
    main()
