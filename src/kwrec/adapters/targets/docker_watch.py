"""The docker target's watchdog: keeps the live container running, beside the target's own nginx.

Docker's restart policy brings a container back after its main process crashes, but not after
``docker kill`` or ``docker stop`` (a "manual" stop). This process, one per target, started by the target
on its first switch, looks at the live container once a second and starts it again when it is neither
running nor restarting. Which container is live comes from ``live.json`` in the target's state
directory, written by every switch. It exits by itself when the target's nginx is no longer running
(the target was torn down). Its log is ``watch.log`` in the same directory.

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
from kwrec.adapters.targets.nginx import PID_NAME, running_pid

LIVE_FILE = "live.json"
PID_FILE = "watch.pid"
LOG_FILE = "watch.log"
log = logging.getLogger("kwrec.watch")


def live_container(state_dir: Path) -> str | None:
    try:
        name = json.loads((state_dir / LIVE_FILE).read_text()).get("container")
    except (OSError, ValueError, AttributeError):
        return None
    return str(name) if name else None


def check_once(client: Any, state_dir: Path) -> str | None:
    """Start the live container if it is stopped; what was done (None: nothing to do)."""
    name = live_container(state_dir)
    if name is None:
        return None
    try:
        container = client.containers.get(name)
    except docker.errors.NotFound:
        return f"the live container {name} is gone; `kwrec deploy --version <live>` brings it back"
    if container.status in ("running", "restarting"):
        return None
    code = container.attrs.get("State", {}).get("ExitCode")
    container.start()
    return f"started the live container {name} again (it was {container.status}, exit code {code})"


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
