#!/usr/bin/env bash
# Checks the local-deployment files on this host, without a Docker engine:
#   - docker-compose.yml is valid, with and without a .env;
#   - coturn runs with deploy/turnserver.conf, started by deploy/coturn-start.sh as in compose;
#   - rheo runs with deploy/rheo.toml (plus only what a host run needs: 127.0.0.1, free ports,
#     temporary files) and serves /healthz, /readyz, /metrics, the demos over https, the
#     WebSocket over ws and wss, and /turn-credentials;
#   - coturn relays with those credentials, and refuses wrong or expired ones and private peers.
#   tests/deploy/host-check.sh [path/to/rheo]     (make deploy-check; inside loopback-only.sh)
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
bin="${1:-target/debug/rheo}"
for tool in docker-compose turnserver turnutils_uclient turnutils_peer turnutils_stunclient curl openssl python3; do
  command -v "$tool" >/dev/null || { echo "host-check: $tool is missing (bash scripts/install-deps.sh test)" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "host-check: no executable at $bin (build it first)" >&2; exit 1; }
# The caller's settings must not leak into the server under test.
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(RHEO_|KMS_)' | grep -v '^RHEO_IN_LOOPBACK_NS$' || true)

tmp="$(mktemp -d -t rheo-deploy.XXXXXX)"
pids=()
passed=0
failed=0
stop() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    # 10 s to stop (rheo releases its pipelines), then insist.
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ "$failed" = 0 ]; then rm -rf "$tmp"; else echo "host-check: logs kept in $tmp" >&2; fi
}
trap stop EXIT

check_dir="$tmp" check_tail=15
# shellcheck source=tests/deploy/checks.sh
. "$root/tests/deploy/checks.sh"
# wait_for SECONDS PID COMMAND...: polls COMMAND every 0.1 s until it succeeds, PID dies or time is up.
wait_for() {
  local deadline=$((SECONDS + $1)) pid="$2"; shift 2
  while [ "$SECONDS" -lt "$deadline" ]; do
    kill -0 "$pid" 2>/dev/null || return 1
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}
# A port free for both TCP and UDP on 127.0.0.1.
free_port() {
  python3 - <<'EOF'
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); break
    except OSError:
        t.close(); u.close()
print(p)
EOF
}
hmac() { printf '%s' "$1" | openssl dgst -binary -sha1 -hmac "$2" | base64; }

# ---------------------------------------------------------------- docker-compose.yml
echo "host-check: docker-compose.yml"
: >"$tmp/empty.env"
compose_plain() {
  docker-compose -f docker-compose.yml --env-file "$tmp/empty.env" config -q 2>"$tmp/compose.err"
  ! grep -i 'variable is not set' "$tmp/compose.err"
}
check "valid without a .env, and no variable lacks a default" compose_plain
printf 'EXTERNAL_IP=203.0.113.5\nTURN_SECRET=s3cret\nRHEO_ACCESS_TOKEN=t0ken\n' >"$tmp/full.env"
compose_full() {
  docker-compose -f docker-compose.yml --env-file "$tmp/full.env" config >"$tmp/compose.out"
  grep -q 'KMS_EXTERNAL_IPV4: 203.0.113.5' "$tmp/compose.out" \
    && grep -q 'EXTERNAL_IP: 203.0.113.5' "$tmp/compose.out" \
    && grep -q 'RHEO_ACCESS_TOKEN: t0ken' "$tmp/compose.out" \
    && grep -q 'TURN_SECRET: s3cret' "$tmp/compose.out"
}
check "valid with a .env; EXTERNAL_IP, TURN_SECRET, RHEO_ACCESS_TOKEN reach the services" compose_full
check "valid with .env.example" docker-compose -f docker-compose.yml --env-file .env.example config -q

# ---------------------------------------------------------------- coturn
echo "host-check: coturn with deploy/turnserver.conf"
secret="$(head -c 32 /dev/urandom | base64)"
printf '%s\n' "$secret" >"$tmp/turn-secret"
turn_port="$(free_port)"
peer_port="$(free_port)"
# As in compose (deploy/coturn-start.sh), with HOST_IP=127.0.0.1. coturn refuses loopback peers
# even when allowed, hence --allow-loopback-peers here; on a real host HOST_IP is a LAN address.
TURNSERVER_CONF=deploy/turnserver.conf TURN_SECRET_FILE="$tmp/turn-secret" HOST_IP=127.0.0.1 EXTERNAL_IP='' \
  sh deploy/coturn-start.sh --listening-ip 127.0.0.1 --listening-port "$turn_port" --allow-loopback-peers \
  --pidfile "$tmp/turnserver.pid" --db "$tmp/turndb" >"$tmp/coturn.log" 2>&1 &
