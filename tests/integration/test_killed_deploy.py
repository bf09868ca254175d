"""A `kwrec deploy` or `kwrec rollback` killed with SIGKILL half-way never jams the target.

Before: the dead process's lease kept the target "busy" for an hour, the records disagreed with what nginx
served, and an untracked container kept running. Now the next command takes the lease over (its holder's
pid is gone), puts the proxy back on the recorded live container, removes the orphan, records the
interrupted deploy as failed, and goes on. Real engine, registry and nginx on 127.0.0.1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kwrec.adapters import engine
from kwrec.adapters.targets.docker_host import LABEL_TARGET, LABEL_VERSION
from kwrec.core.manifest import read_manifest
from kwrec.pipeline import records
from tests.integration.docker_world import A, B, docker_world

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with docker_world(tmp_path_factory.mktemp("killed"), "k") as w:
        yield w


def _kwrec(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kwrec.cli.main", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_at(env: dict[str, str], phrase: str, *args: str) -> str:
    """Run a kwrec command and SIGKILL it as soon as it reports ``phrase``; its output up to then."""
    proc = _kwrec(env, *args)
    assert proc.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + 300
    for line in proc.stderr:
        seen.append(line)
        if phrase in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert any(phrase in line for line in seen), "".join(seen)
    return "".join(seen)


def _served(env: dict[str, str]) -> str:
    port = env["KWREC_DEPLOY__DOCKER__PROXY_PORT"]
    return str(httpx.get(f"http://127.0.0.1:{port}/version", timeout=5).json()["model_version"])


def _containers(target: str) -> dict[str, str]:
    found = engine.connect().containers.list(all=True, filters={"label": f"{LABEL_TARGET}={target}"})
    return {c.labels[LABEL_VERSION]: c.status for c in found}


def _finish(env: dict[str, str], *args: str) -> str:
    proc = _kwrec(env, *args)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, out + err
    return err


@pytest.mark.parametrize(
    ("phrase", "command", "expected"),
    [
        ("starting", ("deploy", "--version", B), B),  # killed with B's container starting
        ("PUBLIC serves", ("rollback",), A),  # killed once nginx serves A, before the records say so
    ],
)
def test_the_next_command_recovers_a_killed_one(
    world: dict[str, Any], phrase: str, command: tuple[str, ...], expected: str
) -> None:
    env, store, target = world["env"], world["store"], world["target"]
    live_before, _ = records.read_alias(store, target)
    assert live_before is not None and live_before.live != expected
    public = f"http://127.0.0.1:{env['KWREC_DEPLOY__DOCKER__PROXY_PORT']}"
    _kill_at(env, phrase.replace("PUBLIC", public), *command)
    jammed, _ = records.read_alias(store, target)
    assert jammed is not None and jammed.lease is not None  # the dead process still holds the lease

    log = " ".join(_finish(env, *command).split())  # the console wraps long lines
    assert "taking over the lease" in log and "its process is gone" in log, log
    if phrase.startswith("PUBLIC"):  # nginx already served the half-deployed release: put back first
        assert "recovered: proxy switched back" in log, log
    alias, _ = records.read_alias(store, target)
    assert alias is not None and alias.live == expected and alias.lease is None
    assert _served(env) == expected  # the records match what nginx serves
    containers = _containers(target)
    # No orphan: only the live container runs; the one it replaced is kept stopped (as after any switch).
    assert {v for v, status in containers.items() if status == "running"} == {expected}, containers
    assert set(containers) <= {A, B}, containers
    history = read_manifest(store, expected).deployments
    assert any(d.outcome == "failed" and (d.reason or "").startswith("interrupted") for d in history)
    assert history[-1].outcome == "live"
