#!/usr/bin/env bash
# Ensure Debian's chromium and chromium-driver (for headless browser tests with Selenium or
# playwright-core: /usr/bin/chromium, /usr/bin/chromedriver; run with --headless --no-sandbox as root),
# and a CJK font: without one, headless Chromium draws Korean as empty boxes.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

want=()
[[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] || want+=(chromium chromium-driver)
# fonts-liberation: metric-compatible Arial/Times/Courier, so screenshots show readable text.
# fonts-nanum: Hangul (NanumGothic), what the demo page's Korean screenshot tests render with.
for p in fonts-liberation fonts-nanum; do pkg_installed "$p" || want+=("$p"); done
if ((${#want[@]} == 0)); then
    log "browser: /usr/bin/chromium, /usr/bin/chromedriver and a Hangul font present"
    exit 0
fi
apt_install "${want[@]}"
[[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] || die "chromium or chromedriver missing after the install"
fc-list :lang=ko family | grep -q . || die "no Hangul font known to fontconfig after installing fonts-nanum"
log "browser: $(/usr/bin/chromium --version 2>/dev/null | head -n1), chromedriver at /usr/bin/chromedriver, Hangul font: $(fc-list :lang=ko family | head -n1)"