coturn_pid=$!
pids+=("$coturn_pid")
turnutils_peer -L 127.0.0.1 -p "$peer_port" >"$tmp/peer.log" 2>&1 &
pids+=("$!")

coturn_up=0
if wait_for 20 "$coturn_pid" timeout 2 turnutils_stunclient -p "$turn_port" 127.0.0.1; then
  coturn_up=1
  ok "coturn answers STUN on 127.0.0.1:$turn_port"
else
  bad "coturn answers STUN on 127.0.0.1:$turn_port within 20 s"; tail -n 20 "$tmp/coturn.log" | sed 's/^/       | /'
fi
conf_clean() {
  # coturn logs a bad line and goes on; so: no error, and every denied-peer-ip range taken.
  ! grep -E -i 'wrong|bad configuration|unknown|cannot|error' "$tmp/coturn.log" || return 1
  [ "$(grep -c '^denied-peer-ip=' deploy/turnserver.conf)" = "$(grep 'Black listing:' "$tmp/coturn.log" | sort -u | wc -l)" ]
}
[ "$coturn_up" = 1 ] && check "deploy/turnserver.conf loads without errors, all denied-peer-ip ranges taken" conf_clean

# relay USER CREDENTIAL PEER [uclient flags]: an Allocate, a permission and 5 messages echoed back.
relay() {
  local user="$1" cred="$2" peer="$3"; shift 3
  timeout 30 turnutils_uclient "$@" -n 5 -m 1 -c -e "$peer" -r "$peer_port" -u "$user" -w "$cred" -p "$turn_port" 127.0.0.1
}
relays() { relay "$@" >"$tmp/uclient.out" 2>&1 && grep -q 'tot_recv_msgs=5' "$tmp/uclient.out" || { cat "$tmp/uclient.out"; false; }; }
refused() { # refused PATTERN ARGS...: uclient fails, saying PATTERN
  local pattern="$1"; shift
  ! relay "$@" >"$tmp/uclient.out" 2>&1 && grep -q "$pattern" "$tmp/uclient.out" || { cat "$tmp/uclient.out"; false; }
}
if [ "$coturn_up" = 1 ]; then
  user="$(($(date +%s) + 3600)):rheo"
  cred="$(hmac "$user" "$secret")"
  old="$(($(date +%s) - 60)):rheo"
  check "relays with a credential computed from the secret (UDP)" relays "$user" "$cred" 127.0.0.1
  check "refuses a wrong credential" refused 'Cannot complete Allocation' "$user" "x$cred" 127.0.0.1
  check "refuses an expired credential" refused 'Cannot complete Allocation' "$old" "$(hmac "$old" "$secret")" 127.0.0.1
  for peer in 10.0.0.1 192.168.1.20 172.17.0.1 127.0.0.2; do
    check "refuses to relay to $peer" refused 'Forbidden IP' "$user" "$cred" "$peer"
  done
fi

# ---------------------------------------------------------------- rheo
echo "host-check: $bin with deploy/rheo.toml"
port="$(free_port)"
sport="$(free_port)"
mkdir -p "$tmp/media" "$tmp/tls"
"$bin" --config deploy/rheo.toml --bind 127.0.0.1 --port "$port" --secure-port "$sport" \
  --web-dir web --media-root "$tmp/media" --tls-certificate "$tmp/tls/self-signed.pem" \
  --turn-secret-file "$tmp/turn-secret" >"$tmp/rheo.log" 2>&1 &
rheo_pid=$!
pids+=("$rheo_pid")
http="http://127.0.0.1:$port"
https="https://127.0.0.1:$sport"

