"""The release image's Dockerfile, generated for one release.

Layer order is what makes a daily build cheap: base -> dependency venv -> kwrec -> runtime config
-> one layer per customer model -> the release manifest -> the version env. Only what changed in a day's
release (new model layers and the manifest) misses the cache, and a customer whose artifact did not change
produces a byte-identical layer that the registry already holds. The dependency wheels are installed
in a separate build stage, so the final image carries the installed venv but not the wheel files.
Labels are passed through the build API (not ``LABEL`` lines here); the engine appends them as the
last steps, so their per-build values (created time, manifest digest) invalidate no cached layer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

STORE_DIR = "/srv/kwrec/store"
VENV = "/opt/venv"
PORT = 8000

# python3 + urllib because the base image has no curl; a 503 (still loading) raises and exits 1.
_HEALTHCHECK = (
    "import sys, urllib.request; "
    f"sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:{PORT}/readyz', timeout=4).status == 200 else 1)"
)


@dataclass(frozen=True)
class DockerfileSpec:
    base_image: str
    version: str
    kwrec_wheel: str  # file name inside the context's kwrec/ directory
    model_dirs: tuple[str, ...]  # context directories copied onto / (one layer each)
    release_dir: str
    user_id: int = 10001


def render(spec: DockerfileSpec) -> str:
    wheel = f"/tmp/kwrec-wheel/{spec.kwrec_wheel}"  # noqa: S108 - build-time path inside the image
    pip = f"{VENV}/bin/pip install --no-index --no-cache-dir --disable-pip-version-check"
    env = {
        "PATH": f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "KWREC_STORE": STORE_DIR,
        "KWREC_CACHE_DIR": "/tmp/kwrec-cache",  # noqa: S108 - container-private /tmp
        "KWREC_SERVE__HOST": "0.0.0.0",  # noqa: S104 - inside the container; the host publishes on loopback
        "KWREC_SERVE__PORT": str(PORT),
    }
    lines = [
        f"FROM {spec.base_image} AS deps",
        "COPY deps/ /wheels/",
        f"RUN python3 -m venv {VENV} && {pip} --find-links /wheels -r /wheels/requirements.lock",
        "",
        f"FROM {spec.base_image}",
        "ENV " + " ".join(f"{k}={json.dumps(v)}" for k, v in env.items()),
        f"COPY --from=deps {VENV} {VENV}",
        "COPY kwrec/ /tmp/kwrec-wheel/",
        f"RUN {pip} --no-deps {wheel} && rm -rf /tmp/kwrec-wheel",
        "WORKDIR /srv/kwrec",
        f"USER {spec.user_id}:{spec.user_id}",
        f"EXPOSE {PORT}",
        "HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 "
        f"CMD {json.dumps([f'{VENV}/bin/python', '-c', _HEALTHCHECK])}",
        # `python -m kwrec.cli.serve` runs the serve command with or without its registration in `kwrec`.
        f"CMD {json.dumps([f'{VENV}/bin/python', '-m', 'kwrec.cli.serve'])}",
        "# models last: one layer per customer artifact, then this release's manifest",
        *(f"COPY {d}/ /" for d in spec.model_dirs),
        f"COPY {spec.release_dir}/ /",
        f"ENV MODEL_VERSION={spec.version} KWREC_SERVE__MODEL_VERSION={spec.version}",
        "",
    ]
    return "\n".join(lines)
