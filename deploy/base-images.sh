#!/usr/bin/env bash
# Builds local stand-ins for the two base images the Dockerfiles name, for a Docker host that
# reaches Debian's mirror but no image registry (an air gap, a private mirror):
#   debian:12-slim     debootstrap --variant=minbase bookworm, from the mirror apt uses here
#   rust:1-bookworm    that base, this machine's stable Rust toolchain under /usr/local
#                      (RUSTUP_HOME=/usr/local/rustup, CARGO_HOME=/usr/local/cargo), and this
#                      machine's local CA certificates, so that cargo inside a build trusts the
#                      same TLS proxy or private registry the host does
# Nothing else changes: the project's Dockerfiles and docker-compose.yml stay as they are.
#   sudo deploy/base-images.sh            makes the missing ones
#   sudo deploy/base-images.sh --force    makes both again
# Needs root, debootstrap, docker (a running engine) and rustup's stable toolchain.
set -euo pipefail
slim=debian:12-slim
rust=rust:1-bookworm
force=0
[ "${1:-}" = --force ] && force=1

have() { [ "$force" = 0 ] && docker image inspect "$1" >/dev/null 2>&1; }
say() { echo "base-images: $*" >&2; }

# The Debian mirror apt uses here: deb822 sources first, then the one-line format.
debian_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '/^URIs:/ { uri = $2 } /^Suites:/ && / bookworm( |$)/ && uri != "" { print uri; exit }' "$f"
  done | head -n 1 | grep . && return
  grep -hE '^deb\s+(\[[^]]*\]\s+)?\S+\s+bookworm\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    sed -E 's/^deb\s+(\[[^]]*\]\s+)?(\S+).*/\2/' | head -n 1 | grep .
}

work="$(mktemp -d -t rheo-base-images.XXXXXX)"
trap 'rm -rf "$work"' EXIT

if have "$slim"; then
  say "$slim is there"
else
  command -v debootstrap >/dev/null || { say "debootstrap is missing (apt-get install debootstrap)"; exit 1; }
  mirror="$(debian_mirror)" || { say "no bookworm mirror found in apt's sources"; exit 1; }
  say "debootstrap --variant=minbase bookworm from $mirror"
  debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
  # The same sources apt uses here (bookworm, -updates, -security), when they are deb822.
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    cp /etc/apt/sources.list.d/debian.sources "$work/rootfs/etc/apt/sources.list.d/debian.sources"
    rm -f "$work/rootfs/etc/apt/sources.list"
  fi
  rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin \
    "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/log/"*.log
  tar -C "$work/rootfs" --numeric-owner -c . |
    docker import --change 'CMD ["bash"]' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$slim" >/dev/null
  say "made $slim"
fi

if have "$rust"; then
  say "$rust is there"
else
  sysroot="$(rustc +stable --print sysroot 2>/dev/null || rustc --print sysroot)"
  rustup_bin="$(command -v rustup || true)"
  [ -x "$sysroot/bin/cargo" ] || { say "no Rust toolchain with cargo at $sysroot"; exit 1; }
  toolchain="$(basename "$sysroot")"
  say "$rust from $slim + $toolchain ($("$sysroot/bin/rustc" --version))"
  ctx="$work/rust"
  mkdir -p "$ctx/rustup/toolchains" "$ctx/cargo/bin" "$ctx/ca"
  # The HTML documentation (most of the toolchain's size) stays behind.
  tar -C "$(dirname "$sysroot")" --exclude="$toolchain/share/doc" -c "$toolchain" |
    tar -C "$ctx/rustup/toolchains" -x
  printf 'version = "12"\ndefault_toolchain = "%s"\nprofile = "minimal"\nauto_self_update = "disable"\n' \
    "$toolchain" >"$ctx/rustup/settings.toml"
  if [ -n "$rustup_bin" ]; then
    # As in the registry image: rustup's proxies pick the default toolchain.
    cp "$(readlink -f "$rustup_bin")" "$ctx/cargo/bin/rustup"
    for t in cargo rustc rustdoc cargo-clippy clippy-driver cargo-fmt rustfmt; do
      [ -e "$sysroot/bin/$t" ] && ln -s rustup "$ctx/cargo/bin/$t"
    done
  else
    for t in "$sysroot"/bin/*; do ln -s "/usr/local/rustup/toolchains/$toolchain/bin/$(basename "$t")" "$ctx/cargo/bin/"; done
  fi
  cp /usr/local/share/ca-certificates/*.crt "$ctx/ca/" 2>/dev/null || true
  say "local CA certificates: $(ls "$ctx/ca" | wc -l)"
  cat >"$ctx/Dockerfile" <<EOF
FROM $slim
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
COPY ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo \\
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY rustup/ /usr/local/rustup/
COPY cargo/ /usr/local/cargo/
RUN cargo --version && rustc --version
EOF
  docker build -q -t "$rust" "$ctx" >/dev/null
  say "made $rust"
fi
