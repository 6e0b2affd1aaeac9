#!/usr/bin/env python3
"""Benchmark `dataflow analyze` as a whole process: wall time (median of N runs) and peak RSS.

Generates its own inputs with gen_catalog.py (5,000 and 50,000 dataflows) into bench/data/,
then runs `dataflow analyze FILE -o json > /dev/null` N times per input, interleaved so that
machine noise hits every input alike. Prints medians and the 50k/5k ratio (linearity check).

    bench/bench_analyze.py [--binary build/cli/dataflow] [--runs 5]
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def ensure_input(count):
    path = os.path.join(HERE, "data", f"catalog-{count // 1000}k.xml")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "wb") as out:
            subprocess.run([sys.executable, os.path.join(HERE, "gen_catalog.py"), "--count", str(count)],
                           stdout=out, check=True)
        os.replace(path + ".tmp", path)
    return path


def run_once(binary, path, fmt, extra):
    with open(os.devnull, "wb") as devnull:
        start = time.perf_counter()
        proc = subprocess.Popen([binary, "analyze", path, "-o", fmt] + extra, stdout=devnull)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{binary} failed on {path}")
    return wall, usage.ru_maxrss / 1024.0  # KiB -> MiB


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "cli", "dataflow"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--format", default="json")
    args = ap.parse_args()
    inputs = {n: ensure_input(n) for n in (5000, 50000)}
    variants = [("default limit", []), ("--limit 0", ["--limit", "0"])]
    for path in inputs.values():
        run_once(args.binary, path, args.format, [])  # warm the page cache
    walls = {(n, v): [] for n in inputs for v, _ in variants}
    rss = {(n, v): [] for n in inputs for v, _ in variants}
    for _ in range(args.runs):
        for n, path in inputs.items():
            for v, extra in variants:
                w, r = run_once(args.binary, path, args.format, extra)
                walls[(n, v)].append(w)
                rss[(n, v)].append(r)
    print(f"dataflow analyze FILE -o {args.format} [--limit 0] > /dev/null: {args.runs} runs each, "
          f"interleaved, {os.cpu_count()} cores")
    print(f"{'input':<16} {'options':<14} {'size':>9} {'median wall':>12} {'min':>9} {'max':>9} {'peak RSS':>10}")
    for n, path in inputs.items():
        size = os.path.getsize(path) / 1e6
        for v, _ in variants:
            k = (n, v)
            print(f"{os.path.basename(path):<16} {v:<14} {size:>7.1f}MB {statistics.median(walls[k]) * 1000:>10.1f}ms "
                  f"{min(walls[k]) * 1000:>7.1f}ms {max(walls[k]) * 1000:>7.1f}ms {max(rss[k]):>8.1f}MiB")
    for v, _ in variants:
        ratio = statistics.median(walls[(50000, v)]) / statistics.median(walls[(5000, v)])
        print(f"50k / 5k median wall ratio ({v}): {ratio:.2f} (target <= 10)")


if __name__ == "__main__":
    main()
