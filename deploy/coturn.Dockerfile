# coturn for the compose demo: Debian 12's package (4.6.1) and deploy/coturn-start.sh.
# iproute2: the start script finds the host's address with `ip route get`.
FROM debian:12-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends coturn iproute2 \
 && rm -rf /var/lib/apt/lists/*
COPY deploy/turnserver.conf /etc/turnserver.conf
COPY deploy/coturn-start.sh /usr/local/bin/coturn-start
# Starts as root to read the secret (root:rheo 0440), then turnserver drops to its own user.
ENTRYPOINT ["coturn-start", "--proc-user", "turnserver", "--proc-group", "turnserver"]
