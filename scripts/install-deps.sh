#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of dataflow from Debian 12 packages
# (prometheus for promtool, which checks the /metrics output in the tests; wrk for bench/;
# shellcheck, zsh, fish, mandoc and yamllint check the completions, man pages and manifests).
# Idempotent: packages already present are left alone. Must run as root (or via sudo).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache git
  libcli11-dev libcpp-httplib-dev libhiredis-dev libtomlplusplus-dev
  libspdlog-dev libfmt-dev doctest-dev libpugixml-dev nlohmann-json3-dev
  libssl-dev zlib1g-dev
  libicu-dev
  redis-server python3 hyperfine clang-format
  prometheus wrk
  shellcheck zsh fish mandoc yamllint
  clang-14 libclang-rt-14-dev strace
)

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
    SUDO="sudo"
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# CI-only lint tools from the npm registry (pinned in ci/package-lock.json), for the manifest
# and Dockerfile checks. kubectl (with kustomize) comes with the machine image: Debian 12 has no
# usable package; the deploy tests say so when it is missing.
bash "$(dirname "$0")/../ci/install-lint-tools.sh"
