#!/usr/bin/env bash
# Ensure local Docker Registry v2 servers (Debian's docker-registry, Distribution 2.8):
#   open:  127.0.0.1:$KWREC_REGISTRY_PORT (default 5000), no auth
#   auth:  127.0.0.1:$KWREC_REGISTRY_AUTH_PORT (default 5001), htpasswd basic auth; only when
#          KWREC_REGISTRY_HTPASSWD_USER and KWREC_REGISTRY_HTPASSWD_PASSWORD are set (that user is
#          added to / updated in the htpasswd file; the password is never printed).
# Data, configs, htpasswd, pid files: $KWREC_REGISTRY_DIR (default /var/lib/kwrec-registry)/{open,auth}.
# Logs: $KWREC_REGISTRY_LOG_DIR (default /var/log)/kwrec-registry-PORT.log.
# Usage: ensure-registry.sh            ensure both (auth only with the env vars above)
#        ensure-registry.sh --restart-auth   restart the auth registry (used after an htpasswd change)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

HOST=127.0.0.1
PORT=${KWREC_REGISTRY_PORT:-5000}
AUTH_PORT=${KWREC_REGISTRY_AUTH_PORT:-5001}
DIR=${KWREC_REGISTRY_DIR:-/var/lib/kwrec-registry}
LOG_DIR=${KWREC_REGISTRY_LOG_DIR:-/var/log}
HTPASSWD=$DIR/auth/htpasswd
AUTH_USER=${KWREC_REGISTRY_HTPASSWD_USER:-}
AUTH_PASSWORD=${KWREC_REGISTRY_HTPASSWD_PASSWORD:-}

answers() { [[ $(http_code "http://$HOST:$1/v2/") =~ ^(200|401)$ ]]; }
port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

write_config() { # NAME PORT [htpasswd-path]
    local d=$DIR/$1 cfg new
    cfg=$d/config.yml
    mkdir -p "$d/storage"
    new="version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $d/storage
  delete:
    enabled: true
http:
  addr: $HOST:$2
  headers:
    X-Content-Type-Options: [nosniff]"
    if [[ -n ${3:-} ]]; then
        new+="
auth:
  htpasswd:
    realm: kwrec-test-registry
    path: $3"
    fi
    if [[ $(cat "$cfg" 2>/dev/null) != "$new" ]]; then
        printf '%s\n' "$new" >"$cfg"
        log "wrote $cfg"
    fi
}

ensure_package() {
    pkg_installed docker-registry && return 0
    apt_install docker-registry
    # On a systemd machine the package starts its own service on :5000 (all interfaces): stop it, ours replaces it.
    if [[ -d /run/systemd/system ]] && have systemctl; then
        if systemctl disable --now docker-registry >/dev/null 2>&1; then log "disabled the packaged docker-registry service"; fi
    fi
}

start_registry() { # NAME PORT
    local name=$1 port=$2 pidf=$DIR/$1/registry.pid logf=$LOG_DIR/kwrec-registry-$2.log
    if ! port_free "$port"; then
        ss -Hltnp "sport = :$port" >&2 || true
        die "port $port is taken by something that is not a registry answering /v2/; free it or set ${3}"
    fi
    start_background "$logf" "$pidf" docker-registry serve "$DIR/$name/config.yml"
    if ! wait_for 20 "registry on $HOST:$port" answers "$port"; then
        tail -n 20 "$logf" >&2 || true
        die "registry $name did not answer on http://$HOST:$port/v2/ within 20s (log $logf)"
    fi
    log "registry $name: started on http://$HOST:$port (pid $(cat "$pidf"), data $DIR/$name/storage, log $logf)"
}

stop_registry() { # NAME PORT
    local pidf=$DIR/$1/registry.pid pid
    pid=$(cat "$pidf" 2>/dev/null || true)
    if ! pid_alive "$pid"; then # started by someone else: find the listener on the port
        pid=$(ss -Hltnp "sport = :$2" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2)
    fi
    if pid_alive "$pid"; then
        kill "$pid"
        # Distribution takes ~2 s after SIGTERM to free the port.
        wait_for 15 "registry $1 to stop" port_free "$2" || die "registry $1 (pid $pid) did not free port $2"
        log "registry $1: stopped pid $pid"
    fi
    rm -f "$pidf"
}

