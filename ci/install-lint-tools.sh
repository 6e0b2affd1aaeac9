#!/usr/bin/env bash
# Installs the CI-only lint tools pinned in ci/package-lock.json (kubernetes-models,
# kubernetes-types, typescript, dockerfile-utils, yaml) into ci/node_modules with `npm ci`.
# Called by scripts/install-deps.sh. Idempotent: does nothing when ci/node_modules already
# matches the lock file. Needs Node.js 18+ and npm; after the install nothing needs the network.
# DATAFLOW_SKIP_LINT_TOOLS=1 skips it (a machine that only builds; install-deps.sh --build-only
# never calls it).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${DATAFLOW_SKIP_LINT_TOOLS:-0}" = "1" ]; then
  echo "install-lint-tools: skipped (DATAFLOW_SKIP_LINT_TOOLS=1)"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "install-lint-tools: node and npm are needed (Node.js 18 or later;" \
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

echo "install-lint-tools: npm ci --prefix ci"
npm ci --prefix ci --no-audit --no-fund
echo "$want" > "$stamp"
