#!/usr/bin/env python3
"""The agency's categories: `dataflow analyze` of the 5,000-dataflow catalogue alone against the
same catalogue with the ISTAT_DW scheme and 5,000 categorisations (one per dataflow, dotted
paths), as JSON. Generates both inputs with gen_catalog.py --categorisations into bench/data/
(git-ignored), runs each N times interleaved, prints median wall and CPU time, peak RSS and the
ratio (target: within 1.5x). Every run has a deadline.

    bench/bench_categories.py [--binary build/cli/dataflow] [--runs 7]
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def inputs(count):
    data = os.path.join(HERE, "data")
    os.makedirs(data, exist_ok=True)
    catalog = os.path.join(data, f"catalog-cat-{count // 1000}k.xml")
    cats = os.path.join(data, f"categorisations-{count // 1000}k.xml")
    if not (os.path.exists(catalog) and os.path.exists(cats)):
        with open(catalog + ".tmp", "wb") as out:
            subprocess.run([sys.executable, os.path.join(HERE, "gen_catalog.py"), "--count",
                            str(count), "--categorisations", cats], stdout=out, check=True,
                           timeout=600)
        os.replace(catalog + ".tmp", catalog)
    return catalog, cats


def run_once(argv, timeout=120):
    with open(os.devnull, "wb") as devnull:
        start = time.perf_counter()
        p = subprocess.Popen(argv, stdout=devnull, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {status}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "cli", "dataflow"))
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--count", type=int, default=5000)
    a = ap.parse_args()
    catalog, cats = inputs(a.count)
    variants = {
        "catalogue alone": [a.binary, "analyze", catalog, "-o", "json", "-n", "0"],
        "catalogue + scheme + categorisations": [a.binary, "analyze", catalog, cats, "-o", "json",
                                                 "-n", "0"],
        "... and --classify agency": [a.binary, "analyze", catalog, cats, "-o", "json", "-n", "0",
                                      "--classify", "agency"],
    }
    results = {k: [] for k in variants}
    for _ in range(a.runs):
        for name, argv in variants.items():
            results[name].append(run_once(argv))
    sizes = f"{os.path.getsize(catalog) / 1e6:.1f} MB + {os.path.getsize(cats) / 1e6:.1f} MB"
    print(f"dataflow analyze ... -o json -n 0, {a.count} dataflows ({sizes}), {a.runs} runs each, "
          "interleaved")
    print(f"{'variant':40} {'median wall':>12} {'median CPU':>11} {'peak RSS':>9}")
    medians = {}
    for name, rs in results.items():
        wall = statistics.median(r[0] for r in rs)
        cpu = statistics.median(r[1] for r in rs)
        rss = max(r[2] for r in rs)
        medians[name] = wall
        print(f"{name:40} {wall * 1000:10.1f}ms {cpu * 1000:9.1f}ms {rss:7.1f}MiB")
    base = medians["catalogue alone"]
    for name in list(variants)[1:]:
        print(f"{name} / catalogue alone: {medians[name] / base:.2f}x (target: within 1.5x)")


if __name__ == "__main__":
    main()
