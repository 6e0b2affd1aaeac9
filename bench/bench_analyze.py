#!/usr/bin/env python3
"""Benchmark `dataflow analyze` as a whole process: wall time (median of N runs), CPU time, page
faults and peak RSS.

Generates its own inputs with gen_catalog.py into bench/data/: 5,000 and 50,000 dataflows as
SDMX-ML 2.1, and the same 5,000 as SDMX-JSON 2.0. Runs `dataflow analyze FILE -o json >
/dev/null` N times per input and option set, interleaved so that machine noise hits every input
alike. Prints medians, the 50k/5k ratio (linearity check), the SDMX-JSON/SDMX-ML ratio for the
same 5,000 dataflows, and the phase split of one `--log-level debug` run on the 5k file.

    bench/bench_analyze.py [--binary build/cli/dataflow] [--runs 7] [--timeout 120]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def ensure_input(count, fmt="xml"):
    path = os.path.join(HERE, "data", f"catalog-{count // 1000}k.{fmt}")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "wb") as out:
            subprocess.run([sys.executable, os.path.join(HERE, "gen_catalog.py"), "--count", str(count),
                            "--format", fmt], stdout=out, check=True, timeout=600)
        os.replace(path + ".tmp", path)
    return path


def run_once(binary, path, fmt, extra, timeout=120):
    """One whole process, killed after `timeout` seconds: wall, peak RSS, CPU, minor faults."""
    with open(os.devnull, "wb") as devnull:
        start = time.perf_counter()
        proc = subprocess.Popen([binary, "analyze", path, "-o", fmt] + extra, stdout=devnull)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4
    if proc.returncode != 0:
        sys.exit(f"{binary} failed on {path} (exit {proc.returncode}{', timed out' if wall >= timeout else ''})")
    return {"wall": wall, "rss": usage.ru_maxrss / 1024.0,  # KiB -> MiB
            "user": usage.ru_utime, "sys": usage.ru_stime, "minflt": usage.ru_minflt}


def phases(binary, path, timeout, runs):
    """Median of each phase over `runs` runs, from the `--log-level debug` lines that time them
    ("dataflow: debug: read: 2.9 ms", ...)."""
    times = {}
    for _ in range(runs):
        proc = subprocess.run([binary, "analyze", path, "-o", "json", "--log-level", "debug"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout)
        for line in proc.stderr.decode(errors="replace").splitlines():
            m = re.search(r"debug: ([a-z][a-z +,/-]*): ([0-9.]+) ms$", line)
            if m:
                times.setdefault(m.group(1), []).append(float(m.group(2)))
    return [f"{name} {statistics.median(ms):.1f} ms" for name, ms in times.items()]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "cli", "dataflow"))
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--format", default="json")
    ap.add_argument("--timeout", type=float, default=120, help="seconds allowed for one process")
    args = ap.parse_args()
    inputs = {"5k": ensure_input(5000), "50k": ensure_input(50000), "5k-json": ensure_input(5000, "json")}
    variants = [("default limit", []), ("--limit 0", ["--limit", "0"])]
    for path in inputs.values():
        run_once(args.binary, path, args.format, [], args.timeout)  # warm the page cache
    runs = {(n, v): [] for n in inputs for v, _ in variants}
    for _ in range(args.runs):
        for n, path in inputs.items():
            for v, extra in variants:
                runs[(n, v)].append(run_once(args.binary, path, args.format, extra, args.timeout))
    med = statistics.median
    print(f"dataflow analyze FILE -o {args.format} [--limit 0] > /dev/null: {args.runs} runs each, "
          f"interleaved, {os.cpu_count()} cores")
    print(f"{'input':<17} {'options':<14} {'size':>8} {'median wall':>12} {'min':>9} {'max':>9} "
          f"{'user':>8} {'sys':>7} {'faults':>7} {'peak RSS':>10}")
    for n, path in inputs.items():
        size = os.path.getsize(path) / 1e6
        for v, _ in variants:
            rs = runs[(n, v)]
            walls = [r["wall"] for r in rs]
            print(f"{os.path.basename(path):<17} {v:<14} {size:>6.1f}MB {med(walls) * 1000:>10.1f}ms "
                  f"{min(walls) * 1000:>7.1f}ms {max(walls) * 1000:>7.1f}ms "
                  f"{med(r['user'] for r in rs) * 1000:>6.1f}ms {med(r['sys'] for r in rs) * 1000:>5.1f}ms "
                  f"{med(r['minflt'] for r in rs):>7.0f} {max(r['rss'] for r in rs):>8.1f}MiB")
    wall = {k: med(r["wall"] for r in rs) for k, rs in runs.items()}
    # CPU time (user + sys) is less disturbed than wall time by other work on a shared machine
    cpu = {k: med(r["user"] + r["sys"] for r in rs) for k, rs in runs.items()}
    for v, _ in variants:
        print(f"50k / 5k median wall ratio ({v}): {wall[('50k', v)] / wall[('5k', v)]:.2f} (target <= 10); "
              f"CPU (user+sys) ratio {cpu[('50k', v)] / cpu[('5k', v)]:.2f}")
    for v, _ in variants:
        print(f"SDMX-JSON / SDMX-ML median wall ratio, same 5,000 dataflows ({v}): "
              f"{wall[('5k-json', v)] / wall[('5k', v)]:.2f}; CPU ratio {cpu[('5k-json', v)] / cpu[('5k', v)]:.2f}")
    for n in ("5k", "5k-json"):
        print(f"phases of {os.path.basename(inputs[n])}, default limit (--log-level debug, medians of {args.runs}): "
              + ", ".join(phases(args.binary, inputs[n], args.timeout, args.runs)))


if __name__ == "__main__":
    main()
