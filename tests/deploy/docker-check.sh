#!/usr/bin/env bash
# docker-compose.yml for real: builds the images, brings Rheo + coturn up, and sends a browser's
# camera through them. Not part of `make test` (a cold build takes many minutes): `make docker-check`.
#   1. The base images, made locally when missing (deploy/base-images.sh: no registry needed).
#   2. Host layout (the compose file as shipped): build, up, /readyz; `secrets` ran once, the TURN
#      secret is root:10001 0440, rheo runs as uid 10001, the image holds no compiler; coturn
#      relays with /turn-credentials' credentials; headless Chromium in another network namespace
#      ("a laptop" at 192.168.78.2, the host at 192.168.78.1) gets the magic mirror's hat over
#      https, once directly and once with iceTransportPolicy "relay" through the containerised coturn.
#   3. down, up: the certificate and the TURN secret are kept; the browser, which accepts only the
#      first certificate's key, loads the page again.
#   4. Docker Desktop layout: the compose file's lines marked "Docker Desktop" instead of host
#      networking (a bridge network), EXTERNAL_IP set, the same browser checks.
# Everything it starts is stopped (containers, networks, volumes, the namespace, and dockerd when
# it started it); the images stay, so the next run builds warm.
# Needs root. Set RHEO_DOCKER_CHECK_KEEP=1 to keep the logs.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
[ "$(id -u)" = 0 ] || { echo "docker-check: needs root (dockerd, network namespaces)" >&2; exit 1; }

work="$(mktemp -d -t rheo-docker-check.XXXXXX)"
export DEBIAN_FRONTEND=noninteractive
{
  bash scripts/install-deps.sh test docker
  # Debian's engine, unless one (e.g. docker-ce) is already installed.
  if ! command -v dockerd >/dev/null; then apt-get install -y -qq --no-install-recommends docker.io; fi
  (cd tests/e2e && { [ -d node_modules/playwright-core ] || npm ci --ignore-scripts --no-audit --no-fund; })
} >"$work/install.log" 2>&1 || { tail -n 30 "$work/install.log"; echo "docker-check: installing what it needs failed" >&2; exit 1; }
# The caller's settings must not leak into compose.
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(RHEO_|KMS_|COMPOSE_|DOCKER_)' | grep -v '^RHEO_DOCKER_CHECK_KEEP$' || true)

project=rheo-docker-check
host_ip=192.168.78.1   # the host, as the laptop reaches it
laptop_ip=192.168.78.2
ns="rheo-dc-laptop-$$"
veth="rdc$$"
passed=0
failed=0
dockerd_pid=""
compose_file=docker-compose.yml
env_file="$work/check.env"

if docker compose version >/dev/null 2>&1; then compose_cmd=(docker compose); else compose_cmd=(docker-compose); fi
# --project-directory: relative paths in a compose file elsewhere are the checkout's.
# The compose file gives Rheo 1048576 descriptors; a host (or sandbox) whose own hard limit is
# lower cannot start it with that ("error setting rlimit type 7"): the check then runs it with
# the host's limit and says so.
overrides=()
host_nofile="$(ulimit -Hn)"
if [ "$host_nofile" != unlimited ] && [ "$host_nofile" -lt 1048576 ]; then
  printf 'services:\n  rheo:\n    ulimits:\n      nofile:\n        soft: %s\n        hard: %s\n' \
    "$host_nofile" "$host_nofile" >"$work/nofile.override.yml"
  overrides=(-f "$work/nofile.override.yml")
  echo "docker-check: this host's hard descriptor limit is $host_nofile: Rheo runs with it (the compose file asks 1048576)"
fi
compose() { "${compose_cmd[@]}" -p "$project" -f "$compose_file" "${overrides[@]}" --project-directory "$root" --env-file "$env_file" "$@"; }

cleanup() {
  set +e
  if [ -n "$(docker ps -aq --filter "label=com.docker.compose.project=$project" 2>/dev/null)" ] ||
     docker volume ls -q 2>/dev/null | grep -q "^${project}_"; then
    compose down -v --remove-orphans >"$work/down.log" 2>&1
  fi
  ip netns del "$ns" 2>/dev/null
  ip link del "$veth" 2>/dev/null
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 150); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.2; done
  fi
  if [ "$failed" = 0 ] && [ -z "${RHEO_DOCKER_CHECK_KEEP:-}" ]; then rm -rf "$work"; else echo "docker-check: logs in $work" >&2; fi
}
trap cleanup EXIT

