#!/usr/bin/env bash
# Add (or update) USER in the auth registry's htpasswd file, password read from stdin (first line),
# and check that the running auth registry accepts it. Debian's Distribution 2.8.2 re-reads htpasswd
# when the file's mtime changes (checked per authenticated request), so no restart is normally needed;
# if the registry still rejects the new credentials it is restarted (ensure-registry.sh --restart-auth).
# Example (the ECR test): printf '%s\n' "$TOKEN" | bash scripts/registry-htpasswd-add.sh AWS
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

USER_NAME=${1:-}
[[ -n $USER_NAME && $USER_NAME != *:* ]] || die "usage: $0 USER  (password on stdin; USER without ':')"
[[ ! -t 0 ]] || die "give the password on stdin, e.g. printf '%s\n' \"\$PASSWORD\" | $0 $USER_NAME"
IFS= read -r PASSWORD || [[ -n ${PASSWORD:-} ]] || die "no password on stdin"
[[ -n $PASSWORD ]] || die "empty password on stdin"

DIR=${KWREC_REGISTRY_DIR:-/var/lib/kwrec-registry}
HTPASSWD=$DIR/auth/htpasswd
AUTH_PORT=${KWREC_REGISTRY_AUTH_PORT:-5001}
have htpasswd || apt_install apache2-utils
[[ -e $HTPASSWD ]] || die "$HTPASSWD does not exist: run scripts/ensure-registry.sh (or setup-test-env.sh) first"

if printf '%s\n' "$PASSWORD" | htpasswd -v -i "$HTPASSWD" "$USER_NAME" >/dev/null 2>&1; then
    log "htpasswd: $USER_NAME already has this password"
else
    printf '%s\n' "$PASSWORD" | htpasswd -i -B "$HTPASSWD" "$USER_NAME" >/dev/null 2>&1 || die "htpasswd could not set $USER_NAME in $HTPASSWD"
    log "htpasswd: set $USER_NAME in $HTPASSWD"
fi

url=http://127.0.0.1:$AUTH_PORT/v2/
code=$(printf 'user = "%s:%s"\n' "$USER_NAME" "$PASSWORD" | http_code "$url" -K -)
if [[ $code == 200 ]]; then
    log "auth registry accepts $USER_NAME"
    exit 0
fi
[[ $code == 401 ]] || die "the auth registry at $url answered $code (not running? run scripts/ensure-registry.sh)"
log "auth registry rejects $USER_NAME until it re-reads htpasswd: restarting it"
bash "$(dirname "$0")/ensure-registry.sh" --restart-auth
code=$(printf 'user = "%s:%s"\n' "$USER_NAME" "$PASSWORD" | http_code "$url" -K -)
[[ $code == 200 ]] || die "the auth registry still answers $code for $USER_NAME after a restart"
log "auth registry accepts $USER_NAME"
