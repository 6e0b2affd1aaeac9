#!/usr/bin/env python3
"""The include layers hold: no file in lib/ or cli/ includes a layer above its own.

Each area of lib/ (and cli/) is a layer; LAYERS lists them lowest first. A file may include
its own layer and the layers below it. An `#include "AREA/..."` of a layer above, of an area
not in LAYERS, or a file in an undeclared area of lib/ fails the check with FILE:LINE, both
layers and the order. docs/ARCHITECTURE.md states the same order in its first lines.

usage: check_layers.py [--self-test] SOURCE_DIR

--self-test first proves the check on a scratch copy of lib/ and cli/: the copy passes as the
tree does, and fails, naming the file, line and both layers, once includes of a layer above
are planted in it.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

# Lowest first. Why this order (each arrow is an existing include):
#   redis       the hiredis pool and scripts; needs only util (clock)
#   sdmx        catalogue model and readers
#   analysis    rules, categoriser, readiness, render: sdmx
#   resilience  breakers, limiters; the cluster-wide limiter runs on redis
#   config      schema and loader: analysis (rule files), resilience (host-limit syntax), sdmx
#   upstream    client and probes: resilience, analysis, sdmx; upstream/setup reads config
#   cache       backends on redis; cache/setup reads config and takes upstream's breaker
#               settings (upstream::breaker_settings), so cache sits above upstream
#   live        the live pipeline the CLI and the service share (cache keys, catalogue fetch
#               and probes through the cache, rank -> probe -> re-analyse, the categoriser):
#               cache, upstream, config, analysis
#   service     the HTTP service over live, cache, upstream and config
#   cli         the binary: everything
LAYERS = ["util", "redis", "sdmx", "analysis", "resilience", "config", "upstream", "cache",
          "live", "service", "cli"]

SOURCE_SUFFIXES = (".cpp", ".hpp", ".h", ".cc", ".ipp")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def layer_of(rel):
    """The layer of a file, from its path relative to the source root (None: not checked)."""
    parts = rel.split("/")
    if parts[0] == "cli":
        return "cli"
    if parts[0] == "lib" and len(parts) > 2:
        return parts[1]
    return None


def check(root):
    """Returns the problems found under ROOT/lib and ROOT/cli, one line each."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    order = " < ".join(LAYERS)
    problems = []
    for layer in LAYERS:
        where = os.path.join(root, "cli") if layer == "cli" else os.path.join(root, "lib", layer)
        if not os.path.isdir(where):
            problems.append(f"{os.path.relpath(where, root)}: declared layer '{layer}' has no "
                            f"directory; update LAYERS in {os.path.basename(__file__)}")
    files = []
    for top in ("lib", "cli"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith(SOURCE_SUFFIXES):
                    files.append(os.path.relpath(os.path.join(dirpath, name), root))
    for rel in files:
        own = layer_of(rel)
        if own is None:
            continue  # a file directly in lib/ (none today) belongs to no area
        if own not in rank:
            problems.append(f"{rel}: area '{own}' is not a declared layer; add it to LAYERS in "
                            f"{os.path.basename(__file__)} (order: {order})")
            continue
        here = os.path.dirname(os.path.join(root, rel))
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                target = m.group(1)
                area = target.split("/")[0] if "/" in target else None
                if area is None or (area not in rank and
                                    os.path.exists(os.path.join(here, target))):
                    continue  # beside the file ("commands.hpp" in cli/): its own layer
                if area not in rank:
                    problems.append(f"{rel}:{number}: {own} includes \"{target}\" of '{area}', "
                                    f"which is not a declared layer (order: {order})")
                elif rank[area] > rank[own]:
                    problems.append(f"{rel}:{number}: {own} includes {area} (\"{target}\"), a "
                                    f"layer above its own (order: {order})")
    return problems, len(files)


def self_test(root):
    """Proves the check on a scratch copy of the tree; returns the failures."""
    failures = []
    with tempfile.TemporaryDirectory() as scratch:
        for top in ("lib", "cli"):
            shutil.copytree(os.path.join(root, top), os.path.join(scratch, top))

        def run():
            return subprocess.run([sys.executable, os.path.abspath(__file__), scratch],
                                  capture_output=True, text=True, timeout=60)

        r = run()
        if r.returncode != 0:
            failures.append("the unchanged copy does not pass:\n" + r.stdout + r.stderr)
        # Plant includes of a layer above: the Redis layer reaching up into the cache (what
        # resilience -> cache/redis_pool was before lib/redis/), util into the service, and lib/
        # into cli/.
        plants = [("lib/redis/pool.hpp", "cache/cache.hpp", "redis", "cache"),
                  ("lib/util/strings.cpp", "service/service.hpp", "util", "service"),
                  ("lib/config/config.cpp", "cli/commands.hpp", "config", "cli")]
        for path, target, own, area in plants:
            with open(os.path.join(scratch, path), encoding="utf-8") as f:
                lines = f.read().split("\n")
            lines.insert(1, f'#include "{target}"')
            with open(os.path.join(scratch, path), "w", encoding="utf-8") as f:
                f.write("\n".join(lines))
        r = run()
        if r.returncode != 1:
            failures.append(f"planted violations: exit {r.returncode}, want 1")
        for path, target, own, area in plants:
            want = f"{path}:2: {own} includes {area} (\"{target}\"), a layer above its own"
            if want not in r.stdout:
                failures.append(f"planted violation not reported as '{want}':\n{r.stdout}")
        # An area nobody declared fails too, so a new layer has to take its place in the order.
        os.makedirs(os.path.join(scratch, "lib", "newarea"))
        with open(os.path.join(scratch, "lib", "newarea", "x.hpp"), "w", encoding="utf-8") as f:
            f.write('#pragma once\n#include "util/clock.hpp"\n')
        r = run()
        if "lib/newarea/x.hpp: area 'newarea' is not a declared layer" not in r.stdout:
            failures.append("an undeclared area is not reported:\n" + r.stdout)
    return failures


def main(argv):
    args = [a for a in argv[1:] if a != "--self-test"]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    root = args[0]
    if "--self-test" in argv:
        failures = self_test(root)
        for f in failures:
            print("FAIL self-test: " + f)
        if failures:
            return 1
        print("ok   self-test: planted includes of a layer above are reported and fail")
    problems, count = check(root)
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} include(s) break the layer order; move the code down, or pass "
              f"what it needs in from above", file=sys.stderr)
        return 1
    print(f"ok   {count} files in lib/ and cli/ include only their own layer or those below "
          f"({' < '.join(LAYERS)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