check_dir="$work" check_tail=25
# shellcheck source=tests/deploy/checks.sh
. "$root/tests/deploy/checks.sh"
fatal() { bad "$*"; echo "docker-check: $passed passed, $failed failed"; exit 1; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(now)"; }

# ---------------------------------------------------------------- the engine and the bases
echo "docker-check: engine"
if ! docker info >/dev/null 2>&1; then
  dockerd >"$work/dockerd.log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  docker info >/dev/null 2>&1 || { tail -n 20 "$work/dockerd.log"; fatal "dockerd did not start"; }
  ok "dockerd started for the check (stopped at the end)"
else
  ok "a Docker engine is running"
fi
for port in 8888/tcp 8433/tcp 3478/udp; do
  if ss -Hln -A "${port#*/}" "sport = :${port%/*}" | grep -q .; then
    fatal "port $port is in use on this host: stop what holds it (another Rheo, coturn, a compose project)"
  fi
done
compose down -v --remove-orphans >/dev/null 2>&1 || true   # a previous, interrupted run

check "base images (deploy/base-images.sh: debian:12-slim, rust:1-bookworm)" bash deploy/base-images.sh

# ---------------------------------------------------------------- the laptop's network
ip netns add "$ns"
ip link add "$veth" type veth peer name "${veth}p"
ip link set "${veth}p" netns "$ns"
ip addr add "$host_ip/24" dev "$veth"
ip link set "$veth" up
ip -n "$ns" addr add "$laptop_ip/24" dev "${veth}p"
ip -n "$ns" link set lo up
ip -n "$ns" link set "${veth}p" up

# ---------------------------------------------------------------- helpers
container() { compose ps -q "$1"; }
wait_ready() { # wait_ready URL SECONDS
  local deadline=$((SECONDS + $2))
  while [ "$SECONDS" -lt "$deadline" ]; do
    curl -fsSk -m 1 -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}
up_and_ready() { # up_and_ready LABEL: up -d, then /readyz over https on the host address
  local t0; t0="$(now)"
  compose up -d >"$work/up-$1.log" 2>&1 || { cat "$work/up-$1.log"; return 1; }
  wait_ready "https://$host_ip:8433/readyz" 90 || { compose logs --tail 40 rheo; return 1; }
  echo "up to ready: $(since "$t0") s" | tee "$work/ready-$1.txt"
}
secrets_once() {
  local ids; ids="$(compose ps -aq secrets)"
  [ "$(wc -l <<<"$ids")" = 1 ] || { echo "secrets containers: $ids"; return 1; }
  docker inspect -f '{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}}' "$ids" | tee /dev/stderr | grep -qx 'exited 0 0'
}
secret_file() {
  local st; st="$(docker exec "$(container rheo)" stat -c '%u:%g %a %s' /run/rheo-secrets/turn-secret)"
  echo "turn-secret: $st"
  [[ "$st" =~ ^0:10001\ 440\ [1-9] ]]
}
healthy() { # the image's HEALTHCHECK (bash /dev/tcp to /healthz) turns healthy
  local deadline=$((SECONDS + 60)) st=""
  while [ "$SECONDS" -lt "$deadline" ]; do
    st="$(docker inspect -f '{{.State.Health.Status}}' "$(container rheo)")"
    [ "$st" = healthy ] && return 0
    sleep 1
  done
  echo "health: $st"; false
}
runs_as_rheo() {
  docker top "$(container rheo)" -eo pid,uid,comm | tee /dev/stderr | awk '$3 == "rheo" { found = 1; if ($2 != 10001) bad = 1 } END { exit !(found && !bad) }'
}
no_compiler() {
  local found; found="$(docker run --rm --entrypoint sh rheo:local -c 'for t in cc gcc clang rustc cargo; do command -v $t; done; true')"
  [ -z "$found" ] || { echo "compilers in the runtime image: $found"; return 1; }
}
turn_relays() { # turn_relays [uclient flags]: coturn relays an Allocate + 5 messages to a peer on the host, with minted credentials
  curl -fsS -m 5 "http://127.0.0.1:8888/turn-credentials" >"$work/creds.json" || return 1
  local user cred
  user="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["username"])' "$work/creds.json")"
  cred="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["credential"])' "$work/creds.json")"
  turnutils_peer -L "$host_ip" -p 3480 >"$work/peer.log" 2>&1 &
  local peer=$!
  sleep 0.5
  local rc=0
  timeout 30 turnutils_uclient "$@" -n 5 -m 1 -c -e "$host_ip" -r 3480 -u "$user" -w "$cred" "$host_ip" >"$work/uclient.out" 2>&1 || rc=$?
  kill "$peer" 2>/dev/null; wait "$peer" 2>/dev/null || true
  [ "$rc" = 0 ] && grep -q 'tot_recv_msgs=5' "$work/uclient.out" || { tail -n 15 "$work/uclient.out"; false; }
}
spki_of() { # base64 SHA-256 of the served certificate's public key, as Chromium pins it
  openssl s_client -connect "$host_ip:8433" -servername localhost </dev/null 2>/dev/null |
    openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64
}
export RHEO_E2E_ARTIFACTS="$work"
export RHEO_Y4M="$work/camera.y4m"
(cd tests/e2e && timeout 90 node -e 'import("./lib/harness.mjs").then((h) => h.buildY4m(process.env.RHEO_Y4M))')
browser() { # browser LABEL PATH [SPKI] [page query]: the magic mirror from the laptop
  local label="$1" path="$2" spki="${3:-}" query="${4:-}"
  local args=("https://$host_ip:8433/magicmirror/$query" --ice-path "$path")
  [ -n "$spki" ] && args+=(--spki "$spki")
  (cd tests/e2e && ip netns exec "$ns" timeout 150 node remote-browser.mjs "${args[@]}") | tee "$work/browser-$label.txt"
}
hat_pixels() { sed -n 's/.*hat pixels \([0-9]*\).*/\1/p' "$work/browser-$1.txt"; }

# ---------------------------------------------------------------- host layout
echo "docker-check: host networking (docker-compose.yml as shipped)"
printf 'HOST_IP=%s\n' "$host_ip" >"$env_file"
t0="$(now)"
if compose build >"$work/build.log" 2>&1; then
  ok "compose build ($(since "$t0") s; log: build.log)"
else
  tail -n 40 "$work/build.log"; fatal "compose build"
fi
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^(rheo|rheo-coturn):local ' | sed 's/^/       /'
check "up -d, then https://$host_ip:8433/readyz" up_and_ready host
check "secrets ran once and exited 0" secrets_once
check "the TURN secret is root:10001, mode 0440, not empty" secret_file
check "rheo runs as uid 10001" runs_as_rheo
check "the runtime image holds no compiler" no_compiler
check "coturn relays (UDP) with the credentials /turn-credentials minted" turn_relays
check "coturn relays (TCP to coturn) with the credentials /turn-credentials minted" turn_relays -t
spki="$(spki_of)"
cp "$work/creds.json" "$work/creds-before.json" 2>/dev/null || true
secret_before="$(docker exec "$(container rheo)" sha256sum /run/rheo-secrets/turn-secret)"
check "the laptop's browser: magic mirror over https, direct" browser host-direct direct "$spki"
check "the laptop's browser: magic mirror over https, relayed by coturn (?ice=relay)" browser host-relay relay "$spki" '?ice=relay'
check "the image's HEALTHCHECK reports healthy" healthy

echo "docker-check: down, up"
compose down >"$work/down1.log" 2>&1
check "up -d again, then /readyz" up_and_ready again
check "the same certificate after down/up" test "$(spki_of)" = "$spki"
check "the same TURN secret after down/up" test "$(docker exec "$(container rheo)" sha256sum /run/rheo-secrets/turn-secret)" = "$secret_before"
check "secrets ran once again and exited 0" secrets_once
check "the browser that accepted the first certificate loads the page again" browser again direct "$spki"
compose down -v >"$work/down2.log" 2>&1

# ---------------------------------------------------------------- Docker Desktop layout
echo "docker-check: Docker Desktop layout (ports: blocks, bridge network, EXTERNAL_IP)"
# The compose file's own comments, applied: `network_mode: host` out, the commented `ports:` block
# and the lines marked "Docker Desktop: uncomment" in.
compose_file="$work/docker-compose.desktop.yml"
awk '
  /^    network_mode: host/ { next }
  /^    # ports:/ { sub(/# /, ""); sub(/ *# Docker Desktop.*/, ""); inports = 1; print; next }
  inports && /^    #   - "/ { sub(/#   /, "  "); sub(/ *#.*/, ""); print; next }
  { inports = 0 }
  /# Docker Desktop: uncomment/ { sub(/# /, ""); sub(/ *# Docker Desktop: uncomment.*/, ""); print; next }
  { print }
' docker-compose.yml >"$compose_file"
printf 'EXTERNAL_IP=%s\n' "$host_ip" >"$env_file"
desktop_layout() {
  compose config >"$work/desktop-config.yml" || return 1
  ! grep -q 'network_mode: host' "$work/desktop-config.yml" &&
    grep -q 'published: 40099' "$work/desktop-config.yml" && grep -q "KMS_ICE_TCP: '0'" "$work/desktop-config.yml" ||
    { cat "$work/desktop-config.yml"; false; }
}
check "the Desktop layout: no host networking, ports published, ICE-TCP off" desktop_layout
check "up -d (bridge network), then /readyz" up_and_ready desktop
check "coturn shares rheo's network" bash -c "docker inspect -f '{{.HostConfig.NetworkMode}}' $(container coturn) | grep -q '^container:'"
check "rheo is on a bridge network" bash -c "docker inspect -f '{{range \$k, \$v := .NetworkSettings.Networks}}{{\$k}} {{end}}' $(container rheo) | grep -q '${project}_default'"
check "the laptop's browser: magic mirror, direct through the published ports" browser desktop-direct direct
check "the laptop's browser: magic mirror, relayed by coturn (?ice=relay)" browser desktop-relay relay '' '?ice=relay'
compose down -v >"$work/down3.log" 2>&1

echo "docker-check: figures"
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^(rheo|rheo-coturn|debian|rust):' | sed 's/^/  image /'
for f in host again desktop; do [ -s "$work/ready-$f.txt" ] && echo "  $f: $(cat "$work/ready-$f.txt")"; done
for l in host-direct host-relay again desktop-direct desktop-relay; do
  [ -s "$work/browser-$l.txt" ] && echo "  $l: hat pixels $(hat_pixels "$l"), $(grep -o 'path [a-z]* -> [a-z]* ([a-z]*)' "$work/browser-$l.txt")"
done
echo "docker-check: $passed passed, $failed failed"
[ "$failed" = 0 ]
