#!/usr/bin/env bash
# Installs the dependencies, builds dataflow and runs the whole test suite: a normal build
# (build/), then the same suite under AddressSanitizer + UndefinedBehaviorSanitizer
# (build-asan/), the concurrent parts under ThreadSanitizer (build-tsan/: server, cache and its
# Redis pool, breaker, limiters, reload), and a short libFuzzer run of every fuzz target
# (build-fuzz/, clang). Long fuzz runs: scripts/fuzz.sh; load figures: bench/.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

echo "== release build and tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDATAFLOW_WERROR=ON
cmake --build build
ctest --test-dir build --output-on-failure -j "$(nproc)"

echo "== ASan + UBSan build and tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDATAFLOW_SANITIZE=ON -DDATAFLOW_WERROR=ON
cmake --build build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$(nproc)"

echo "== ThreadSanitizer build: the concurrent parts"
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDATAFLOW_TSAN=ON -DDATAFLOW_WERROR=ON
cmake --build build-tsan --target dataflow unit_tests integration_tests e2e_tests cluster_tests
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build-tsan --output-on-failure -j "$(nproc)" -L "tsan"

echo "== libFuzzer smoke run (clang-14, ASan + UBSan)"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
  -DDATAFLOW_FUZZ=ON -DDATAFLOW_BUILD_TESTS=OFF
cmake --build build-fuzz --target fuzz_targets
ctest --test-dir build-fuzz --output-on-failure -j "$(nproc)" -L fuzz
