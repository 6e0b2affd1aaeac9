#!/usr/bin/env bash
# The container image, built for real and run the way the Kubernetes manifests run it
# (k8s/base/deployment.yaml): builds it from the Dockerfile with scripts/build-image.sh (podman;
# the Debian base images are made locally when absent), then runs it read-only, as
# 10001:10001, without capabilities or privilege escalation, the ConfigMap's dataflow.toml
# mounted read-only at /etc/config and the example Secret's keys at /etc/secrets, and checks:
#
#   - `dataflow --version` prints the project version;
#   - `config validate` (the init container) accepts the mounted configuration;
#   - `analyze` of the bundled ISTAT catalogue finds its 456 dataflows and their categories;
#   - `serve` answers GET /health/ready with 200 on a port published to 127.0.0.1 (from outside
#     the container), and /metrics on the metrics port reports the build's revision;
#   - the image's HEALTHCHECK is `dataflow health ...` and exits 0 via `podman exec` and
#     `podman healthcheck run`;
#   - the image size, printed with a line for bench/README.md.
#
# Offline apart from the Debian mirrors while building: serve runs standalone (memory cache,
# the bundled catalogue as catalog.file: the ConfigMap's Redis and ISTAT upstream are replaced
# through DATAFLOW_* variables, as tests/deploy does) and the test only talks to 127.0.0.1.
# Needs root and podman, runc, containernetworking-plugins, iptables, mmdebstrap and curl
# (scripts/install-deps.sh). Bounded: the build gets DATAFLOW_IMAGE_BUILD_TIMEOUT seconds
# (default 780), every wait its own timeout; containers are always removed.
#
#   bash tests/image/test_image.sh [--source-dir DIR] [--tag NAME]
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tag=dataflow-analyzer:test
while [ $# -gt 0 ]; do
  case "$1" in
    --source-dir) src=$(cd "$2" && pwd); shift ;;
    --tag) tag=$2; shift ;;
    *) echo "usage: $0 [--source-dir DIR] [--tag NAME]" >&2; exit 2 ;;
  esac
  shift
done

failures=0
pass() { echo "ok      $*"; }
fail() { echo "FAILED  $*" >&2; failures=$((failures + 1)); }
fatal() { echo "FAILED  $*" >&2; exit 1; }

# ---- prerequisites: run directly, a missing tool is a failure (CTest runs this script through
# tests/support/need-tools.sh, which skips with the reason first, except in CI and under
# scripts/test.sh)
for tool in podman runc mmdebstrap curl; do
  command -v "$tool" >/dev/null ||
    fatal "$tool is not installed: run scripts/install-deps.sh (as root), which installs" \
          "podman, runc, containernetworking-plugins, iptables, mmdebstrap and curl"
done
[ "$(id -u)" -eq 0 ] || fatal "run as root: the image is built with rootful podman and" \
                              "mmdebstrap (scripts/build-image.sh)"

# podman_cmd (PODMAN: podman and its global options) and podman_ulimits (ULIMITS)
# shellcheck source=SCRIPTDIR/../../scripts/build-image.sh
source "$src/scripts/build-image.sh"
podman_cmd
podman_ulimits

