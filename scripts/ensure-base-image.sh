#!/usr/bin/env bash
# Ensure a base image for kwrec's release images exists in the engine, and write its name to
# var/base-image (repo root) for the build code.
#   1. $KWREC_BASE_IMAGE (default python:3.11-slim) if the engine has it;
#   2. else, only with KWREC_TRY_PULL=1, a pull limited to $KWREC_PULL_TIMEOUT seconds (default 20);
#   3. else kwrec-base:bookworm, built offline with debootstrap (rootfs tarball cached under
#      /var/cache/kwrec) and imported through the Engine API. It is NOT tagged as python:3.11-slim:
#      it has python3 (3.11) but no `python`, and pip refuses system installs (use a venv).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

WANT=${KWREC_BASE_IMAGE:-python:3.11-slim}
FALLBACK=${KWREC_FALLBACK_BASE_IMAGE:-kwrec-base:bookworm}
SUITE=${KWREC_BASE_SUITE:-bookworm}
INCLUDE=${KWREC_BASE_INCLUDE:-python3,python3-venv,ca-certificates}
MIRROR=${KWREC_DEBIAN_MIRROR:-}
CACHE_DIR=${KWREC_CACHE_DIR:-/var/cache/kwrec}
OUT_FILE=$KWREC_VAR/base-image

have curl || die "curl is missing: run scripts/ensure-docker-engine.sh first"
engine_ping || die "no Docker Engine answers (DOCKER_HOST=${DOCKER_HOST:-unset}, socket $KWREC_DOCKER_SOCK): run scripts/ensure-docker-engine.sh first"

record() {
    mkdir -p "$KWREC_VAR"
    if [[ $(cat "$OUT_FILE" 2>/dev/null) != "$1" ]]; then
        printf '%s\n' "$1" >"$OUT_FILE"
        log "wrote $OUT_FILE: $1"
    fi
    log "base image: $1"
    exit 0
}

if image_exists "$WANT"; then
    log "image $WANT present in the engine"
    record "$WANT"
fi
log "image $WANT not in the engine"

if [[ ${KWREC_TRY_PULL:-0} == 1 ]]; then
    secs=${KWREC_PULL_TIMEOUT:-20}
    log "pulling $WANT (at most ${secs}s)"
    out=$(docker_api POST "/images/create?fromImage=$(urlencode "$WANT")" --max-time "$secs" 2>&1) || true
    if image_exists "$WANT"; then
        log "pulled $WANT"
        record "$WANT"
    fi
    # The pull reports errors inside the 200 stream; show the last message without the progress noise.
    warn "pull of $WANT failed: $(printf '%s' "$out" | grep -oE '"(message|error)":"([^"\\]|\\.)*"|curl: .*' | tail -n1)"
else
    log "not pulling $WANT (set KWREC_TRY_PULL=1 to try; Docker Hub is unreachable on the dev/CI machines)"
fi

if image_exists "$FALLBACK"; then
    log "image $FALLBACK present in the engine"
    record "$FALLBACK"
fi

# ---- build the fallback offline --------------------------------------------------------------
is_root || die "neither $WANT nor $FALLBACK is in the engine, and building $FALLBACK needs root (debootstrap)"
is_debian || die "neither $WANT nor $FALLBACK is in the engine; building $FALLBACK needs Debian's debootstrap"
mkdir -p "$CACHE_DIR"
key=$(printf '%s|%s|%s' "$SUITE" "$INCLUDE" "$MIRROR" | md5sum | cut -c1-8)
TARBALL=$CACHE_DIR/rootfs-$SUITE-minbase-$key.tar

# One builder at a time (two set-ups in parallel must not debootstrap twice).
exec 9>"$CACHE_DIR/.base-image.lock"
flock 9

if [[ -s $TARBALL ]]; then
    log "rootfs tarball cached: $TARBALL ($(du -h "$TARBALL" | cut -f1))"
else
    apt_install debootstrap
    work=$(mktemp -d /var/tmp/kwrec-rootfs.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    t0=$(now)
    log "debootstrap --variant=minbase --include=$INCLUDE $SUITE (log $work/debootstrap.log; ~40-60 s)"
    # shellcheck disable=SC2086
    if ! debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$work/rootfs" $MIRROR >"$work/debootstrap.log" 2>&1; then
        tail -n 20 "$work/debootstrap.log" >&2
        cp "$work/debootstrap.log" "$CACHE_DIR/debootstrap-failed.log" 2>/dev/null || true
        die "debootstrap failed (log kept at $CACHE_DIR/debootstrap-failed.log)"
    fi
    # Smaller image, nothing machine-specific: drop downloaded debs and apt lists.
    rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/* "$work"/rootfs/debootstrap
    tar --numeric-owner -C "$work/rootfs" -cf "$TARBALL.partial" .
    mv "$TARBALL.partial" "$TARBALL"
    rm -rf "$work"
    log "rootfs built and cached in $(elapsed "$t0")s: $TARBALL ($(du -h "$TARBALL" | cut -f1))"
fi

repo=${FALLBACK%:*}
tag=${FALLBACK##*:}
q="fromSrc=-&repo=$(urlencode "$repo")&tag=$(urlencode "$tag")"
for c in 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' 'ENV LANG=C.UTF-8' 'CMD ["python3"]'; do
    q+="&changes=$(urlencode "$c")"
done
t0=$(now)
out=$(docker_api POST "/images/create?$q" -H 'Content-Type: application/x-tar' -T "$TARBALL" --max-time 300 2>&1) ||
    die "import of $TARBALL as $FALLBACK failed: $out"
if grep -q '"error' <<<"$out" || ! image_exists "$FALLBACK"; then
    die "import of $TARBALL as $FALLBACK failed: $out"
fi
log "imported $FALLBACK via POST /images/create in $(elapsed "$t0")s"

# Prove it runs python3 (Engine API only; the docker CLI may be absent).
cid=$(docker_api POST /containers/create -H 'Content-Type: application/json' \
    -d "{\"Image\":\"$FALLBACK\",\"Cmd\":[\"python3\",\"-c\",\"import sys; print(sys.version.split()[0])\"]}" |
    grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4) || die "could not create a test container from $FALLBACK"
docker_api POST "/containers/$cid/start" >/dev/null || die "could not start a test container from $FALLBACK"
status=$(docker_api POST "/containers/$cid/wait" --max-time 60 | grep -o '"StatusCode":[0-9]*' | cut -d: -f2) || true
pyver=$(docker_api GET "/containers/$cid/logs?stdout=1" 2>/dev/null | tr -cd '0-9.\n' | tail -n1) || true
docker_api DELETE "/containers/$cid?force=1" >/dev/null 2>&1 || true
[[ $status == 0 ]] || die "python3 does not run in $FALLBACK (exit status ${status:-unknown})"
log "checked: python3 $pyver runs in $FALLBACK"
record "$FALLBACK"
