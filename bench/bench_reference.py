#!/usr/bin/env python3
"""`dataflow analyze` against the reference service's algorithm (bench/reference_analyze.py).

1. Agreement: on the real ISTAT catalogue fixture (and every other SDMX-ML fixture both read),
   compares the reference's categorisation of every parsed dataflow (category and score) with
   `dataflow analyze FILE -o json --limit 0`, and prints one agreement line per file.
2. Speed: on the generated 5,000-dataflow catalogue (bench/data/catalog-5k.xml, gen_catalog.py),
   runs `dataflow analyze FILE -o json > /dev/null` and `python3 bench/reference_analyze.py FILE
   > /dev/null` alternately, N times each, and prints both medians and the ratio. Whole
   processes, wall time from spawn to exit, CPU time (user+sys, less disturbed by other work on
   a shared machine) and peak RSS from wait4. The reference script also
   reports its own time without the interpreter's start-up (read, parse, analyse, serialise),
   the part a long-running reference service paid per request; a second ratio uses that.

    bench/bench_reference.py [--binary build/cli/dataflow] [--runs 7] [--timeout 120]

Where the two may differ, on purpose (the product fixes reference bugs, docs/ANALYSIS.md and
reference-service.md §9): the reference reads only SDMX-ML 2.1 with the exact 2.1 namespace URIs
(ElementTree, §1.2), so SDMX-ML 2.0 / 3.0 fixtures give it 0 dataflows where `dataflow` reads
them; it drops a Dataflow without `@id`; it takes Name/Description from any descendant, not only
direct children. Its categorisation (rule set B, substring matching, strict >, ties to the
earlier rule) is the product's default, so on SDMX-ML 2.1 lists every dataflow should agree.
"""
import argparse
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time

import bench_analyze

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
REFERENCE = os.path.join(HERE, "reference_analyze.py")
SAMPLES = os.path.join(ROOT, "tests", "fixtures", "samples")
# The real sample ondata__guida-api-istat/rawdata/dataflow.xml, kept once: as the bundled
# catalogue (tests/fixtures/PROVENANCE.md).
FIXTURE = os.path.join(ROOT, "examples", "istat-dataflows-2020.xml")


