#!/usr/bin/env bash
# Builds GStreamer's own WHIP and WHEP client elements (`whipsink`, `whepsrc`) from the
# gst-plugin-webrtchttp crate, the real third-party clients the WHIP/WHEP tests talk to.
# 0.12.10 is the last version that builds against Debian 12's GStreamer 1.22. The crate's source
# comes from the cargo registry; its dependencies are pinned by tests/whip/webrtchttp.Cargo.lock.
# Prints the folder holding libgstwebrtchttp.so (for GST_PLUGIN_PATH).
set -euo pipefail
VERSION=0.12.10
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${CARGO_TARGET_DIR:-$ROOT/target}/webrtchttp
LIB=$OUT/target/release/libgstwebrtchttp.so
LOCK=$ROOT/tests/whip/webrtchttp.Cargo.lock
if [ -f "$LIB" ] && [ "$LIB" -nt "$LOCK" ]; then
    dirname "$LIB"
    exit 0
fi
mkdir -p "$OUT/fetch/src"
# A throwaway manifest that depends on the crate makes cargo download its source.
cat > "$OUT/fetch/Cargo.toml" <<TOML
[package]
name = "fetch-webrtchttp"
version = "0.0.0"
edition = "2021"
[dependencies]
gst-plugin-webrtchttp = "=$VERSION"
[workspace]
TOML
echo 'fn main() {}' > "$OUT/fetch/src/main.rs"
cargo fetch --manifest-path "$OUT/fetch/Cargo.toml" >&2
SRC=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/gst-plugin-webrtchttp-$VERSION | head -1)
rm -rf "$OUT/crate"
cp -r "$SRC" "$OUT/crate"
cp "$LOCK" "$OUT/crate/Cargo.lock"
# Its own workspace, so that the enclosing one (Rheo's) does not claim it.
printf '\n[workspace]\n' >> "$OUT/crate/Cargo.toml"
cargo build --release --locked --lib --manifest-path "$OUT/crate/Cargo.toml" \
    --target-dir "$OUT/target" >&2
dirname "$LIB"
