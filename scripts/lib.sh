# shellcheck shell=bash
# Shared helpers for the scripts/ensure-*.sh set-up scripts. Source it; do not run it.
#   log / warn / die      one timestamped line each (die exits 1)
#   retry N DELAY CMD...  run CMD up to N times
#   wait_for SECS WHAT CMD...   poll CMD every 0.2 s until it succeeds or SECS pass
#   apt_install PKG...    install the Debian packages that are missing (apt-get update only if needed)
#   http_code URL [curl args...]   print the HTTP status (000 when nothing answers)
#   docker_api METHOD PATH [curl args...]   talk to the Docker Engine API (DOCKER_HOST or the default socket)
#   engine_ping           true when the engine answers GET /_ping with OK
#   start_background LOG PIDFILE CMD...   start a daemon that survives the calling script
[[ -n ${_KWREC_LIB_LOADED:-} ]] && return 0
_KWREC_LIB_LOADED=1

KWREC_ROOT=${KWREC_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
KWREC_VAR=${KWREC_VAR:-$KWREC_ROOT/var}
KWREC_LOG_TAG=${KWREC_LOG_TAG:-$(basename "$0" .sh)}
KWREC_DOCKER_SOCK=${KWREC_DOCKER_SOCK:-/var/run/docker.sock}

log() { printf '%(%H:%M:%S)T [%s] %s\n' -1 "$KWREC_LOG_TAG" "$*"; }
warn() { printf '%(%H:%M:%S)T [%s] WARNING: %s\n' -1 "$KWREC_LOG_TAG" "$*" >&2; }
die() {
    printf '%(%H:%M:%S)T [%s] ERROR: %s\n' -1 "$KWREC_LOG_TAG" "$*" >&2
    exit 1
}

have() { command -v "$1" >/dev/null 2>&1; }
is_root() { [[ $(id -u) -eq 0 ]]; }
is_debian() { [[ -r /etc/debian_version ]] && have apt-get; }

# Seconds since the epoch with microseconds (bash 5), for timing without forking `date`.
now() { printf '%s' "${EPOCHREALTIME:-$(date +%s.%N)}"; }
# elapsed START -> "12.3"
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

retry() {
    local n=$1 delay=$2 i
    shift 2
    for ((i = 1; i <= n; i++)); do
        "$@" && return 0
        ((i < n)) && { warn "attempt $i/$n failed: $*; retrying in ${delay}s"; sleep "$delay"; }
    done
    return 1
}

wait_for() {
    local secs=$1 what=$2 deadline
    shift 2
    deadline=$(awk -v t="$(now)" -v s="$secs" 'BEGIN { printf "%d", t + s }')
    while :; do
        "$@" >/dev/null 2>&1 && return 0
        (($(printf '%(%s)T' -1) >= deadline)) && { warn "timed out after ${secs}s waiting for $what"; return 1; }
        sleep 0.2
    done
}

urlencode() {
    local s=$1 out='' c i
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case $c in
            [a-zA-Z0-9.~_-]) out+=$c ;;
            *) out+=$(printf '%%%02X' "'$c") ;;
        esac
    done
    printf '%s' "$out"
}

# ---- Debian packages -------------------------------------------------------------------------
pkg_installed() { [[ $(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) == installed ]]; }

_APT_UPDATED=
apt_update() {
    [[ -n $_APT_UPDATED ]] && return 0
    log "apt-get update"
    # Unreachable third-party sources only warn; a real failure shows up in the install that follows.
    apt-get -o DPkg::Lock::Timeout=300 -o Acquire::Retries=2 -qq update >"${TMPDIR:-/tmp}/kwrec-apt-update.log" 2>&1 ||
        warn "apt-get update reported errors (see ${TMPDIR:-/tmp}/kwrec-apt-update.log); trying the install anyway"
    _APT_UPDATED=1
}

