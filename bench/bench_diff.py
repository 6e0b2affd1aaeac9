#!/usr/bin/env python3
"""Benchmark `dataflow diff` as a whole process: wall time (median of N runs), CPU time and peak
RSS, for two 5,000- and two 50,000-dataflow catalogues.

Generates its inputs into bench/data/ with gen_catalog.py: the old side is the usual catalogue
(seed 7); the new side is the same generator run with 2% more dataflows (the first N are
identical: added ones at the end), then edited: 1% of the dataflows removed, 2% re-versioned,
1% renamed (Italian name), 1% with a new LAST_UPDATE. Runs `dataflow diff OLD NEW -o json >
/dev/null` N times per size, interleaved, and prints the medians, the 50k/5k ratio (linearity
check: 10 is linear) and the counts the diff found (checked against the edits made).

    bench/bench_diff.py [--binary build/cli/dataflow] [--runs 7] [--timeout 120]
"""
import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench_analyze import ensure_input  # noqa: E402 (the same old-side files as bench_analyze)

FLOW = re.compile(r'(      <structure:Dataflow id="[^"]*".*?</structure:Dataflow>\r\n)', re.S)


def edited(text, seed):
    """The catalogue with 1% of the dataflows removed, 2% re-versioned, 1% renamed, 1% with a
    new LAST_UPDATE; returns the text and how many of each edit were made."""
    rnd = random.Random(seed)
    counts = {"removed": 0, "reversioned": 0, "renamed": 0, "last_update": 0}

    def edit(match):
        block = match.group(1)
        r = rnd.random()
        if r < 0.01:
            counts["removed"] += 1
            return ""
        if r < 0.03:
            counts["reversioned"] += 1
            return re.sub(r'(agencyID="[^"]*" version=")([^"]*)"', r'\g<1>\g<2>.1"', block, count=1)
        if r < 0.04:
            counts["renamed"] += 1
            return block.replace('<common:Name xml:lang="it">', '<common:Name xml:lang="it">Nuovo: ', 1)
        if r < 0.05:
            # Dataflows with a LAST_UPDATE annotation (90%) get a later date.
            new, n = re.subn(r'(<common:Annotation id="LAST_UPDATE">\s*<common:AnnotationTitle>)[^<]*',
                             r"\g<1>2027-01-02T03:04:05Z", block, count=1)
            counts["last_update"] += n
            return new
        return block

    return FLOW.sub(edit, text), counts


def write_variant(count):
    path = variant_path(count)
    grown = subprocess.run([sys.executable, os.path.join(HERE, "gen_catalog.py"), "--count",
                            str(count + count // 50)], stdout=subprocess.PIPE, check=True,
                           timeout=600).stdout.decode()
    text, counts = edited(grown, seed=17)
    counts["added"] = count // 50
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w", newline="") as out:
        out.write(text)
    os.replace(path + ".tmp", path)
    with open(path + ".json", "w") as out:
        json.dump(counts, out)


def variant_path(count):
    return os.path.join(HERE, "data", f"catalog-{count // 1000}k-next.xml")


def ensure_variant(count):
    path = variant_path(count)
    if not os.path.exists(path) or not os.path.exists(path + ".json"):
        # In a child process: Linux keeps a process's peak RSS across fork and exec, so the
        # memory the edit takes here would show up as every measured run's peak.
        subprocess.run([sys.executable, os.path.abspath(__file__), "--write-variant", str(count)],
                       check=True, timeout=900)
    with open(path + ".json") as f:
        return path, json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "cli", "dataflow"))
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--timeout", type=float, default=120, help="seconds allowed for one process")
    ap.add_argument("--write-variant", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.write_variant:
        write_variant(args.write_variant)
        return
    pairs = {}
    for n in (5000, 50000):
        new, counts = ensure_variant(n)
        pairs[f"{n // 1000}k"] = (ensure_input(n), new, counts)
    for name, (old, new, counts) in pairs.items():
        out = subprocess.run([args.binary, "diff", old, new, "-o", "json"], stdout=subprocess.PIPE,
                             check=True, timeout=args.timeout).stdout
        summary = json.loads(out)["summary"]
        print(f"{name}: edits {counts}; diff found {summary}")
    runs = {name: [] for name in pairs}
    for _ in range(args.runs):
        for name, (old, new, _) in pairs.items():
            runs[name].append(diff_once(args.binary, old, new, args.timeout))
    med = statistics.median
    print(f"dataflow diff OLD NEW -o json > /dev/null: {args.runs} runs each, interleaved, "
          f"{os.cpu_count()} cores")
    print(f"{'inputs':<40} {'size':>12} {'median wall':>12} {'min':>9} {'max':>9} {'user':>8} "
          f"{'sys':>7} {'peak RSS':>10}")
    for name, (old, new, _) in pairs.items():
        rs = runs[name]
        walls = [r["wall"] for r in rs]
        size = (os.path.getsize(old) + os.path.getsize(new)) / 1e6
        label = f"{os.path.basename(old)} {os.path.basename(new)}"
        print(f"{label:<40} {size:>8.1f}MB   {med(walls) * 1000:>9.1f}ms {min(walls) * 1000:>7.1f}ms "
              f"{max(walls) * 1000:>7.1f}ms {med(r['user'] for r in rs) * 1000:>6.1f}ms "
              f"{med(r['sys'] for r in rs) * 1000:>5.1f}ms {max(r['rss'] for r in rs):>8.1f}MiB")
    wall = {k: med(r["wall"] for r in rs) for k, rs in runs.items()}
    cpu = {k: med(r["user"] + r["sys"] for r in rs) for k, rs in runs.items()}
    print(f"50k / 5k median wall ratio: {wall['50k'] / wall['5k']:.2f} (10 = linear); "
          f"CPU (user+sys) ratio {cpu['50k'] / cpu['5k']:.2f}")


def diff_once(binary, old, new, timeout):
    """One `dataflow diff OLD NEW -o json` process: wall, peak RSS, CPU (as bench_analyze's
    run_once)."""
    with open(os.devnull, "wb") as devnull:
        start = time.perf_counter()
        proc = subprocess.Popen([binary, "diff", old, new, "-o", "json"], stdout=devnull)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        timer.cancel()
        code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{binary} diff failed on {old} {new} (exit {code})")
    return {"wall": wall, "rss": usage.ru_maxrss / 1024.0, "user": usage.ru_utime,
            "sys": usage.ru_stime}


if __name__ == "__main__":
    main()
