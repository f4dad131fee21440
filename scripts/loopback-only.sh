#!/usr/bin/env bash
# Runs a command in a fresh network namespace whose only interface is loopback, so every ICE
# candidate (Rheo's, the test peers', Chromium's) is 127.0.0.1/::1 and no test packet can be
# addressed anywhere else. Falls back to running it directly, loudly, where namespaces are not
# allowed.
set -euo pipefail
if [ "${RHEO_IN_LOOPBACK_NS:-}" = 1 ]; then
  exec "$@"
fi
if unshare -n true 2>/dev/null; then
  exec unshare -n env RHEO_IN_LOOPBACK_NS=1 bash -c 'ip link set lo up && exec "$@"' _ "$@"
fi
if unshare -rn true 2>/dev/null; then
  exec unshare -rn env RHEO_IN_LOOPBACK_NS=1 bash -c 'ip link set lo up && exec "$@"' _ "$@"
fi
echo "loopback-only: WARNING: cannot create a network namespace; running on the host network" >&2
exec "$@"
