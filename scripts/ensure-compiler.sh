#!/usr/bin/env bash
# Ensure what installing kwrec from source needs besides pip: a C compiler and the headers of the
# interpreter given as $1 (default python3.11), for the compiled look-up module kwrec.core.models._mapped.
# Installs them on Debian (as root) when missing; otherwise says exactly what to install.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"

PY=${1:-python3.11}
include=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])') ||
    die "cannot run $PY: install Python 3.11 or pass PY=/path/to/python3.11 to make"
want=()
have gcc || have cc || want+=(gcc libc6-dev)
if [[ ! -f $include/Python.h ]]; then
    # Only Debian's own interpreter gets its headers from a package; another one ships its own.
    [[ $include == /usr/include/* ]] || die "$PY has no $include/Python.h: reinstall that Python with its headers"
    want+=("lib$(basename "$include")-dev")
fi
if ((${#want[@]} == 0)); then
    exit 0
fi
is_root && is_debian || die "missing ${want[*]} (a C compiler and Python headers to build kwrec): install them and re-run"
apt_install "${want[@]}"
have gcc || have cc || die "no C compiler after installing ${want[*]}"
[[ -f $include/Python.h ]] || die "no $include/Python.h after installing ${want[*]}"
log "installed ${want[*]}"
