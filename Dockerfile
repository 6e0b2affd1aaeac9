# syntax=docker/dockerfile:1
#
# dataflow-analyzer: `dataflow serve` on Debian 12, as a non-root user, ready for a read-only
# root filesystem (it writes no files). Build (Docker 23+ or any BuildKit builder; without
# Docker, scripts/build-image.sh builds it with podman) and try:
#
#   docker build -t dataflow-analyzer:dev --build-arg REVISION="$(git rev-parse --short=12 HEAD)" .
#   docker run --rm -p 8000:8000 -p 8001:8001 --read-only dataflow-analyzer:dev
#   docker run --rm dataflow-analyzer:dev analyze --help
#
# The facts shared with k8s/ (uid/gid 10001, ports 8000/8001, the health command, the
# /etc/config and /etc/secrets mounts, GLIBC_TUNABLES) are checked by tests/deploy; the image
# is built and run as the manifests run it by tests/image (`ctest -L image`).

# ---- build: the CMake build of CI (scripts/test.sh), but Release (-O3) and without tests
FROM debian:bookworm AS build

ENV DEBIAN_FRONTEND=noninteractive \
    CCACHE_DIR=/var/cache/ccache
WORKDIR /src

# Dependencies first, so that a source change does not reinstall them; only what compiling
# needs (no test, lint or benchmark tools).
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh --build-only && rm -rf /var/lib/apt/lists/*

# Only what the build reads: edits to tests, docs or manifests do not rebuild the binary.
COPY CMakeLists.txt ./
COPY lib/ lib/
COPY cli/ cli/
COPY bench/*.cpp bench/
COPY man/ man/
COPY completions/ completions/

# The git revision in the dataflow_build_info metric (the build context has no .git).
ARG REVISION=unknown
# ccache's directory is a build cache: a rebuild recompiles only what changed.
RUN --mount=type=cache,target=/var/cache/ccache \
    cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DDATAFLOW_BUILD_TESTS=OFF \
          -DDATAFLOW_WERROR=ON -DDATAFLOW_REVISION="${REVISION}" \
    && cmake --build /build \
    && DESTDIR=/install cmake --install /build --prefix /usr/local --strip \
    && rm -rf /build

# ---- runtime: the binary, its shared libraries, man pages and shell completions
FROM debian:bookworm-slim AS runtime

# The shared libraries of `ldd dataflow` and of its HTTP module (lib/dataflow/dataflow-http.so),
# by Debian package (tests/deploy checks the list).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
         ca-certificates \
         libbrotli1 \
         libcpp-httplib0.11 \
         libfmt9 \
         libhiredis0.14 \
         libspdlog1.10 \
         libssl3 \
         libstdc++6 \
         libtomlplusplus3 \
         zlib1g \
    && apt-get clean && rm -rf /var/lib/apt/lists/*

# A fixed non-root uid/gid: the Kubernetes manifests run as 10001:10001 (runAsNonRoot needs a
# numeric USER to verify).
RUN groupadd --gid 10001 dataflow \
    && useradd --uid 10001 --gid 10001 --no-log-init --no-create-home \
               --home-dir /nonexistent --shell /usr/sbin/nologin dataflow

COPY --from=build /install/usr/local/ /usr/local/

# Two malloc arenas and a fixed mmap threshold keep the heap near what is in use after large
# uploads (docs/OPERATIONS.md); k8s/base/deployment.yaml sets the same.
ENV GLIBC_TUNABLES=glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=1048576 \
    LANG=C.UTF-8

# Last, so that a new revision does not invalidate the layers above.
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown

LABEL org.opencontainers.image.title="dataflow-analyzer" \
      org.opencontainers.image.description="SDMX dataflow catalogue analyser: categories, relevance scores, HTTP API" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.vendor="Osservatorio" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

USER 10001:10001
WORKDIR /

# API (server.port) and Prometheus metrics (server.metrics_port).
EXPOSE 8000 8001

# Exit 0 healthy, 1 not (never 2, which Docker reserves).
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
    CMD ["dataflow", "health", "--probe", "ready", "--timeout", "2s"]

ENTRYPOINT ["dataflow"]
CMD ["serve"]
