#!/usr/bin/env bash
# Start Rheo on a free local port, run the end-to-end tests against it, stop it.
#   tests/e2e/with-rheo.sh [path/to/rheo] [extra node --test args...]
# The server's log is kept beside the test artifacts ($RHEO_E2E_ARTIFACTS).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:-$root/target/debug/rheo}"
[ $# -gt 0 ] && shift
[ -x "$bin" ] || { echo "with-rheo: no executable at $bin (build it first)" >&2; exit 1; }

export RHEO_BIN="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
export RHEO_E2E_ARTIFACTS="${RHEO_E2E_ARTIFACTS:-$(mktemp -d -t rheo-e2e.XXXXXX)}"
mkdir -p "$RHEO_E2E_ARTIFACTS"
log="$RHEO_E2E_ARTIFACTS/rheo.log"

port="${RHEO_E2E_PORT:-$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')}"

RUST_LOG="${RUST_LOG:-info}" "$bin" --bind 127.0.0.1 --port "$port" --web-dir "$root/web" --media-root /tmp --network-interfaces lo >"$log" 2>&1 &
pid=$!
stop() {
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    # give it 10 s to release its pipelines, then insist
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
trap stop EXIT

# Readiness: /healthz answers (at most 30 s), and the process is still alive.
ready=0
for _ in $(seq 300); do
  kill -0 "$pid" 2>/dev/null || { echo "with-rheo: rheo exited early; log:" >&2; tail -n 50 "$log" >&2; exit 1; }
  if curl -fsS -m 1 "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.1
done
[ "$ready" = 1 ] || { echo "with-rheo: rheo did not answer /healthz within 30 s; log:" >&2; tail -n 50 "$log" >&2; exit 1; }

status=0
"$here/run.sh" "ws://127.0.0.1:$port/kurento" "http://127.0.0.1:$port" "$@" || status=$?
if [ "$status" != 0 ]; then
  echo "with-rheo: tests failed; last lines of $log:" >&2
  tail -n 40 "$log" >&2
fi
exit "$status"
