#!/usr/bin/env bash
# Everything the test suite needs, on a brand-new Debian 12 machine (as root) or an already set-up one
# (then it only checks, in well under 3 s). Used by `make test` / `make setup` and CI.
#   1. Docker Engine         scripts/ensure-docker-engine.sh
#   2. base image            scripts/ensure-base-image.sh   -> var/base-image
#   3. registries            scripts/ensure-registry.sh     open 127.0.0.1:5000, auth 127.0.0.1:5001
#                            (user kwrec-test, password generated once into var/registry-test-password)
#   4. browser               scripts/ensure-browser.sh      (and a Hangul font)
#   5. nginx                 scripts/ensure-nginx.sh
#   6. promtool              scripts/ensure-promtool.sh     (checks deploy/prometheus/ alert rules)
# Writes var/test-env (KEY=VALUE lines, no secrets) for the tests. Skip steps with
# KWREC_SETUP_SKIP="browser base-image ..." (names as above: engine base-image registry browser nginx promtool).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
T0=$(now)
HERE=$(cd "$(dirname "$0")" && pwd)
SKIP=" ${KWREC_SETUP_SKIP:-} "
skipped() { [[ $SKIP == *" $1 "* ]]; }

mkdir -p "$KWREC_VAR"
PWFILE=$KWREC_VAR/registry-test-password
if [[ ! -s $PWFILE ]]; then
    (umask 077; head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32 >"$PWFILE")
    log "generated the test registry password into $PWFILE"
fi
chmod 600 "$PWFILE"
export KWREC_REGISTRY_HTPASSWD_USER=kwrec-test
KWREC_REGISTRY_HTPASSWD_PASSWORD=$(cat "$PWFILE")
export KWREC_REGISTRY_HTPASSWD_PASSWORD
PORT=${KWREC_REGISTRY_PORT:-5000}
AUTH_PORT=${KWREC_REGISTRY_AUTH_PORT:-5001}

# On a new machine, install every missing Debian package in one apt-get run (much faster than four).
if is_root && is_debian; then
    want=()
    have curl || want+=(curl)
    if ! skipped engine && [[ -z ${DOCKER_HOST:-} ]] && ! { have curl && engine_ping; }; then
        want+=(docker.io ca-certificates xz-utils)
        [[ $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null) == Y ]] && want+=(apparmor)
        skipped base-image || compgen -G '/var/cache/kwrec/rootfs-*.tar' >/dev/null || want+=(debootstrap)
    fi
    if ! skipped registry && ! { have curl && [[ $(http_code "http://127.0.0.1:$PORT/v2/") =~ ^(200|401)$ &&
        $(http_code "http://127.0.0.1:$AUTH_PORT/v2/") == 401 ]]; }; then
        want+=(docker-registry apache2-utils)
    fi
    skipped browser || [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] || want+=(chromium chromium-driver fonts-liberation)
    skipped browser || want+=(fonts-nanum)
    skipped promtool || have promtool || want+=(prometheus)
    missing=()
    for p in "${want[@]}"; do pkg_installed "$p" || missing+=("$p"); done
    if ((${#missing[@]})); then
        apt_install "${missing[@]}"
        # The docker-registry package may start its own service on a systemd machine; ensure-registry stops it.
    fi
fi

declare -A TOOK
step() { # NAME SCRIPT
    local t
    if skipped "$1"; then log "step $1: skipped (KWREC_SETUP_SKIP)"; TOOK[$1]=skipped; return 0; fi
    t=$(now)
    bash "$HERE/$2" || die "step $1 failed ($2); fix the error above and run scripts/setup-test-env.sh again"
    TOOK[$1]="$(elapsed "$t")s"
}
step engine ensure-docker-engine.sh
step base-image ensure-base-image.sh
step registry ensure-registry.sh
step browser ensure-browser.sh
step nginx ensure-nginx.sh
step promtool ensure-promtool.sh

base=$(cat "$KWREC_VAR/base-image" 2>/dev/null || true)
new_env="# written by scripts/setup-test-env.sh; no secrets here
KWREC_TEST_DOCKER_HOST=${DOCKER_HOST:-unix://$KWREC_DOCKER_SOCK}
KWREC_TEST_BASE_IMAGE=$base
KWREC_TEST_REGISTRY=127.0.0.1:$PORT
KWREC_TEST_AUTH_REGISTRY=127.0.0.1:$AUTH_PORT
KWREC_TEST_REGISTRY_USER=$KWREC_REGISTRY_HTPASSWD_USER
KWREC_TEST_REGISTRY_PASSWORD_FILE=$PWFILE
KWREC_TEST_REGISTRY_HTPASSWD=${KWREC_REGISTRY_DIR:-/var/lib/kwrec-registry}/auth/htpasswd
KWREC_TEST_CHROMIUM=/usr/bin/chromium
KWREC_TEST_CHROMEDRIVER=/usr/bin/chromedriver"
[[ $(cat "$KWREC_VAR/test-env" 2>/dev/null) == "$new_env" ]] || { printf '%s\n' "$new_env" >"$KWREC_VAR/test-env"; log "wrote $KWREC_VAR/test-env"; }

log "summary: engine ${DOCKER_HOST:-unix://$KWREC_DOCKER_SOCK} (${TOOK[engine]}) | base image ${base:-?} (${TOOK[base-image]}) | registries 127.0.0.1:$PORT open, 127.0.0.1:$AUTH_PORT auth user kwrec-test (${TOOK[registry]}) | browser /usr/bin/chromium (${TOOK[browser]}) | nginx (${TOOK[nginx]}) | promtool (${TOOK[promtool]})"
log "test environment ready in $(elapsed "$T0")s"