# apt_install [--with-recommends] PKG...: installs only the missing ones; one log line either way.
apt_install() {
    local recommends=--no-install-recommends missing=() p
    if [[ ${1:-} == --with-recommends ]]; then recommends=; shift; fi
    for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
    if ((${#missing[@]} == 0)); then
        log "packages present: $*"
        return 0
    fi
    is_root || die "missing Debian packages: ${missing[*]}; install them as root: apt-get install -y ${missing[*]}"
    is_debian || die "missing packages ${missing[*]} and this is not a Debian system with apt-get"
    # Update the lists only when one of the packages has no candidate (never updated, or lists too old).
    local ncand
    ncand=$(apt-cache policy "${missing[@]}" 2>/dev/null | awk '/Candidate:/ && $2 != "(none)"' | wc -l)
    ((ncand == ${#missing[@]})) || apt_update
    local t0 alog="${TMPDIR:-/tmp}/kwrec-apt-install.log"
    t0=$(now)
    log "apt-get install ${missing[*]}"
    local -a cmd=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -o Acquire::Retries=2
        -y -q ${recommends:+"$recommends"} install "${missing[@]}")
    if ! "${cmd[@]}" >"$alog" 2>&1; then
        # Stale lists point at files the mirror no longer has (404): refresh once and retry.
        _APT_UPDATED=
        apt_update
        "${cmd[@]}" >"$alog" 2>&1 || { tail -n 20 "$alog" >&2; die "apt-get install ${missing[*]} failed (log: $alog)"; }
    fi
    log "installed ${missing[*]} in $(elapsed "$t0")s"
}

# ---- HTTP and the Docker Engine API ----------------------------------------------------------
http_code() {
    local url=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --connect-timeout 2 --max-time 5 "$@" "$url" 2>/dev/null || true
}

# Sets _DOCKER_CURL (curl args) and _DOCKER_BASE (URL prefix) from DOCKER_HOST or the default socket.
_docker_endpoint() {
    local h=${DOCKER_HOST:-unix://$KWREC_DOCKER_SOCK}
    case $h in
        unix://*) _DOCKER_CURL=(--unix-socket "${h#unix://}"); _DOCKER_BASE=http://localhost ;;
        tcp://*) _DOCKER_CURL=(); _DOCKER_BASE=http://${h#tcp://} ;;
        *) die "DOCKER_HOST=$h: only unix:// and tcp:// (plain HTTP) are supported by these scripts" ;;
    esac
    if [[ -n ${DOCKER_TLS_VERIFY:-} ]]; then
        local d=${DOCKER_CERT_PATH:-$HOME/.docker}
        _DOCKER_CURL+=(--cacert "$d/ca.pem" --cert "$d/cert.pem" --key "$d/key.pem")
        _DOCKER_BASE=${_DOCKER_BASE/http:/https:}
    fi
}

# docker_api METHOD PATH [curl args...]: prints the body; returns non-zero unless 2xx.
docker_api() {
    local method=$1 path=$2
    shift 2
    _docker_endpoint
    curl -sS --fail-with-body --connect-timeout 3 -X "$method" "${_DOCKER_CURL[@]}" "$@" "$_DOCKER_BASE$path"
}

engine_ping() {
    local out
    out=$(docker_api GET /_ping --max-time 3 2>/dev/null) && [[ $out == OK ]]
}

image_exists() { docker_api GET "/images/$(urlencode "$1")/json" --max-time 10 >/dev/null 2>&1; }

# ---- background daemons ----------------------------------------------------------------------
# start_background LOG PIDFILE CMD...: new session, stdin from /dev/null, output appended to LOG,
# so the daemon outlives this script and does not hold the caller's stdout open. The set-up locks
# (descriptors 8 and 9) are closed for it: a daemon that inherited one would hold it for its whole
# life, and the next set-up that needs the lock (a changed registry password) would wait forever.
start_background() {
    local logf=$1 pidf=$2
    shift 2
    mkdir -p "$(dirname "$logf")" "$(dirname "$pidf")"
    printf '\n==== %(%F %T)T starting: %s\n' -1 "$*" >>"$logf"
    setsid nohup "$@" >>"$logf" 2>&1 </dev/null 8>&- 9>&- &
    echo $! >"$pidf"
}

# pid_alive PID: running and not a zombie (kill -0 succeeds on zombies, which a PID 1 that does not
# reap leaves behind after a kill -9).
pid_alive() {
    local st
    [[ ${1:-} =~ ^[0-9]+$ ]] && st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    [[ ${st%% *} != [ZX] ]]
}

# live_pids NAME: pids of live (non-zombie) processes whose command name is exactly NAME.
live_pids() {
    local p
    for p in $(pgrep -x "$1" 2>/dev/null); do pid_alive "$p" && echo "$p"; done
    return 0
}
