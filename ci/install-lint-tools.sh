#!/usr/bin/env bash
# Installs the CI-only lint tools pinned in ci/package-lock.json (kubernetes-models,
# kubernetes-types, typescript, dockerfile-utils, yaml) into ci/node_modules with `npm ci`.
# Called by scripts/install-deps.sh. Idempotent: does nothing when ci/node_modules already
# matches the lock file (then it needs neither npm, the network nor write access: any user can
# run it). Needs Node.js 18+ and npm; after the install nothing needs the network.
# DATAFLOW_SKIP_LINT_TOOLS=1 skips it (a machine that only builds; install-deps.sh --build-only
# never calls it).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${DATAFLOW_SKIP_LINT_TOOLS:-0}" = "1" ]; then
  echo "install-lint-tools: skipped (DATAFLOW_SKIP_LINT_TOOLS=1)"
  exit 0
fi
if ! command -v node >/dev/null 2>&1; then
  echo "install-lint-tools: node is needed (Node.js 18 or later;" \
       "Debian 12: apt-get install nodejs npm)" >&2
  exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 18 ]; then
  echo "install-lint-tools: Node.js $(node --version) is too old; 18 or later is needed" >&2
  exit 1
fi

stamp=ci/node_modules/.dataflow-lock.sha256
want=$(sha256sum ci/package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "install-lint-tools: ci/node_modules is up to date"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "install-lint-tools: npm is needed to install ci/node_modules" \
       "(Debian 12: apt-get install npm)" >&2
  exit 1
fi
if [ ! -w ci ] || { [ -e ci/node_modules ] && [ ! -w ci/node_modules ]; }; then
  echo "install-lint-tools: ci/node_modules is missing or older than ci/package-lock.json," \
       "and $(id -un) cannot write it: run ci/install-lint-tools.sh as the owner of the checkout" >&2
  exit 1
fi
echo "install-lint-tools: npm ci --prefix ci"
npm ci --prefix ci --no-audit --no-fund
echo "$want" > "$stamp"
