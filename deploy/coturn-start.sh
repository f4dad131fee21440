#!/bin/sh
# Starts coturn with deploy/turnserver.conf and the secret Rheo signs TURN credentials with.
# The compose demo's coturn entrypoint; tests/deploy/host-check.sh runs it too.
#   HOST_IP      this machine's address: the relay binds there and may relay to it (Rheo runs
#                there, and the config denies private ranges). Default: the default route's source.
#   EXTERNAL_IP  public address behind a 1:1 NAT (or the host's LAN address under Docker
#                Desktop): announced in relay candidates, and allowed as a peer too.
# Extra arguments go to turnserver.
set -eu
conf=${TURNSERVER_CONF:-/etc/turnserver.conf}
secret_file=${TURN_SECRET_FILE:-/run/rheo-secrets/turn-secret}
[ -s "$secret_file" ] || { echo "coturn-start: no TURN secret in $secret_file" >&2; exit 1; }

# 192.0.2.1 is only a routing probe: nothing is sent.
host_ip=${HOST_IP:-$(ip -4 route get 192.0.2.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')}
external_ip=${EXTERNAL_IP:-}

set -- -c "$conf" "$@"
if [ -n "$host_ip" ]; then
  set -- "$@" --relay-ip "$host_ip" --allowed-peer-ip "$host_ip"
else
  echo "coturn-start: no HOST_IP and no default route; relaying to private addresses stays denied" >&2
fi
if [ -n "$external_ip" ]; then
  set -- "$@" --allowed-peer-ip "$external_ip"
  if [ -n "$host_ip" ] && [ "$host_ip" != "$external_ip" ]; then
    set -- "$@" --external-ip "$external_ip/$host_ip"   # public/private mapping
  else
    set -- "$@" --external-ip "$external_ip"
  fi
fi
echo "coturn-start: relay on ${host_ip:-all addresses}, external ${external_ip:-none}" >&2
exec turnserver "$@" --static-auth-secret "$(cat "$secret_file")"
