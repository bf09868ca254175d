#!/usr/bin/env bash
# Ensure promtool (Debian's prometheus package), which checks and unit-tests the alert rules shipped in
# deploy/prometheus/. Only the tool is needed: the package's own service is not wanted.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

have promtool || apt_install prometheus
have promtool || die "promtool missing after installing prometheus"
# On a systemd machine the package starts a Prometheus server listening on every interface.
if have systemctl && systemctl is-enabled --quiet prometheus 2>/dev/null; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
log "promtool: $(promtool --version 2>&1 | head -n1)"
