#!/usr/bin/env bash
# Run Rheo's end-to-end tests against a running server.
#   tests/e2e/run.sh [ws-url] [http-base-url]
#   e.g. tests/e2e/run.sh ws://127.0.0.1:8888/kurento http://127.0.0.1:8888
# Needs node >= 20, npm, /usr/bin/chromium, gst-launch-1.0 and opencv-doc's sample images.
# Screenshots and frame dumps are kept in $RHEO_E2E_ARTIFACTS (a new temp dir by default).
set -euo pipefail

cd "$(dirname "$0")"

export RHEO_WS_URL="${1:-${RHEO_WS_URL:-ws://127.0.0.1:8888/kurento}}"
export RHEO_HTTP_URL="${2:-${RHEO_HTTP_URL:-http://127.0.0.1:8888}}"
shift $(( $# > 2 ? 2 : $# ))

# Dependencies: kurento-client 7.3.0 (reconnect-ws overridden to the npm 0.0.0 release, see
# package.json) and playwright-core. --ignore-scripts: no native builds, no browser download.
if [ ! -d node_modules/kurento-client ] || [ ! -d node_modules/playwright-core ]; then
  timeout 300 npm ci --ignore-scripts --no-audit --no-fund
fi

# Rheo's own client module (clients/kurento-module-rheopython) finds kurento-client here.
export NODE_PATH="$PWD/node_modules${NODE_PATH:+:$NODE_PATH}"

export RHEO_E2E_ARTIFACTS="${RHEO_E2E_ARTIFACTS:-$(mktemp -d -t rheo-e2e.XXXXXX)}"
mkdir -p "$RHEO_E2E_ARTIFACTS"

# Fake camera: the real sample photo with a face (opencv-doc's messi5.jpg), 640x480, 30 fps,
# I420 (what Chromium reads), made with GStreamer. RHEO_E2E_CAMERA=webcam (default: the
# player's upper body, face ~90 px) or full (the whole photo, face ~45 px); see lib/harness.mjs.
export RHEO_E2E_CAMERA="${RHEO_E2E_CAMERA:-webcam}"
export RHEO_Y4M="${RHEO_Y4M:-$RHEO_E2E_ARTIFACTS/messi5-$RHEO_E2E_CAMERA-640x480.y4m}"
if [ ! -s "$RHEO_Y4M" ]; then
  timeout 90 node -e 'import("./lib/harness.mjs").then((h) => h.buildY4m(process.env.RHEO_Y4M))'
fi
head -c 10 "$RHEO_Y4M" | grep -q '^YUV4MPEG2' || { echo "bad y4m: $RHEO_Y4M" >&2; exit 1; }

echo "e2e: server $RHEO_WS_URL, pages $RHEO_HTTP_URL, camera $RHEO_E2E_CAMERA, artifacts $RHEO_E2E_ARTIFACTS"

# Fail fast (with a clear message) if nothing answers.
timeout 10 node -e '
  const u = process.env.RHEO_HTTP_URL + "/";
  fetch(u).then(r => { if (!r.ok) { console.error("GET " + u + " -> " + r.status); process.exit(1); } })
    .catch(e => { console.error("GET " + u + ": " + e.message); process.exit(1); });
' || { echo "e2e: the server does not answer at $RHEO_HTTP_URL" >&2; exit 1; }

# Files run one after the other: both use Chromium and WebRTC on a 2-core machine.
status=0
timeout 900 node --test --test-concurrency=1 "$@" \
  kurento-client.test.mjs browser.test.mjs calls.test.mjs chroma.test.mjs crowd.test.mjs deploy.test.mjs origin.test.mjs || status=$?
echo "e2e: artifacts in $RHEO_E2E_ARTIFACTS"
exit $status
