#!/usr/bin/env bash
# Ensure a Docker Engine answers: DOCKER_HOST (used as is) or /var/run/docker.sock.
# Otherwise, as root on Debian: install docker.io and start dockerd in the background
# (log: $KWREC_DOCKERD_LOG, default /var/log/kwrec-dockerd.log).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

DOCKERD_LOG=${KWREC_DOCKERD_LOG:-/var/log/kwrec-dockerd.log}
DOCKERD_PIDFILE=${KWREC_DOCKERD_PIDFILE:-/run/kwrec-dockerd.pid}
TIMEOUT=${KWREC_DOCKERD_TIMEOUT:-60}

if [[ -n ${DOCKER_HOST:-} ]]; then
    if have curl && engine_ping; then
        log "engine: DOCKER_HOST=$DOCKER_HOST answers /_ping; nothing to do"
    else
        die "DOCKER_HOST=$DOCKER_HOST is set but does not answer GET /_ping: start that engine, fix DOCKER_HOST, or unset it to use/start the local one"
    fi
    exit 0
fi

if ! have curl; then
    is_root || die "curl is missing; install it (apt-get install -y curl) or run this script as root"
    apt_install curl
fi

if engine_ping; then
    log "engine: $KWREC_DOCKER_SOCK answers /_ping OK; nothing to do"
    exit 0
fi

if ! is_root; then
    die "no Docker Engine answers on $KWREC_DOCKER_SOCK and this script is not root. Either run it as root \
(sudo bash scripts/ensure-docker-engine.sh), start an engine yourself, or point kwrec at one with DOCKER_HOST=unix:///path/docker.sock or tcp://HOST:PORT"
fi
is_debian || die "no Docker Engine answers and this is not Debian: install and start Docker Engine, or set DOCKER_HOST"

# Two set-ups at once must not start two daemons: serialize, then look again.
exec 8>/run/kwrec-ensure-docker-engine.lock
flock 8
if engine_ping; then
    log "engine: $KWREC_DOCKER_SOCK answers /_ping OK (started by a concurrent set-up)"
    exit 0
fi
log "engine: $KWREC_DOCKER_SOCK does not answer; installing/starting one"
pkgs=(docker.io ca-certificates xz-utils)
# With AppArmor enabled in the kernel, dockerd needs apparmor_parser to load its container profile.
[[ $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null) == Y ]] && pkgs+=(apparmor)
apt_install "${pkgs[@]}"

# On a systemd machine the package's postinst may have started the service already.
if engine_ping || { [[ -d /run/systemd/system ]] && wait_for 10 "the packaged docker service" engine_ping; }; then
    log "engine: started by the docker.io package; /_ping OK"
    exit 0
fi

pid=$(live_pids dockerd | head -n1)
if [[ -n $pid ]]; then
    log "engine: dockerd (pid $pid) is already running but not answering yet; waiting up to ${TIMEOUT}s"
else
    have dockerd || die "dockerd not found after installing docker.io"
    start_background "$DOCKERD_LOG" "$DOCKERD_PIDFILE" dockerd
    pid=$(cat "$DOCKERD_PIDFILE")
    log "engine: started dockerd (pid $pid), log $DOCKERD_LOG; waiting up to ${TIMEOUT}s for /_ping"
fi
# Ready when /_ping answers; give up early if dockerd exits.
ready_or_dead() { engine_ping || ! pid_alive "$pid"; }
t0=$(now)
if ! wait_for "$TIMEOUT" "dockerd /_ping" ready_or_dead || ! engine_ping; then
    echo "---- last lines of $DOCKERD_LOG ----" >&2
    tail -n 30 "$DOCKERD_LOG" >&2 || true
    die "dockerd did not answer /_ping on $KWREC_DOCKER_SOCK within ${TIMEOUT}s (pid $pid$(pid_alive "$pid" || echo ', which has exited'))"
fi
log "engine: /_ping OK after $(elapsed "$t0")s ($(docker_api GET /version 2>/dev/null | grep -o '"Version":"[^"]*"' | head -n1))"
