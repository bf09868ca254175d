"""What the docker target's endpoint answers for the whole release when it has several shards.

nginx cannot ask every shard and merge the answers, so the endpoint's ``/version``, ``/readyz`` and
``/healthz`` are small files in the target's ``status/`` directory, served by nginx: ``version.json``
(written by every switch), ``ready.json`` and ``alive.json`` (present only while every shard is ready /
running) and ``unready.json`` (the body of the 503 otherwise). A switch writes them for the release it
switches to; the watchdog (:mod:`kwrec.adapters.targets.docker_watch`) rewrites the last three every
second from the shards' own ``/readyz``, so a shard that stops being ready takes the endpoint's
readiness with it within about a second.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

VERSION_FILE = "version.json"
READY_FILE = "ready.json"
ALIVE_FILE = "alive.json"
UNREADY_FILE = "unready.json"


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, sort_keys=True))
    os.replace(tmp, path)  # nginx reads the old file or the new one, whole


def write_version(status_dir: Path, release: str, code_version: str | None, shards: dict[str, Any]) -> None:
    """``/version`` of the endpoint: the release, every customer, and which shard (and build) answers it."""
    status_dir.mkdir(parents=True, exist_ok=True)
    customers = sorted(c for s in shards.values() for c in s.get("customers") or [])
    _write(
        status_dir / VERSION_FILE,
        {
            "model_version": release,
            "code_version": code_version,
            "customers": customers,
            "shards": {
                name: {"model_version": s.get("version"), "customers": sorted(s.get("customers") or [])}
                for name, s in sorted(shards.items())
            },
        },
    )


def write_health(status_dir: Path, release: str | None, states: dict[str, str]) -> bool:
    """The endpoint's readiness from each shard's state ("ready", or why not); whether all are ready."""
    status_dir.mkdir(parents=True, exist_ok=True)
    ready = bool(states) and all(v == "ready" for v in states.values())
    alive = bool(states) and all(v != "not running" for v in states.values())
    body = {
        "status": "ready" if ready else "loading",
        "model_version": release,
        "shards": dict(sorted(states.items())),
    }
    _write(status_dir / UNREADY_FILE, {**body, "status": "unready" if alive else "down"})
    for name, on in ((READY_FILE, ready), (ALIVE_FILE, alive)):
        if on:
            _write(status_dir / name, {**body, "status": "ready" if name == READY_FILE else "ok"})
        else:
            (status_dir / name).unlink(missing_ok=True)
    return ready


def shard_state(port: int, timeout: float = 1.0) -> str:
    """One shard's ``/readyz`` on its loopback port: "ready", or what it said instead."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=timeout) as response:
            return "ready" if response.status == 200 else f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return f"no answer ({type(exc).__name__})"