def product_flows(binary, path, timeout):
    proc = subprocess.run([binary, "analyze", path, "-o", "json", "--limit", "0", "--log-level", "off"],
                          capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        return None
    doc = json.loads(proc.stdout)
    flows = [(f["id"], f["category"], f["relevance_score"])
             for fl in doc["categorized_dataflows"].values() for f in fl]
    return doc["category_counts"], flows


def reference_flows(path, timeout):
    proc = subprocess.run([sys.executable, REFERENCE, path, "--all-flows"], capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        return None
    doc = json.loads(proc.stdout)
    return doc["category_counts"], [tuple(f) for f in doc["flows"]]


def agreement(binary, path, timeout):
    name = os.path.relpath(path, SAMPLES if path.startswith(SAMPLES + os.sep) else ROOT)
    prod = product_flows(binary, path, timeout)
    ref = reference_flows(path, timeout)
    if prod is None:  # not a dataflow list (data message, DSDs only, error message)
        if ref is None or not ref[1]:
            return None
        return f"{name}: DIFFER, dataflow refuses it, the reference reads {len(ref[1])} dataflows"
    if ref is None:
        return f"{name}: the reference fails on it (ElementTree error); dataflow reads {len(prod[1])} dataflows"
    (pc, pf), (rc, rf) = prod, ref
    if not rf and pf:
        with open(path, "rb") as f:
            m = re.search(rb"schemas/v(\d)_(\d)/", f.read(8192), re.I)
        version = f"SDMX-ML {m.group(1).decode()}.{m.group(2).decode()}" if m else "other"
        return (f"{name}: the reference finds 0 dataflows ({version} namespaces; it reads 2.1 only), "
                f"dataflow {len(pf)}")
    same_counts = all(pc.get(c, 0) == n for c, n in rc.items()) and sum(pc.values()) == sum(rc.values())
    pset, rset = sorted(pf), sorted(rf)
    same_flows = sum(1 for a, b in zip(pset, rset) if a == b) if len(pset) == len(rset) else None
    counts = " ".join(f"{c} {rc[c]}" for c in rc)
    if same_counts and same_flows == len(rf):
        return f"{name}: agree, {len(rf)} dataflows, category and score equal for all ({counts})"
    diff = {c: (rc.get(c, 0), pc.get(c, 0)) for c in set(rc) | set(pc) if rc.get(c, 0) != pc.get(c, 0)}
    return (f"{name}: DIFFER, reference {len(rf)} / dataflow {len(pf)} dataflows; "
            f"category counts reference/dataflow where different: {diff}; "
            f"equal (id, category, score): {same_flows if same_flows is not None else 'n/a'}")


def run_reference(path, timeout):
    """Whole-process wall, peak RSS and the script's own time (stderr)."""
    with open(os.devnull, "wb") as devnull:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, REFERENCE, path], stdout=devnull, stderr=subprocess.PIPE)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        err = proc.stderr.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4
    if proc.returncode != 0:
        sys.exit(f"reference_analyze.py failed on {path} (exit {proc.returncode}): {err.strip()}")
    inner = float(err.split(" in ")[1].split(" ms")[0]) / 1000
    return {"wall": wall, "rss": usage.ru_maxrss / 1024.0, "inner": inner,
            "user": usage.ru_utime, "sys": usage.ru_stime}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "cli", "dataflow"))
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--timeout", type=float, default=120, help="seconds allowed for one process")
    args = ap.parse_args()

    print("agreement on examples/ and tests/fixtures/samples/, reference_analyze.py --all-flows vs dataflow analyze -o json --limit 0:")
    print("  " + agreement(args.binary, FIXTURE, args.timeout))
    others = sorted(set(glob.glob(os.path.join(SAMPLES, "**", "*.xml"), recursive=True))
                    - {FIXTURE})
    skipped = 0
    for path in others:
        line = agreement(args.binary, path, args.timeout)
        if line is None:
            skipped += 1
        else:
            print("  " + line)
    print(f"  ({skipped} other XML fixtures are no dataflow list: dataflow refuses them, the reference finds 0; "
          "the SDMX-JSON fixtures are not compared, the reference reads XML only)")

    path = bench_analyze.ensure_input(5000)
    bench_analyze.run_once(args.binary, path, "json", [], args.timeout)  # warm the page cache
    run_reference(path, args.timeout)  # and the interpreter's files
    prod, ref = [], []
    for _ in range(args.runs):
        prod.append(bench_analyze.run_once(args.binary, path, "json", [], args.timeout))
        ref.append(run_reference(path, args.timeout))
    size = os.path.getsize(path) / 1e6
    print(f"{os.path.basename(path)} ({size:.1f} MB, 5000 dataflows), {args.runs} runs each, alternately, "
          f"{os.cpu_count()} cores")

    def row(label, rs, key="wall", cpu=True, rss=True):
        ms = [r[key] * 1000 for r in rs]
        cpu_ms = statistics.median(r["user"] + r["sys"] for r in rs) * 1000 if cpu else None
        print((f"{label:<56} {statistics.median(ms):>10.1f}ms {min(ms):>7.1f}ms {max(ms):>7.1f}ms "
               + (f"{cpu_ms:>8.1f}ms" if cpu else "")
               + (f" {max(r['rss'] for r in rs):>8.1f}MiB" if rss else "")).rstrip())
    print(f"{'command':<56} {'median wall':>12} {'min':>9} {'max':>9} {'CPU':>10} {'peak RSS':>10}")
    row("dataflow analyze FILE -o json", prod)
    row("python3 bench/reference_analyze.py FILE (whole process)", ref)
    row("  of which read+parse+analyse+serialise (no start-up)", ref, "inner", cpu=False, rss=False)
    med = statistics.median
    wall_p, wall_r = med(r["wall"] for r in prod), med(r["wall"] for r in ref)
    cpu_p, cpu_r = med(r["user"] + r["sys"] for r in prod), med(r["user"] + r["sys"] for r in ref)
    print(f"reference / dataflow median wall: {wall_r / wall_p:.1f}x "
          f"(without the interpreter start-up: {med(r['inner'] for r in ref) / wall_p:.1f}x); "
          f"median CPU (user+sys): {cpu_r / cpu_p:.1f}x")


if __name__ == "__main__":
    main()
