#!/usr/bin/env bash
# The main job on the bundled sample data: train a release, then show what it suggests.
# Idempotent: re-running with the same timestamp reuses every artifact.
set -euo pipefail
cd "$(dirname "$0")/.."
KWREC=.venv/bin/kwrec
STORE=${KWREC_STORE:-var/store}
TS=${KWREC_DEMO_TIMESTAMP:-$(date -u +%y%m%d%H%M)}

"$KWREC" train --data data/sample --store "$STORE" --timestamp "$TS"
for q in "아이ㅍ" "ㅇㅇㅍ" "dkdlvhs" "아이폰케이스" "케이스" "샴성"; do
  "$KWREC" suggest shop-kr "$q" --store "$STORE" --limit 5
done
"$KWREC" suggest shop-kr "아이폰" --kind related --store "$STORE" --limit 5
"$KWREC" suggest shop-kr --kind trending --store "$STORE" --limit 5
for q in "harry poter" "HARRY P" "pyhton"; do
  "$KWREC" suggest books-en "$q" --store "$STORE" --limit 5
done
"$KWREC" releases --store "$STORE"
