#!/usr/bin/env bash
# Installs the dependencies, builds dataflow and runs the whole test suite: a Release build
# (build/, -O3 with warnings as errors, as the Dockerfile builds), then the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/), the concurrent parts under
# ThreadSanitizer (build-tsan/: server, cache and its Redis pool, breaker, limiters, reload), a
# short libFuzzer run of every fuzz target (build-fuzz/, clang), and the container image built
# from the Dockerfile and run as the Kubernetes manifests run it (label image, podman).
# After the normal and ASan passes, scripts/check-cases-ran.py fails the run unless every
# doctest case the test binaries define ran. Long fuzz runs: scripts/fuzz.sh; figures: bench/.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

# ctest in BUILD_DIR (every label but image), then the check that every defined case ran.
run_suite() {
  local dir=$1
  rm -rf "$dir/cases-ran" && mkdir -p "$dir/cases-ran"
  TEST_CASES_RAN_DIR="$PWD/$dir/cases-ran" \
    ctest --test-dir "$dir" --output-on-failure -j "$(nproc)" -LE '^image$'
  python3 scripts/check-cases-ran.py "$dir" "$dir/cases-ran"
}

echo "== Release build and tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DDATAFLOW_WERROR=ON
cmake --build build
run_suite build

echo "== ASan + UBSan build and tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDATAFLOW_SANITIZE=ON -DDATAFLOW_WERROR=ON
cmake --build build-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite build-asan

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

echo "== container image: built from the Dockerfile with podman, run as Kubernetes runs it"
ctest --test-dir build --output-on-failure -L '^image$'
