#!/usr/bin/env bash
# Shell completions: the committed scripts in completions/ are exactly what the binary
# generates; each parses in its shell (bash -n + shellcheck, zsh -n, fish --no-execute); and the
# bash script completes what it should.
# Usage: test_completions.sh path/to/dataflow path/to/source-dir
set -uo pipefail
bin="$1"
src="$2"
failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
need() {
    command -v "$1" >/dev/null || { echo "FAIL: $1 is not installed; run scripts/install-deps.sh" >&2; exit 1; }
}
need shellcheck
need zsh
need fish

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

for pair in bash:dataflow.bash zsh:_dataflow fish:dataflow.fish; do
    shell="${pair%%:*}"
    file="$src/completions/${pair#*:}"
    if ! "$bin" completion "$shell" >"$tmp/$shell"; then
        fail "dataflow completion $shell exited non-zero"
        continue
    fi
    if ! diff -u "$file" "$tmp/$shell" >"$tmp/diff"; then
        fail "$file differs from 'dataflow completion $shell'; regenerate with scripts/update-config-docs.py"
        head -40 "$tmp/diff" >&2
    fi
done

bash -n "$src/completions/dataflow.bash" || fail "bash -n completions/dataflow.bash"
shellcheck -s bash "$src/completions/dataflow.bash" || fail "shellcheck completions/dataflow.bash"
zsh -n "$src/completions/_dataflow" || fail "zsh -n completions/_dataflow"
fish --no-execute "$src/completions/dataflow.fish" || fail "fish --no-execute completions/dataflow.fish"

# A bad format is a usage error, not an empty script.
if "$bin" completion tcsh >/dev/null 2>&1; then
    fail "dataflow completion tcsh should fail"
fi

# Functional: load the bash script and ask it, as bash's programmable completion would.
# shellcheck source=/dev/null
source "$src/completions/dataflow.bash"
complete_words() {
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _dataflow
    echo "${COMPREPLY[*]}"
}
expect() {
    local want="$1"
    shift
    local got
    got="$(complete_words "$@")"
    if [[ "$got" != "$want" ]]; then
        fail "completing '$*': want '$want', got '$got'"
    fi
}
expect "analyze diff probe serve health cache config sources completion" dataflow ""
expect "validate show schema" dataflow config ""
expect "table json csv summary" dataflow analyze -o ""
expect "table json csv summary" dataflow analyze --output ""
expect "json" dataflow analyze --output=j
expect "table json csv summary" dataflow analyze --output = ""
expect "startup live ready status" dataflow health --probe ""
expect "development staging production" dataflow config validate --environment ""
expect "show schema" dataflow --config x.toml config s
expect "show schema" dataflow --log-level debug config s
expect "debug" dataflow analyze --log-level d
expect "--rules --refresh" dataflow analyze --r
expect "--dry-run" dataflow cache flush --d
expect "bash zsh fish json" dataflow completion ""
expect "" dataflow serve --port ""
# File arguments complete paths.
mkdir -p "$tmp/dir"
touch "$tmp/catalogue.xml"
expect "$tmp/catalogue.xml" dataflow analyze "$tmp/cat"
expect "$tmp/catalogue.xml" dataflow serve --catalog "$tmp/cat"
expect "$tmp/dir" dataflow --config-dir "$tmp/di"
# Every option the binary has is offered under its command.
for opt in $("$bin" serve --help | sed '/^Exit codes/,$d' | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
    case " $(complete_words dataflow serve -) " in
        *" $opt "*) ;;
        *) fail "'dataflow serve -' does not offer $opt" ;;
    esac
done

if ((failures > 0)); then
    echo "$failures completion check(s) failed" >&2
    exit 1
fi
echo "completions OK"
