#!/usr/bin/env bash
# Ensure Debian's chromium and chromium-driver (for headless browser tests with Selenium or
# playwright-core: /usr/bin/chromium, /usr/bin/chromedriver; run with --headless --no-sandbox as root).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    log "browser: /usr/bin/chromium and /usr/bin/chromedriver present"
    exit 0
fi
# fonts-liberation: metric-compatible Arial/Times/Courier, so screenshots show readable text.
apt_install chromium chromium-driver fonts-liberation
[[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] || die "chromium or chromedriver missing after the install"
log "browser: $(/usr/bin/chromium --version 2>/dev/null | head -n1), chromedriver at /usr/bin/chromedriver"
