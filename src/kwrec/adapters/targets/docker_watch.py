"""The docker target's watchdog: keeps the live containers running, beside the target's own nginx.

Docker's restart policy brings a container back after its main process crashes, but not after
``docker kill`` or ``docker stop`` (a "manual" stop). This process, one per target, started by the target
on its first switch, looks at each shard's live container once a second and starts it again when it is
neither running nor restarting; with several shards it also rewrites the endpoint's readiness files
(:mod:`kwrec.adapters.targets.fleet_status`) from each shard's ``/readyz``. Which containers are live comes
from ``live.json`` in the target's state directory, written by every switch. It exits by itself when
the target's nginx is no longer running (the target was torn down).
Its log is ``watch.log`` in the same directory.

    python -m kwrec.adapters.targets.docker_watch STATE_DIR
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import docker.errors
import requests

from kwrec.adapters import engine
from kwrec.adapters.targets.fleet_status import shard_state, write_health
from kwrec.adapters.targets.nginx import DEFAULT_SHARD, PID_NAME, running_pid

LIVE_FILE = "live.json"
PID_FILE = "watch.pid"
LOG_FILE = "watch.log"
log = logging.getLogger("kwrec.watch")


def live_shards(state_dir: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """shard -> {container, port} of the live release, and the whole ``live.json``."""
    try:
        live = json.loads((state_dir / LIVE_FILE).read_text())
    except (OSError, ValueError):
        return {}, {}
    if not isinstance(live, dict):
        return {}, {}
    if isinstance(live.get("shards"), dict):
        return {s: d for s, d in live["shards"].items() if isinstance(d, dict) and d.get("container")}, live
    if live.get("container"):  # written before shards
        return {DEFAULT_SHARD: {"container": live["container"], "port": live.get("port")}}, live
    return {}, live


def check_once(client: Any, state_dir: Path) -> str | None:
    """Start every live container that is stopped; refresh the endpoint's status; what was done."""
    shards, live = live_shards(state_dir)
    done: list[str] = []
    states: dict[str, str] = {}
    for shard, d in sorted(shards.items()):
        name = str(d["container"])
        try:
            container = client.containers.get(name)
        except docker.errors.NotFound:
            done.append(f"the live container {name} is gone; `kwrec deploy --version <live>` brings it back")
            states[shard] = "not running"
            continue
        if container.status in ("running", "restarting"):
            states[shard] = shard_state(int(d["port"])) if d.get("port") else "ready"
            continue
        code = container.attrs.get("State", {}).get("ExitCode")
        container.start()
        states[shard] = "starting"
        done.append(f"started the live container {name} again (it was {container.status}, exit code {code})")
    if live.get("status") and live.get("status_dir"):
        write_health(Path(str(live["status_dir"])), live.get("release"), states)
    return "; ".join(done) or None


def watch(state_dir: Path, interval: float = 1.0) -> None:
    client = engine.connect(timeout=30)
    reported: str | None = None
    while running_pid(state_dir / PID_NAME) is not None:
        try:
            done = check_once(client, state_dir)
        except (docker.errors.DockerException, requests.RequestException) as exc:
            done = f"engine unreachable: {exc}"  # e.g. dockerd restarting: try again next round
        if done is not None and done != reported:
            log.warning("%s", done)
        reported = done if done is not None and "gone" in done else None  # say "gone" once, not per second
        time.sleep(interval)
    log.info("the proxy of %s stopped: the watchdog stops too", state_dir)


def main(argv: list[str]) -> int:
    state_dir = Path(argv[0]).resolve()
    logging.basicConfig(
        filename=state_dir / LOG_FILE, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    (state_dir / PID_FILE).write_text(str(os.getpid()))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    watch(state_dir)
    return 0


if __name__ == "__main__":  # pragma: no cover - started by DockerTarget as its own process
    raise SystemExit(main(sys.argv[1:]))
