#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of dataflow from Debian 12 packages
# (prometheus for promtool, which checks the /metrics output and the alerting rules in the tests;
# python3-feedparser reads the served Atom change feed in the tests; wrk for bench/, and
# python3-fastapi + python3-uvicorn for bench/reference_service.py, the reference port;
# zsh, fish, shellcheck, mandoc and yamllint check the completions, man pages and manifests;
# podman, runc, the CNI plugins, iptables, mmdebstrap and curl build and run the container
# image in tests/image, see scripts/build-image.sh).
# Idempotent: packages already present are left alone, and when none is missing it needs
# neither root nor the network (nor sudo or apt): any user can run it. Otherwise it installs the
# missing ones with apt-get, as root or through sudo.
#
#   scripts/install-deps.sh               everything, and the CI lint tools from npm
#   scripts/install-deps.sh --build-only  only what compiling the binary needs (the Dockerfile's
#                                         build stage): no test, lint, bench or image tools
set -euo pipefail

build_only=0
case "${1:-}" in
  "") ;;
  --build-only) build_only=1 ;;
  -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "install-deps: unknown option $1 (--build-only, --help)" >&2; exit 2 ;;
esac

# What `cmake -DDATAFLOW_BUILD_TESTS=OFF` and the build need: the compiler, CMake, Ninja and
# the libraries' development packages (ccache is picked up by CMakeLists.txt when present).
build_packages=(
  g++ cmake ninja-build pkg-config ccache
  libcli11-dev libcpp-httplib-dev libhiredis-dev libtomlplusplus-dev
  libspdlog-dev libfmt-dev libpugixml-dev nlohmann-json3-dev rapidjson-dev
  libssl-dev zlib1g-dev
  libicu-dev
)

packages=("${build_packages[@]}")
if [ "$build_only" = 0 ]; then
  packages+=(
    build-essential git doctest-dev
    redis-server redis-sentinel python3 python3-feedparser hyperfine clang-format
    prometheus wrk python3-fastapi python3-uvicorn
    shellcheck zsh fish mandoc yamllint
    clang-14 libclang-rt-14-dev strace
    podman runc containernetworking-plugins iptables mmdebstrap curl
  )
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "install-deps: ${#missing[@]} package(s) missing: ${missing[*]}" >&2
      echo "install-deps: run this script as root (or install sudo) to install them" >&2
      exit 1
    fi
    SUDO="sudo"
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "$build_only" = 1 ]; then
  exit 0
fi

# CI-only lint tools from the npm registry (pinned in ci/package-lock.json), for the manifest
# and Dockerfile checks. kubectl (with kustomize) comes with the machine image: Debian 12 has no
# usable package; the deploy tests say so when it is missing.
bash "$(dirname "$0")/../ci/install-lint-tools.sh"
