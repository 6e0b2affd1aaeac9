#!/usr/bin/env python3
"""Cache throughput: starts a throw-away redis-server on a free loopback port (no
persistence), runs build/bench_cache against it and stops it.

  cmake --build build --target bench_cache && python3 bench/bench_cache.py
"""
import os, socket, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port

def main():
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
        subprocess.run([os.path.join(ROOT, "build", "bench_cache"), str(port)], check=True)
    finally:
        redis.kill()
        redis.wait()

if __name__ == "__main__":
    main()
