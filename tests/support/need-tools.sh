#!/usr/bin/env bash
# Runs a test only when what it needs is there. CTest runs the tests that need optional tools
# (kubectl, node and ci/node_modules, yamllint, shellcheck, zsh, fish, mandoc, strace,
# clang-14, podman, root) through this script, with SKIP_RETURN_CODE 77:
#
#   bash tests/support/need-tools.sh [--root] TOOL... -- COMMAND [ARG...]
#
# TOOL is a program looked up on PATH, or ci/node_modules (the npm lint tools, current with
# ci/package-lock.json); --root: must run as root. When all are there it execs COMMAND.
# Otherwise it prints "skipped: needs X (how to get it)" and exits 77, so that a plain `ctest`
# runs everything it can and says what it left out -- but in CI (CI=true) or with
# REQUIRE_ALL_TOOLS=1 (scripts/test.sh sets it) a missing tool is a failure (exit 1),
# so a full run can never pass by skipping. Only bash builtins before the exec, so that it also
# works with a PATH stripped of the tool (tests/meta/test_tool_skips.py does that).
set -euo pipefail

here=${BASH_SOURCE[0]%/*}
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.
src=$(cd "$here/../.." && pwd)

hint() {
  case "$1" in
    kubectl) echo "kubectl 1.27 or later, which has kustomize built in; not a Debian 12 package:" \
                  "docs/KUBERNETES.md" ;;
    node | npm) echo "Node.js 18 or later: apt-get install nodejs npm, then ci/install-lint-tools.sh" ;;
    ci/node_modules) echo "ci/install-lint-tools.sh installs it (scripts/install-deps.sh runs it)" ;;
    root) echo "the image is built and run with rootful podman and mmdebstrap" ;;
    *) echo "scripts/install-deps.sh installs it" ;;
  esac
}

required() {
  [ "${REQUIRE_ALL_TOOLS:-0}" = 1 ] || [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]
}

missing=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  case "$1" in
    --root)
      [ "$EUID" -eq 0 ] || missing+=(root) ;;
    ci/node_modules)
      stamp="$src/ci/node_modules/.dataflow-lock.sha256"
      want=""
      if [ -f "$stamp" ] && command -v sha256sum >/dev/null 2>&1; then
        read -r want _ < <(sha256sum "$src/ci/package-lock.json")
      fi
      have=""
      [ -f "$stamp" ] && read -r have < "$stamp"
      [ -n "$want" ] && [ "$have" = "$want" ] || missing+=(ci/node_modules) ;;
    *)
      command -v "$1" >/dev/null 2>&1 || missing+=("$1") ;;
  esac
  shift
done
if [ $# -lt 2 ] || [ "$1" != -- ]; then
  echo "usage: need-tools.sh [--root] TOOL... -- COMMAND [ARG...]" >&2
  exit 2
fi
shift

if [ ${#missing[@]} -gt 0 ]; then
  if required; then
    for tool in "${missing[@]}"; do
      echo "FAILED: needs $tool ($(hint "$tool")); a missing tool fails rather than skips" \
           "in CI (CI=true) and with REQUIRE_ALL_TOOLS=1" >&2
    done
    exit 1
  fi
  for tool in "${missing[@]}"; do
    echo "skipped: needs $tool ($(hint "$tool"))"
  done
  exit 77
fi
exec "$@"
