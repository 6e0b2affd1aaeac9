#!/usr/bin/env bash
# Installs the dependencies, builds dataflow and runs the whole test suite: a Release build
# (build/, -O3 with warnings as errors, as the Dockerfile builds), then the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/), the concurrent parts under
# ThreadSanitizer (build-tsan/: server, cache and its Redis pool, breaker, limiters, reload), a
# short libFuzzer run of every fuzz target (build-fuzz/, clang), and the container image built
# from the Dockerfile and run as the Kubernetes manifests run it (label image, podman).
# After the normal and ASan passes, scripts/check-cases-ran.py fails the run unless every
# doctest case the test binaries define ran. Long fuzz runs: scripts/fuzz.sh; figures: bench/.
#
# Each stage is a preset of CMakePresets.json (release, asan, tsan, fuzz; image is a test preset
# of the release build). Nothing may be skipped: REQUIRE_ALL_TOOLS=1 turns a missing
# tool, which a plain `ctest` skips with a reason, into a failure (tests/support/need-tools.sh).
# Once the packages are installed it runs without root, except the image stage: podman builds
# rootful, so without root that stage is skipped with a message -- and fails instead in CI
# (CI=true) or when REQUIRE_ALL_TOOLS=1 was already set by the caller.
set -euo pipefail
cd "$(dirname "$0")/.."

image_needs_root=0
if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ] || [ "${REQUIRE_ALL_TOOLS:-0}" = 1 ]; then
  image_needs_root=1
fi
export REQUIRE_ALL_TOOLS=1

bash scripts/install-deps.sh

# ctest of a preset (every label but image), then the check that every defined case ran.
run_suite() {
  local preset=$1 dir=$2
  rm -rf "$dir/cases-ran" && mkdir -p "$dir/cases-ran"
  TEST_CASES_RAN_DIR="$PWD/$dir/cases-ran" \
    ctest --preset "$preset" --output-on-failure -j "$(nproc)" -LE '^image$'
  python3 scripts/check-cases-ran.py "$dir" "$dir/cases-ran"
}

echo "== Release build and tests"
cmake --preset release
cmake --build --preset release
run_suite release build

echo "== ASan + UBSan build and tests"
cmake --preset asan
cmake --build --preset asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite asan build-asan

echo "== ThreadSanitizer build: the concurrent parts"
cmake --preset tsan
cmake --build --preset tsan --target dataflow unit_tests integration_tests e2e_tests cluster_tests
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --preset tsan --output-on-failure -j "$(nproc)" -L "tsan"

echo "== libFuzzer smoke run (clang-14, ASan + UBSan)"
cmake --preset fuzz
cmake --build --preset fuzz --target fuzz_targets
ctest --preset fuzz --output-on-failure -j "$(nproc)" -L fuzz

echo "== container image: built from the Dockerfile with podman, run as Kubernetes runs it"
if [ "$(id -u)" -ne 0 ] && [ "$image_needs_root" = 0 ]; then
  echo "skipped: needs root (podman builds and runs the image rootful); run scripts/test.sh" \
       "as root, or 'ctest --preset image' as root after this run"
else
  ctest --preset image --output-on-failure -L '^image$'
fi
