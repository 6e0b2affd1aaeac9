#!/usr/bin/env bash
# Builds the dataflow-analyzer image from the repository's Dockerfile with podman, on a machine
# without Docker and without access to a container registry:
#
#   1. the base images debian:bookworm and debian:bookworm-slim, when absent, are made from
#      Debian packages with mmdebstrap (minbase, merged /usr; the slim one without docs, man
#      pages and translations, as Docker Hub's) and imported with `podman import`;
#   2. `podman build --pull=never` builds the Dockerfile (REVISION = the git commit);
#   3. the image's size is printed.
#
# Idempotent: existing base images are kept (Docker Hub's, if present, are used as they are);
# podman's layer cache, and the ccache cache mount of the build stage, make a rebuild take
# seconds without source changes and recompile only what changed otherwise.
#
#   scripts/build-image.sh [--tag NAME] [--no-cache] [--rebuild-base] [--base-only] [--log FILE]
#
#   --tag NAME      image name (default dataflow-analyzer:dev)
#   --no-cache      rebuild every layer of the Dockerfile (the compiler cache is kept)
#   --rebuild-base  make the base images again (with the mirrors' current packages)
#   --base-only     only make the base images
#   --log FILE      build output to FILE instead of the terminal (the summary still printed)
#
# Run as root, with the Debian packages podman, runc, containernetworking-plugins, iptables and
# mmdebstrap (scripts/install-deps.sh installs them). Only the Debian mirrors are contacted
# (DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR). PODMAN_OPTS replaces the global podman options,
# default `--runtime runc --cgroup-manager cgroupfs`: they work on cgroup v1 and hybrid hosts
# and without systemd, where crun or the systemd cgroup manager fail. The build's containers get
# explicit ulimits, at most the host's hard limits, 65536 open files and 4096 processes
# (podman's defaults can exceed what the host allows, and runc then refuses to start).
#
# tests/image/test_image.sh sources this file for podman_cmd and podman_ulimits.
set -euo pipefail

DEBIAN_SUITE=bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

# The podman command with its global options, into the array PODMAN.
podman_cmd() {
  local opts=${PODMAN_OPTS---runtime runc --cgroup-manager cgroupfs}
  read -r -a PODMAN <<< "podman $opts"
}

# --ulimit options for `podman build` and `podman run`, into the array ULIMITS: open files and
# processes at most what this shell may have (runc refuses more) and at most 65536 / 4096.
podman_ulimits() {
  local nofile nproc
  nofile=$(ulimit -Hn)
  nproc=$(ulimit -Hu)
  [ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ] && nofile=65536
  [ "$nproc" = unlimited ] || [ "$nproc" -gt 4096 ] && nproc=4096
  ULIMITS=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
}

# Progress lines: to stdout, and also to the terminal (fd 3) when the output goes to --log.
LOGFILE=""
log() {
  echo "build-image: $*"
  if [ -n "$LOGFILE" ]; then echo "build-image: $*" >&3; fi
}
die() { echo "build-image: $*" >&2; exit 1; }

