#!/usr/bin/env python3
"""Probe counting throughput: streams a generated SDMX-ML 2.1 GenericData file (default
200 MB, ISTAT-shaped: one line, generic:Series/generic:Obs) through the probe's counter in
64 KiB reads and reports MB/s (median of the runs) and peak RSS.

  cmake --build build --target bench_count && python3 bench/bench_probe.py [--runs 5] [--series 40000] [--binary build/bench_count]

The input is generated once into bench/data/; every step has a deadline.
"""
import argparse, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--series", type=int, default=40000, help="series of 50 observations (40000: ~205 MB)")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "bench_count"))
    a = ap.parse_args()
    data = os.path.join(HERE, "data")
    os.makedirs(data, exist_ok=True)
    path = os.path.join(data, f"generic-{a.series}.xml")
    if not os.path.exists(path):
        with open(path + ".tmp", "wb") as out:
            subprocess.run([sys.executable, os.path.join(HERE, "gen_genericdata.py"),
                            "--series", str(a.series), "--obs", "50"], stdout=out, check=True, timeout=900)
        os.replace(path + ".tmp", path)  # no half-written input left behind by an interrupted run
    print(f"input: {path} ({os.path.getsize(path) / 1e6:.1f} MB, {a.series} series, {a.series * 50} observations)")
    subprocess.run([a.binary, path, str(a.runs)], check=True, timeout=60 * a.runs + 60)

if __name__ == "__main__":
    main()