# ensure_user FILE USER: the user's password is $AUTH_PASSWORD; sets HT_CHANGED=1 when the file changed.
HT_CHANGED=
ensure_user() {
    local f=$1 u=$2
    mkdir -p "$(dirname "$f")"
    if [[ -s $f ]] && printf '%s\n' "$AUTH_PASSWORD" | htpasswd -v -i "$f" "$u" >/dev/null 2>&1; then
        log "htpasswd: user $u present with the given password ($f)"
        return 0
    fi
    (umask 077; [[ -e $f ]] || : >"$f")
    # -i: password from stdin, so it never shows in the process list; -B: bcrypt (the only hash Distribution accepts).
    printf '%s\n' "$AUTH_PASSWORD" | htpasswd -i -B "$f" "$u" >/dev/null 2>&1 || die "htpasswd could not set user $u in $f"
    chmod 600 "$f"
    log "htpasswd: set user $u ($f)"
    HT_CHANGED=1
}

ensure_open() {
    if answers "$PORT"; then
        log "registry open: http://$HOST:$PORT/v2/ answers ($(http_code "http://$HOST:$PORT/v2/"))"
        return 0
    fi
    is_root || die "no registry answers on $HOST:$PORT and starting one needs root (or set KWREC_REGISTRY_DIR to a writable dir and install docker-registry)"
    ensure_package
    write_config open "$PORT"
    start_registry open "$PORT" KWREC_REGISTRY_PORT
}

# Credentials go to curl through a config on stdin, never on its command line.
auth_code() { printf 'user = "%s:%s"\n' "$AUTH_USER" "$AUTH_PASSWORD" | http_code "http://$HOST:$AUTH_PORT/v2/" -K -; }

ensure_auth() {
    [[ -n $AUTH_USER && -n $AUTH_PASSWORD ]] || {
        log "registry auth: skipped (set KWREC_REGISTRY_HTPASSWD_USER and KWREC_REGISTRY_HTPASSWD_PASSWORD for it)"
        return 0
    }
    [[ $AUTH_USER != *:* ]] || die "KWREC_REGISTRY_HTPASSWD_USER must not contain ':'"
    # Fast path: it answers 401 without and 200 with the credentials: nothing to do.
    if [[ $(http_code "http://$HOST:$AUTH_PORT/v2/") == 401 && $(auth_code) == 200 ]]; then
        log "registry auth: http://$HOST:$AUTH_PORT/v2/ answers 401 without and 200 with $AUTH_USER's credentials"
        return 0
    fi
    is_root || [[ -w $DIR ]] || die "the auth registry on $HOST:$AUTH_PORT needs set-up and that needs root"
    apt_install apache2-utils
    ensure_user "$HTPASSWD" "$AUTH_USER"
    if answers "$AUTH_PORT"; then
        if [[ $(http_code "http://$HOST:$AUTH_PORT/v2/") != 401 ]]; then
            die "something on $HOST:$AUTH_PORT answers /v2/ without asking for credentials; free the port or set KWREC_REGISTRY_AUTH_PORT"
        fi
        if [[ $(auth_code) == 200 ]]; then
            log "registry auth: http://$HOST:$AUTH_PORT/v2/ accepts $AUTH_USER"
            return 0
        fi
        # Debian's 2.8.2 re-reads htpasswd when its mtime changes; a registry that still rejects the
        # user (older build, other htpasswd path) gets restarted with our config.
        log "registry auth: rejects $AUTH_USER${HT_CHANGED:+ after the htpasswd change}; restarting it"
        stop_registry auth "$AUTH_PORT"
    fi
    ensure_package
    write_config auth "$AUTH_PORT" "$HTPASSWD"
    start_registry auth "$AUTH_PORT" KWREC_REGISTRY_AUTH_PORT
    [[ $(http_code "http://$HOST:$AUTH_PORT/v2/") == 401 ]] || die "auth registry does not answer 401 without credentials"
    [[ $(auth_code) == 200 ]] || die "auth registry does not accept $AUTH_USER's credentials"
    log "registry auth: 401 without credentials, 200 with $AUTH_USER's"
}

have curl || die "curl is missing (apt-get install -y curl)"
# Fast path first (no lock); anything that starts or changes a registry runs under one lock.
if [[ -z ${1:-} ]] && answers "$PORT" && { [[ -z $AUTH_USER || -z $AUTH_PASSWORD ]] ||
    [[ $(http_code "http://$HOST:$AUTH_PORT/v2/") == 401 && $(auth_code) == 200 ]]; }; then
    :
elif is_root || [[ -w $DIR ]]; then
    mkdir -p "$DIR"
    exec 8>"$DIR/.ensure-registry.lock"
    flock 8
fi
case ${1:-} in
    --restart-auth)
        [[ -s $DIR/auth/config.yml ]] || die "no auth registry config at $DIR/auth/config.yml: run ensure-registry.sh with the htpasswd env vars first"
        stop_registry auth "$AUTH_PORT"
        start_registry auth "$AUTH_PORT" KWREC_REGISTRY_AUTH_PORT
        ;;
    '')
        ensure_open
        ensure_auth
        ;;
    *) die "usage: $0 [--restart-auth]" ;;
esac