# Docker Hub's slim images: no documentation (copyright files kept), man pages, info or
# translations; dpkg keeps these rules for later installs (/etc/dpkg/dpkg.cfg.d/docker).
SLIM_RULES=(
  path-exclude=/usr/share/doc/* path-include=/usr/share/doc/*/copyright
  path-exclude=/usr/share/man/* path-exclude=/usr/share/groff/* path-exclude=/usr/share/info/*
  path-exclude=/usr/share/lintian/* path-exclude=/usr/share/linda/*
  path-exclude=/usr/share/locale/* path-include=/usr/share/locale/locale.alias
)

# Writes the root file systems of debian:$DEBIAN_SUITE and debian:$DEBIAN_SUITE-slim as
# tarballs into the directory $1: one mmdebstrap run, the slim one filtered from it.
make_rootfs() {
  local dir=$1 rule
  mkdir -p "$dir/files/etc/apt/apt.conf.d" "$dir/files/etc/dpkg/dpkg.cfg.d"
  # As in Docker Hub's images: apt keeps no downloaded packages or package caches, so that an
  # `apt-get install` layer holds only what it installs.
  local clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"'
  printf '%s\n' "DPkg::Post-Invoke { $clean; };" "APT::Update::Post-Invoke { $clean; };" \
         'Dir::Cache::pkgcache "";' 'Dir::Cache::srcpkgcache "";' \
         > "$dir/files/etc/apt/apt.conf.d/docker-clean"
  for rule in "${SLIM_RULES[@]}"; do
    echo "${rule/=/ }"
  done > "$dir/files/etc/dpkg/dpkg.cfg.d/docker"
  mmdebstrap --variant=minbase --quiet \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --aptopt='Acquire::Languages "none"' \
    "$DEBIAN_SUITE" "$dir/$DEBIAN_SUITE.tar" \
    "deb $DEBIAN_MIRROR $DEBIAN_SUITE main" \
    "deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main" \
    "deb $DEBIAN_SECURITY_MIRROR $DEBIAN_SUITE-security main"
  # Added afterwards: mmdebstrap's own clean-up would leave apt's caches behind with it.
  tar --append --file "$dir/$DEBIAN_SUITE.tar" --owner=0 --group=0 --mode=0644 \
      -C "$dir/files" ./etc/apt/apt.conf.d/docker-clean
  mmtarfilter "${SLIM_RULES[@]/#/--}" < "$dir/$DEBIAN_SUITE.tar" > "$dir/$DEBIAN_SUITE-slim.tar"
  tar --append --file "$dir/$DEBIAN_SUITE-slim.tar" --owner=0 --group=0 --mode=0644 \
      -C "$dir/files" ./etc/dpkg/dpkg.cfg.d/docker
}

# Makes the missing base images (all of them with --rebuild-base).
make_base_images() {
  local rebuild=$1 tags=() tag
  for tag in "$DEBIAN_SUITE" "$DEBIAN_SUITE-slim"; do
    if [ "$rebuild" = 1 ] || ! "${PODMAN[@]}" image exists "debian:$tag"; then
      tags+=("$tag")
    fi
  done
  if [ ${#tags[@]} -eq 0 ]; then
    log "base images debian:$DEBIAN_SUITE and debian:$DEBIAN_SUITE-slim present"
    return
  fi
  local tool
  for tool in mmdebstrap mmtarfilter; do
    command -v "$tool" >/dev/null || die "$tool is needed to make the base images" \
      "(apt-get install mmdebstrap, or scripts/install-deps.sh)"
  done
  local start=$SECONDS tmp
  tmp=$(mktemp -d /var/tmp/dataflow-base.XXXXXX)
  # shellcheck disable=SC2064 # expand $tmp now
  trap "rm -rf '$tmp'" EXIT
  log "making base images ${tags[*]/#/debian:} with mmdebstrap ($DEBIAN_MIRROR)"
  make_rootfs "$tmp"
  for tag in "${tags[@]}"; do
    "${PODMAN[@]}" import --quiet \
      --change 'CMD ["bash"]' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "LABEL org.opencontainers.image.description=\"debian:$tag made locally with mmdebstrap (scripts/build-image.sh)\"" \
      "$tmp/$tag.tar" "debian:$tag" > /dev/null
  done
  rm -rf "$tmp"
  trap - EXIT
  log "base images made in $((SECONDS - start)) s"
}

main() {
  local tag=dataflow-analyzer:dev no_cache=() rebuild_base=0 base_only=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --tag) [ $# -ge 2 ] || die "--tag needs a name"; tag=$2; shift ;;
      --tag=*) tag=${1#--tag=} ;;
      --no-cache) no_cache=(--no-cache) ;;
      --rebuild-base) rebuild_base=1 ;;
      --base-only) base_only=1 ;;
      --log) [ $# -ge 2 ] || die "--log needs a file"; LOGFILE=$2; shift ;;
      --log=*) LOGFILE=${1#--log=} ;;
      -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
      *) die "unknown option $1 (see --help)" ;;
    esac
    shift
  done
  [ -z "$LOGFILE" ] || LOGFILE=$(realpath -m "$LOGFILE")
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  command -v podman >/dev/null || die "podman is needed (apt-get install podman runc" \
    "containernetworking-plugins iptables mmdebstrap, or scripts/install-deps.sh)"
  podman_cmd
  podman_ulimits
  if [ -n "$LOGFILE" ]; then
    exec 3>&1 4>&2 > "$LOGFILE" 2>&1
  fi
  fail() {
    if [ -n "$LOGFILE" ]; then
      tail -n 40 "$LOGFILE" >&4
      die "$* (the last lines of $LOGFILE above)" 2>&4
    fi
    die "$*"
  }

  local start=$SECONDS
  (make_base_images "$rebuild_base") || fail "could not make the base images"
  [ "$base_only" = 0 ] || return 0

  local revision created
  revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
  created=$(git log -1 --format=%cI 2>/dev/null || echo unknown)
  log "building $tag (revision $revision) from Dockerfile"
  local build_start=$SECONDS
  # --format docker: the OCI format has no HEALTHCHECK (podman would drop it).
  if ! "${PODMAN[@]}" build --pull=never --format docker "${no_cache[@]}" "${ULIMITS[@]}" \
        --build-arg REVISION="$revision" --build-arg CREATED="$created" \
        --tag "$tag" --file Dockerfile .; then
    fail "podman build failed"
  fi
  local bytes
  bytes=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "$tag")
  log "built $tag in $((SECONDS - build_start)) s ($((SECONDS - start)) s in all)"
  log "image size: $tag $(awk -v b="$bytes" 'BEGIN { printf "%.1f MB (%.1f MiB, %d bytes)", b / 1e6, b / 1048576, b }')"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main "$@"
fi
