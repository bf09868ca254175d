#!/usr/bin/env bash
# The main job, on a fresh Debian 12 machine (as root) or an already set-up one: set up what is missing
# (Docker Engine, base image, local registry, nginx), then run the whole release chain on the bundled
# sample data: train -> gate -> release -> build -> push -> deploy -> verify. It ends with the API live on
# http://127.0.0.1:8000 and prints a few answers. Idempotent: a re-run in the same minute does nothing,
# a later one makes a new release that reuses every unchanged model (and every image layer but models).
# Defaults: store var/store, data data/sample, registry 127.0.0.1:5000, docker target on 127.0.0.1:8000;
# any KWREC_* variable (or ./kwrec.toml) overrides them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

# 1. What the chain needs on this machine (the browser is only for the test suite).
KWREC_SETUP_SKIP="browser ${KWREC_SETUP_SKIP:-}" bash scripts/setup-test-env.sh
bash scripts/ensure-nginx.sh

# 2. The whole chain, with the embedded defaults.
export KWREC_STORE=${KWREC_STORE:-var/store}
export KWREC_DATA_DIR=${KWREC_DATA_DIR:-data/sample}
export KWREC_IMAGE__REGISTRY__URL=${KWREC_IMAGE__REGISTRY__URL:-127.0.0.1:5000}
TS=${KWREC_DEMO_TIMESTAMP:-$(date -u +%y%m%d%H%M)}
"$PY" -m kwrec.cli.run --timestamp "$TS"

# 3. The live API: where it is, and a few answers from it.
HOST=${KWREC_DEPLOY__DOCKER__PROXY_HOST:-127.0.0.1}
PORT=${KWREC_DEPLOY__DOCKER__PROXY_PORT:-8000}
"$PY" - "http://$HOST:$PORT" <<'PYEOF'
import sys

import httpx

base = sys.argv[1]
examples = [
    ("shop-kr", "autocomplete", "아이ㅍ"),
    ("shop-kr", "autocomplete", "ㅇㅇㅍ"),
    ("shop-kr", "autocomplete", "dkdlvhs"),
    ("shop-kr", "autocomplete", "케이스"),
    ("shop-kr", "related", "아이폰"),
    ("shop-kr", "trending", None),
    ("books-en", "autocomplete", "harry poter"),
    ("news-kr", "popular", None),
]
with httpx.Client(base_url=base, timeout=10) as http:
    version = http.get("/version").json()
    print(f"\nkwrec is live at {base} serving {version['model_version']} for {', '.join(version['customers'])}")
    print(f"demo page (type to see suggestions): {base}/   API docs: {base}/docs\n")
    for customer, kind, q in examples:
        params = {"limit": 5} | ({"q": q} if q is not None else {})
        body = http.get(f"/v1/{customer}/{kind}", params=params).json()
        words = ", ".join(s["keyword"] for s in body["suggestions"]) or "-"
        shown = f" {q!r}" if q is not None else ""
        print(f"  {customer:9} {kind:12}{shown:16} -> {words}")
    print(f"\ntry: curl -sG {base}/v1/shop-kr/autocomplete --data-urlencode 'q=아이ㅍ'")
PYEOF
