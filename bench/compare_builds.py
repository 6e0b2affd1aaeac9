#!/usr/bin/env python3
"""Two builds side by side: runs bench_analyze.py, bench_serve.py and bench_cache.py for a base
build and a new build, alternating base/new for --rounds rounds (so machine noise falls on
both), and prints each figure's median per build and new/base. A refactoring passes when
every figure is within --tolerance (default 10%).

  git worktree add /tmp/base <commit> && cmake -S /tmp/base -B /tmp/base/build -G Ninja \\
      -DCMAKE_BUILD_TYPE=Release -DDATAFLOW_BUILD_TESTS=OFF && \
      cmake --build /tmp/base/build --target dataflow bench_cache
  python3 bench/compare_builds.py --base /tmp/base/build --new build --rounds 3

Each build directory must hold cli/dataflow and bench_cache. Figures: analyze's median wall
per input (lower is better), serve's start time (lower) and req/s (higher), cache's rates
(higher).
"""
import argparse, os, re, statistics, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(script, args, timeout):
    out = subprocess.run([sys.executable, os.path.join(HERE, script)] + args, capture_output=True,
                         text=True, check=True, timeout=timeout).stdout
    return out


def analyze_figures(out):
    figures = {}
    for line in out.splitlines():
        m = re.match(r"(\S+)\s+(default limit|--limit 0)\s+[\d.]+MB\s+([\d.]+)ms", line)
        if m:
            figures[f"analyze {m.group(1)} {m.group(2)} (ms)"] = (float(m.group(3)), "lower")
    return figures


def serve_figures(out):
    figures = {}
    for line in out.splitlines():
        m = re.match(r"exec to /health/startup 200: median ([\d.]+) ms", line)
        if m:
            figures["serve exec to startup 200 (ms)"] = (float(m.group(1)), "lower")
        m = re.match(r"(GET|POST) (\S+).*?(\d+ connections).*?: (\d+) req/s", line)
        if m:
            label = line.split(":")[0]
            figures[f"serve {label} (req/s)"] = (float(m.group(4)), "higher")
    return figures


def cache_figures(out):
    figures = {}
    for line in out.splitlines():
        if line.startswith("redis-benchmark"):
            continue  # the server's own figure, not ours
        for name, rate in re.findall(r"(\b[a-zA-Z]+) ([\d.]+)/s", line):
            prefix = "memory" if line.startswith("memory") else (
                "pool" if line.startswith("redis via") else "RedisCache")
            figures[f"cache {prefix} {name} (/s)"] = (float(rate), "higher")
    return figures


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="build directory of the base commit")
    ap.add_argument("--new", required=True, help="build directory of the new commit")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tolerance", type=float, default=0.10)
    ap.add_argument("--serve-duration", type=int, default=3)
    ap.add_argument("--only", choices=["analyze", "serve", "cache"], action="append",
                    help="run only these benchmarks (repeatable; default all three)")
    a = ap.parse_args()
    builds = {"base": a.base, "new": a.new}
    samples = {"base": {}, "new": {}}
    for r in range(a.rounds):
        order = ["base", "new"] if r % 2 == 0 else ["new", "base"]
        for which in order:
            d = builds[which]
            binary = os.path.join(d, "cli", "dataflow")
            only = set(a.only or ["analyze", "serve", "cache"])
            outs = []
            if "analyze" in only:
                outs.append(analyze_figures(
                    run("bench_analyze.py", ["--binary", binary, "--runs", "3"], 900)))
            if "serve" in only:
                outs.append(serve_figures(
                    run("bench_serve.py", ["--binary", binary, "--duration", str(a.serve_duration),
                                           "--starts", "5"], 900)))
            if "cache" in only:
                outs.append(cache_figures(
                    run("bench_cache.py", ["--binary", os.path.join(d, "bench_cache")], 900)))
            for figures in outs:
                for k, (v, better) in figures.items():
                    samples[which].setdefault(k, ([], better))[0].append(v)
            print(f"round {r + 1}/{a.rounds}: {which} done", file=sys.stderr, flush=True)
    print(f"{a.rounds} rounds, base/new alternating; medians; worse = new is worse than base")
    print(f"{'figure':<78} {'base':>12} {'new':>12} {'new/base':>9}  verdict")
    failed = 0
    for k, (vals, better) in samples["base"].items():
        if k not in samples["new"]:
            continue
        b = statistics.median(vals)
        n = statistics.median(samples["new"][k][0])
        ratio = n / b if b else float("nan")
        worse = ratio - 1 if better == "lower" else 1 - ratio
        verdict = "ok" if worse <= a.tolerance else f"WORSE by {worse * 100:.0f}%"
        failed += verdict != "ok"
        print(f"{k:<78} {b:>12.1f} {n:>12.1f} {ratio:>9.3f}  {verdict}")
    print(f"{failed} figure(s) beyond {a.tolerance * 100:.0f}%")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
