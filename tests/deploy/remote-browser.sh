#!/usr/bin/env bash
# The README's "from another machine" steps, run for real: Rheo and coturn on a "server" network
# namespace (192.168.77.1, a LAN address), headless Chromium on a "laptop" namespace
# (192.168.77.2) opening https://192.168.77.1:8433/magicmirror/. Rheo runs with the README's
# flags; coturn with deploy/coturn-start.sh and deploy/turnserver.conf.
#   tests/deploy/remote-browser.sh [path/to/rheo]
# Needs root (network namespaces), coturn, Chromium and tests/e2e/node_modules.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$(cd "$(dirname "${1:-$root/target/debug/rheo}")" && pwd)/$(basename "${1:-rheo}")"
[ -x "$bin" ] || { echo "remote-browser: no executable at $bin" >&2; exit 1; }

srv="rheo-lan-srv-$$"; pc="rheo-lan-pc-$$"
if ! ip netns add "$srv" 2>/dev/null; then
  echo "remote-browser: ###### NOT RUN: cannot create network namespaces (needs root) ######" >&2
  exit 0
fi
work="$(mktemp -d -t rheo-remote.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -s "$work/turn.pid" ] && kill "$(cat "$work/turn.pid")" 2>/dev/null || true
  ip netns del "$srv" 2>/dev/null || true
  ip netns del "$pc" 2>/dev/null || true
}
trap cleanup EXIT
fail() {
  echo "remote-browser: FAILED: $*" >&2
  echo "--- rheo log:" >&2; tail -n 30 "$work/rheo.log" >&2 || true
  echo "--- coturn log:" >&2; tail -n 15 "$work/coturn.log" >&2 || true
  exit 1
}

ip netns add "$pc"
ip link add "rl0-$$" type veth peer name "rl1-$$"
ip link set "rl0-$$" netns "$srv"; ip link set "rl1-$$" netns "$pc"
ip -n "$srv" addr add 192.168.77.1/24 dev "rl0-$$"
ip -n "$pc" addr add 192.168.77.2/24 dev "rl1-$$"
for ns in "$srv" "$pc"; do ip -n "$ns" link set lo up; done
ip -n "$srv" link set "rl0-$$" up; ip -n "$pc" link set "rl1-$$" up

head -c 32 /dev/urandom | base64 >"$work/turn-secret"
ip netns exec "$srv" env HOST_IP=192.168.77.1 TURNSERVER_CONF="$root/deploy/turnserver.conf" \
  TURN_SECRET_FILE="$work/turn-secret" sh "$root/deploy/coturn-start.sh" \
  --pidfile "$work/turn.pid" --db "$work/turn.db" >"$work/coturn.log" 2>&1 &
pids+=($!)
# The README's command, from the repository root (the demos are ./web).
(cd "$root" && exec ip netns exec "$srv" "$bin" --tls-self-signed --min-port 40000 --max-port 40099 \
  --turn-secret-file "$work/turn-secret") >"$work/rheo.log" 2>&1 &
pids+=($!)

ready=0
for _ in $(seq 150); do
  if ip netns exec "$pc" curl -fsk -m 1 -o /dev/null https://192.168.77.1:8433/readyz; then ready=1; break; fi
  sleep 0.2
done
[ "$ready" = 1 ] || fail "https://192.168.77.1:8433/readyz did not answer within 30 s"

export RHEO_E2E_ARTIFACTS="${RHEO_E2E_ARTIFACTS:-$work}"
export RHEO_Y4M="${RHEO_Y4M:-$work/camera.y4m}"
cd "$root/tests/e2e"
[ -s "$RHEO_Y4M" ] || timeout 90 node -e 'import("./lib/harness.mjs").then((h) => h.buildY4m(process.env.RHEO_Y4M))'
ip netns exec "$pc" timeout 120 node remote-browser.mjs https://192.168.77.1:8433/magicmirror/ ||
  fail "the remote browser did not get the magic mirror"
echo "remote-browser: ok: magic mirror over https from another host, with a TURN relay offered"
# The same laptop on a bad line: 2 % of the UDP packets lost each way.
for chain in INPUT OUTPUT; do
  ip netns exec "$pc" iptables -A "$chain" -p udp -m statistic --mode random --probability 0.02 -j DROP
done
ip netns exec "$pc" timeout 120 node lossy-browser.mjs https://192.168.77.1:8433/helloworld/ ||
  fail "NACK and RTX did not carry the loopback over a lossy line"
echo "remote-browser: ok: NACK and RTX both ways with Chromium over a line losing 2 % each way"
