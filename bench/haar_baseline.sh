#!/usr/bin/env bash
# Builds bench/haar_baseline.cpp against Debian's OpenCV and runs it: the face detection cost
# FaceOverlayFilter's CPU is compared with in BENCHMARKS.md.
#   bash bench/haar_baseline.sh [image] [runs]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$(mktemp -d -t rheo-haar.XXXXXX)"
trap 'rm -rf "$out"' EXIT
g++ -O2 -std=c++17 "$here/haar_baseline.cpp" $(pkg-config --cflags --libs opencv4) -o "$out/haar_baseline"
"$out/haar_baseline" "$@"
