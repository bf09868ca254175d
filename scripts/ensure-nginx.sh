#!/usr/bin/env bash
# Ensure Debian's nginx binary (/usr/sbin/nginx): the reverse proxy in front of the release containers
# on the docker deploy target. Only the binary is needed: kwrec runs its own nginx master with its own
# config and pid file (kwrec.adapters.targets.nginx), so the distribution's service is never started or used.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

if [[ -x /usr/sbin/nginx ]]; then
    log "nginx: $(/usr/sbin/nginx -v 2>&1 | head -n1) present"
    exit 0
fi
apt_install nginx
[[ -x /usr/sbin/nginx ]] || die "/usr/sbin/nginx missing after installing nginx"
log "nginx: installed $(/usr/sbin/nginx -v 2>&1 | head -n1)"
