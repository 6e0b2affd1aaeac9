#!/usr/bin/env bash
# Fuzzes dataflow's parsers with libFuzzer (clang-14, Debian's libclang-rt-14-dev).
#
#   scripts/fuzz.sh                 build build-fuzz/, then fuzz every target for 10 minutes
#   scripts/fuzz.sh -t SECONDS      ... for SECONDS each
#   scripts/fuzz.sh TARGET...       only these targets (fuzz_catalog_xml, fuzz_jwt, ...)
#
# Inputs found are kept in build-fuzz/corpus/TARGET (not in the source tree). A crash leaves
# crash-* in build-fuzz/; make it a regression case by copying it into
# tests/fuzz/corpus/TARGET/ with a descriptive name, then fix the code: CTest replays every
# corpus file (fuzz/regress/*).
#
# Internal, used by CTest: scripts/fuzz.sh --run-one regress|SECONDS BINARY CORPUS_DIR
set -euo pipefail

run_one() {
    local mode="$1" binary corpus
    binary="$(realpath "$2")"
    corpus="$(realpath "$3")"
    if [[ "$mode" == regress ]]; then
        # Every committed input once: seeds and past crashes.
        exec "$binary" -runs=0 -rss_limit_mb=2048 -timeout=20 "$corpus"
    fi
    artifacts="$PWD"
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    # New inputs go to a scratch directory; the committed corpus is read only.
    (cd "$work" && "$binary" -max_total_time="$mode" -rss_limit_mb=2048 -timeout=20 \
        -artifact_prefix="$artifacts/" \
        -max_len=65536 -print_final_stats=1 "$work" "$corpus")
}

if [[ "${1:-}" == --run-one ]]; then
    shift
    run_one "$@"
    exit
fi

cd "$(dirname "$0")/.."
seconds=600
if [[ "${1:-}" == -t ]]; then
    seconds="$2"
    shift 2
fi
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
    targets=(fuzz_catalog_xml fuzz_catalog_json fuzz_data_counter fuzz_config_toml
             fuzz_request_body fuzz_jwt)
fi

cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 \
    -DDATAFLOW_FUZZ=ON -DDATAFLOW_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz --target fuzz_targets
for t in "${targets[@]}"; do
    mkdir -p "build-fuzz/corpus/$t"
    echo "== $t for ${seconds}s"
    (cd build-fuzz && "./tests/fuzz/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 \
        -max_len=65536 -print_final_stats=1 "corpus/$t" "../tests/fuzz/corpus/$t")
done
