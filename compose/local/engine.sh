#!/bin/sh
# The Docker engine for the local compose route, on a machine without systemd:
#   engine.sh start   installs docker.io, docker-compose and debootstrap when missing (as root),
#                     writes the one daemon setting this kernel needs, and starts dockerd unless
#                     one already answers; its PID goes to build/compose/dockerd.pid
#   engine.sh stop    stops the dockerd that `start` started (by that PID), and only that one
# Both are safe to run twice.
set -eu
cd "$(dirname "$0")/../.."
STATE=build/compose
PIDFILE=$STATE/dockerd.pid
mkdir -p "$STATE"

start() {
    missing=""
    command -v dockerd >/dev/null || missing="$missing docker.io"
    command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 \
        || missing="$missing docker-compose"
    command -v debootstrap >/dev/null || missing="$missing debootstrap"
    if [ -n "$missing" ]; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "engine.sh: install$missing (as root: apt-get install$missing)"; exit 1
        fi
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi
    if docker info >/dev/null 2>&1; then exit 0; fi
    [ "$(id -u)" -eq 0 ] || { echo "engine.sh: no Docker engine answers, and starting one needs root"; exit 1; }
    # The hard limits cannot be raised here, so containers get these (compose `ulimits:` must
    # stay within them).
    if [ ! -s /etc/docker/daemon.json ]; then
        mkdir -p /etc/docker
        cat >/etc/docker/daemon.json <<'JSON'
{"default-ulimits": {"nofile": {"Name": "nofile", "Hard": 20000, "Soft": 20000}, "nproc": {"Name": "nproc", "Hard": 32768, "Soft": 32768}}}
JSON
    elif ! grep -q default-ulimits /etc/docker/daemon.json; then
        echo "engine.sh: /etc/docker/daemon.json has no default-ulimits (nofile 20000, nproc 32768): containers may not start"
    fi
    nohup dockerd --host unix:///var/run/docker.sock >"$STATE/dockerd.log" 2>&1 &
    echo $! >"$PIDFILE"
    i=0
    until docker info >/dev/null 2>&1; do
        i=$((i + 1))
        if [ $i -gt 60 ] || ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
            echo "engine.sh: dockerd did not start; its log:"; tail -20 "$STATE/dockerd.log"; exit 1
        fi
        sleep 1
    done
    echo "dockerd started (pid $(cat "$PIDFILE"), log $STATE/dockerd.log)"
}

stop() {
    [ -f "$PIDFILE" ] || exit 0  # not ours: a dockerd someone else runs keeps running
    pid=$(cat "$PIDFILE")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 30 ]; do i=$((i + 1)); sleep 1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        echo "dockerd stopped (pid $pid)"
    fi
    rm -f "$PIDFILE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: engine.sh start|stop"; exit 2 ;;
esac