work=$(mktemp -d /tmp/dataflow-image-test.XXXXXX)
containers=()
cleanup() {
  local c
  for c in "${containers[@]}"; do
    "${PODMAN[@]}" rm --force --time 0 "$c" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

version=$(sed -n 's/^project(dataflow VERSION \([^ ]*\).*/\1/p' "$src/CMakeLists.txt")
revision=$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
catalogue=istat-dataflows-2020.xml # README Quick start: 456 dataflows, 2020
[ -f "$src/examples/$catalogue" ] || fatal "examples/$catalogue is missing"

# ---- build (its log kept for a look after a failure)
build_log=${TMPDIR:-/tmp}/dataflow-image-build.log
build_timeout=${DATAFLOW_IMAGE_BUILD_TIMEOUT:-780}
start=$SECONDS
rc=0
timeout --kill-after=20 "$build_timeout" \
  bash "$src/scripts/build-image.sh" --tag "$tag" --log "$build_log" || rc=$?
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  tail -n 30 "$build_log" >&2 || true
  fatal "scripts/build-image.sh --tag $tag took more than $build_timeout s" \
        "(DATAFLOW_IMAGE_BUILD_TIMEOUT); its log: $build_log"
elif [ "$rc" -ne 0 ]; then
  fatal "scripts/build-image.sh --tag $tag failed (exit $rc); its log: $build_log"
fi
build_seconds=$((SECONDS - start))
pass "image $tag built in $build_seconds s"

# ---- the pod's volumes: the ConfigMap's file and the example Secret's keys, read-only for
# the container; the Secret's files group-readable as defaultMode 0440 + fsGroup 10001 make them
mkdir -m 0755 "$work/config" "$work/secrets" "$work/catalog"
install -m 0644 "$src/k8s/base/config/dataflow.toml" "$work/config/dataflow.toml"
secret_yaml="$src/k8s/examples/secret/secret.example.yaml"
for key in redis.password auth.jwt_secret; do
  value=$(sed -n "s/^  $key: *//p" "$secret_yaml")
  [ -n "$value" ] || fatal "$secret_yaml has no stringData key $key"
  printf '%s' "$value" > "$work/secrets/$key"
done
chown -R 0:10001 "$work/secrets"
chmod 0440 "$work/secrets"/*
install -m 0644 "$src/examples/$catalogue" "$work/catalog/$catalogue"

# As the Deployment runs its containers: read-only root file system (and no tmpfs podman would
# add), non-root numeric user, no capabilities, no privilege escalation, the two mounts read-only.
pod_opts=(
  --read-only --read-only-tmpfs=false
  --user 10001:10001 --cap-drop ALL --security-opt no-new-privileges
  "${ULIMITS[@]}"
  --volume "$work/config:/etc/config:ro" --volume "$work/secrets:/etc/secrets:ro"
  --env DATAFLOW_NAMESPACE=osservatorio
)
# Standalone: no Redis, the bundled catalogue instead of the ISTAT upstream.
standalone_env=(
  --env DATAFLOW_CACHE_BACKEND=memory
  --env DATAFLOW_CATALOG_MODE=file
  --env "DATAFLOW_CATALOG_FILE=/srv/catalog/$catalogue"
  --volume "$work/catalog:/srv/catalog:ro"
)

# run NAME ARGS...: a one-off container without network (nor health checks); its standard
# output in $work/NAME.out, with its standard error appended to it on failure.
run() {
  local name=$1
  shift
  if ! timeout 60 "${PODMAN[@]}" run --rm --network none --no-healthcheck "${pod_opts[@]}" \
         "${standalone_env[@]}" "$tag" "$@" > "$work/$name.out" 2> "$work/$name.err"; then
    cat "$work/$name.err" >> "$work/$name.out"
    return 1
  fi
}

# ---- dataflow --version
if run version --version && grep -qx "dataflow $version" "$work/version.out"; then
  pass "dataflow --version: $(cat "$work/version.out")"
else
  fail "dataflow --version should print 'dataflow $version', got: $(cat "$work/version.out")"
fi

# ---- the init container's config validate, with the same mounts
if run validate config validate && grep -q "config OK" "$work/validate.out"; then
  pass "config validate accepts the mounted ConfigMap and Secret"
else
  fail "config validate (the init container) refused the configuration:
$(cat "$work/validate.out")"
fi

# ---- analyze the bundled catalogue
if run summary analyze "/srv/catalog/$catalogue" -o summary; then
  if grep -q "Total dataflows analyzed: 456" "$work/summary.out" &&
     grep -Eq -- "- popolazione +44 " "$work/summary.out" &&
     grep -Eq -- "- altri +279 " "$work/summary.out"; then
    pass "analyze $catalogue -o summary: 456 dataflows, popolazione 44, altri 279"
  else
    fail "analyze -o summary: expected 456 dataflows (popolazione 44, altri 279), got:
$(cat "$work/summary.out")"
  fi
else
  fail "analyze $catalogue exited non-zero: $(cat "$work/summary.out")"
fi
if run csv analyze "/srv/catalog/$catalogue" -o csv -n 0 -c popolazione &&
   [ "$(sed -n 2p "$work/csv.out" | cut -d, -f1-4)" = "popolazione,1,27_385,IT1" ] &&
   [ "$(wc -l < "$work/csv.out")" -eq 45 ]; then
  pass "analyze -o csv -c popolazione: 44 rows, first 27_385 (Divorzi)"
else
  fail "analyze -o csv -n 0 -c popolazione: expected a header, 44 rows and" \
       "popolazione,1,27_385,IT1 first, got: $(head -n 3 "$work/csv.out")"
fi

# ---- serve, with the ports published to 127.0.0.1 (random free host ports)
name="dataflow-image-test-$$"
containers+=("$name")
# --health-interval disable: the image's HEALTHCHECK stays, run on demand below (podman would
# schedule it with systemd timers otherwise).
if ! "${PODMAN[@]}" run --detach --name "$name" "${pod_opts[@]}" "${standalone_env[@]}" \
       --health-interval disable --publish 127.0.0.1::8000 --publish 127.0.0.1::8001 "$tag" > /dev/null 2> "$work/run.err"
then
  fatal "podman run $tag (serve) failed: $(cat "$work/run.err")"
fi
api=$("${PODMAN[@]}" port "$name" 8000/tcp | head -n 1)
metrics=$("${PODMAN[@]}" port "$name" 8001/tcp | head -n 1)
case "$api" in 127.0.0.1:*) ;; *) fatal "port 8000 is not published on 127.0.0.1: '$api'" ;; esac

status=000
deadline=$((SECONDS + 20))
while [ $SECONDS -lt $deadline ]; do
  if [ "$("${PODMAN[@]}" inspect --format '{{.State.Running}}' "$name")" != true ]; then
    break
  fi
  status=$(curl --silent --max-time 2 --output /dev/null --write-out '%{http_code}' \
                "http://$api/health/ready" || true)
  [ "$status" = 200 ] && break
  sleep 0.2
done
if [ "$status" = 200 ]; then
  pass "serve: GET http://$api/health/ready 200 from outside the container"
else
  fail "serve: GET http://$api/health/ready gave ${status} within 20 s; container logs:
$("${PODMAN[@]}" logs "$name" 2>&1 | tail -n 30)"
fi

if [ "$status" = 200 ]; then
  body=$(curl --silent --max-time 5 "http://$metrics/metrics" || true)
  if grep -q "^dataflow_build_info{.*revision=\"$revision\"" <<< "$body"; then
    pass "/metrics on the metrics port: dataflow_build_info revision=\"$revision\""
  else
    fail "GET http://$metrics/metrics: no dataflow_build_info with revision=\"$revision\":
$(grep '^dataflow_build_info' <<< "$body" || echo "${body:0:300}")"
  fi
  body=$(curl --silent --max-time 5 "http://$api/health/status?verbose" || true)
  if grep -q "\[+\]config ok" <<< "$body"; then
    pass "/health/status?verbose: [+]config ok"
  else
    fail "GET /health/status?verbose: no [+]config ok: ${body:0:500}"
  fi

  # ---- the HEALTHCHECK the image carries, as Docker (podman exec) would run it
  check=$("${PODMAN[@]}" image inspect --format '{{range .Config.Healthcheck.Test}}{{.}} {{end}}' \
            "$tag" 2>/dev/null || true)
  read -r -a check_argv <<< "${check#CMD }"
  if [ "${check%% *}" != CMD ] || [ "${check_argv[0]:-}" != dataflow ] ||
     [ "${check_argv[1]:-}" != health ]; then
    fail "the image's HEALTHCHECK should be CMD [\"dataflow\", \"health\", ...] (built with" \
         "--format docker?), got: '${check}'"
  elif timeout 10 "${PODMAN[@]}" exec "$name" "${check_argv[@]}" > "$work/health.out" 2>&1; then
    pass "HEALTHCHECK via podman exec: ${check_argv[*]} exits 0"
  else
    fail "HEALTHCHECK via podman exec: ${check_argv[*]} exited non-zero:
$(cat "$work/health.out")"
  fi
  if timeout 15 "${PODMAN[@]}" healthcheck run "$name" > "$work/hc.out" 2>&1; then
    pass "podman healthcheck run: healthy"
  else
    fail "podman healthcheck run: $(cat "$work/hc.out")"
  fi
fi

# ---- size
bytes=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$tag")
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "image size: $tag $mb MB ($mib MiB, $bytes bytes); built in $build_seconds s; its layers:"
"${PODMAN[@]}" history --format '{{.Size}}\t{{.CreatedBy}}' "$tag" |
  awk -F'\t' '$1 != "0 B" { printf "  %10s  %s\n", $1, substr($2, 1, 90) }'

echo "for bench/README.md: | $(date -u +%F) | \`$revision\` | $mb MB ($mib MiB) |"

if [ "$failures" -gt 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "all image checks passed"
