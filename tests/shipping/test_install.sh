#!/usr/bin/env bash
# `cmake --install` puts the binary and its HTTP module, every man page and the three completion
# scripts where the binary, man, bash-completion, zsh and fish look for them.
# Usage: test_install.sh path/to/build-dir path/to/source-dir
set -euo pipefail
build="$1"
src="$2"
prefix="$(mktemp -d)"
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
status=0
check() {
    if [[ ! -s "$prefix/$1" ]]; then
        echo "FAIL: cmake --install did not install $1" >&2
        status=1
    fi
}
check bin/dataflow
check lib/dataflow/dataflow-http.so
for page in "$src"/man/*.1; do
    check "share/man/man1/$(basename "$page")"
done
check share/bash-completion/completions/dataflow
check share/zsh/vendor-completions/_dataflow
check share/fish/vendor_completions.d/dataflow.fish
cmp "$src/completions/dataflow.bash" "$prefix/share/bash-completion/completions/dataflow" || status=1
"$prefix/bin/dataflow" --version >/dev/null || status=1
# The installed binary finds its installed module: health gets as far as the network.
health="$("$prefix/bin/dataflow" health --url http://127.0.0.1:1 --timeout 1s 2>&1 || true)"
if [[ "$health" != *"unreachable at http://127.0.0.1:1"* ]]; then
    echo "FAIL: the installed binary did not load its HTTP module: $health" >&2
    status=1
fi
[[ $status -eq 0 ]] && echo "install OK"
exit $status