status_body() { # status_body URL EXPECTED_STATUS EXPECTED_BODY_REGEX [curl args]
  local url="$1" want="$2" body="$3"; shift 3
  local got
  got="$(curl -sS -m 5 -o "$tmp/body" -w '%{http_code}' "$@" "$url")" || return 1
  [ "$got" = "$want" ] && grep -Eq "$body" "$tmp/body" || { echo "$url: $got"; head -c 500 "$tmp/body"; false; }
}
upgrade() { # upgrade URL [curl args]: a WebSocket handshake answered 101 with the right accept key
  local url="$1"; shift
  local rc=0
  # curl keeps reading the upgraded connection until -m; 28 (time-out) is expected.
  curl -sS -m 3 --http1.1 -o /dev/null -D "$tmp/ws.headers" "$@" \
    -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$url" || rc=$?
  [ "$rc" = 0 ] || [ "$rc" = 28 ] || return 1
  grep -q '^HTTP/1.1 101' "$tmp/ws.headers" && grep -qi '^Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=' "$tmp/ws.headers" \
    || { cat "$tmp/ws.headers"; false; }
}
turn_credentials() {
  curl -sS -m 5 -f "$http/turn-credentials" >"$tmp/creds.json" || return 1
  python3 - "$tmp/creds.json" "$secret" <<'EOF'
import base64, hashlib, hmac, json, re, sys, time
c = json.load(open(sys.argv[1]))
secret = sys.argv[2].encode()
m = re.fullmatch(r"(\d+):rheo", c["username"])
assert m, c["username"]
assert c["ttl"] == 86400, c["ttl"]
assert abs(int(m[1]) - (time.time() + c["ttl"])) < 120, "expiry is not now + ttl"
want = base64.b64encode(hmac.new(secret, c["username"].encode(), hashlib.sha1).digest()).decode()
assert c["credential"] == want, "credential is not HMAC-SHA1(secret file, username)"
uris = c["uris"]
assert any(re.fullmatch(r"turn:127\.0\.0\.1:3478(\?transport=udp)?", u) for u in uris), uris
assert "turn:127.0.0.1:3478?transport=tcp" in uris, uris
s = c["iceServers"][0]
assert s["username"] == c["username"] and s["credential"] == c["credential"], s
assert sorted(s["urls"]) == sorted(uris), s
open(sys.argv[1] + ".user", "w").write(c["username"])
open(sys.argv[1] + ".cred", "w").write(c["credential"])
EOF
}

if wait_for 30 "$rheo_pid" curl -fsS -m 1 "$http/healthz"; then
  check "GET /healthz: 200 ok" status_body "$http/healthz" 200 '^ok'
  check "GET /readyz: 200 ready (within 30 s)" wait_for 30 "$rheo_pid" status_body "$http/readyz" 200 '^ready'
  check "GET /metrics: has rheo_sessions" status_body "$http/metrics" 200 '^rheo_sessions'
  title="$(grep -o '<title>[^<]*</title>' web/index.html)"
  check "https://127.0.0.1:$sport/ (self-signed, curl -k): the demo index" status_body "$https/" 200 "$title" -k
  check "https://127.0.0.1:$sport/magicmirror/: 200" status_body "$https/magicmirror/" 200 'html' -k
  check "the self-signed certificate is kept at tls_certificate" test -s "$tmp/tls/self-signed.pem"
  check "wss://127.0.0.1:$sport/kurento: WebSocket upgrade (101)" upgrade "$https/kurento" -k
  check "ws://127.0.0.1:$port/kurento: WebSocket upgrade (101)" upgrade "$http/kurento"
  check "GET /turn-credentials: TURN REST username/credential from the secret file, default uris" turn_credentials
  if [ -s "$tmp/creds.json.user" ] && [ "$coturn_up" = 1 ]; then
    check "coturn relays with /turn-credentials' credentials (UDP)" relays "$(cat "$tmp/creds.json.user")" "$(cat "$tmp/creds.json.cred")" 127.0.0.1
    check "coturn relays with /turn-credentials' credentials (TCP to the server)" relays "$(cat "$tmp/creds.json.user")" "$(cat "$tmp/creds.json.cred")" 127.0.0.1 -t
  else
    bad "coturn relays with /turn-credentials' credentials (no credentials, or no coturn)"
  fi
else
  bad "rheo answers /healthz within 30 s"; tail -n 30 "$tmp/rheo.log" | sed 's/^/       | /'
fi

echo "deploy-check: $passed passed, $failed failed"
[ "$failed" = 0 ]
