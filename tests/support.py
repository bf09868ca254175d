"""Helpers shared by the tests that run real servers: free loopback ports and docker-target settings."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from kwrec.adapters.targets.nginx import DEFAULT_SHARD
from kwrec.core.manifest import ImageRecord, Manifest, release_shards

ROOT = Path(__file__).resolve().parents[1]
RESERVED_PORTS = (5000, 5001)  # the local open and htpasswd registries


def free_port() -> int:
    """A loopback port nothing listens on now, never one of the registries'."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in RESERVED_PORTS:
            return port


def docker_target_env(
    tmp: Path, *, repository: str, target: str, run_id: str, proxy_port: int
) -> dict[str, str]:
    """KWREC_* variables for a test deployment: its own image repository, proxy port, containers and state."""
    return {
        "KWREC_IMAGE__REPOSITORY": repository,
        "KWREC_IMAGE__REGISTRY__URL": "127.0.0.1:5000",
        "KWREC_IMAGE__WHEEL_CACHE": str(ROOT / "var" / "wheels"),
        "KWREC_DEPLOY__NAME": target,
        "KWREC_DEPLOY__DOCKER__PROXY_PORT": str(proxy_port),
        "KWREC_DEPLOY__DOCKER__STATE_DIR": str(tmp / "deploy-state"),
        "KWREC_DEPLOY__DOCKER__CONTAINER_PREFIX": f"kwrec-test-{run_id}",
        "KWREC_DEPLOY__DOCKER__READINESS_TIMEOUT_SECONDS": "60",
        "KWREC_DEPLOY__DOCKER__DRAIN_SECONDS": "0",
        "KWREC_DEPLOY__DOCKER__STOP_TIMEOUT_SECONDS": "5",
    }


def shard_image(manifest: Manifest, shard: str = DEFAULT_SHARD) -> ImageRecord | None:
    """The image record of one shard of a release (the only one of a small release)."""
    return release_shards(manifest)[shard].image


def serve_locally(store: str, version: str, cwd: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A real `kwrec serve` of ``version`` from ``store`` on a free loopback port, once it is ready.

    The caller terminates the process. Fails the test when it is not ready within 60 s.
    """
    port = free_port()
    cmd = [sys.executable, "-m", "kwrec.cli.serve", "--store", store, "--version", version]
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.terminate()
    proc.wait(10)
    pytest.fail(f"`kwrec serve` of {version} from {store} never became ready")


def wait_until(check: Callable[[], bool], limit: float = 60.0, every: float = 0.25) -> float:
    """Seconds until ``check()`` holds, polled every ``every`` s; fails the test after ``limit`` s."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if check():
            return time.monotonic() - started
        time.sleep(every)
    pytest.fail(f"not in effect within {limit:.0f} s")


# Every operation of the public API (PRODUCT.md), as the OpenAPI document names them.
API_OPERATIONS = (
    "/v1/{customer}/autocomplete",
    "/v1/{customer}/related",
    "/v1/{customer}/popular",
    "/v1/{customer}/trending",
    "/healthz",
    "/readyz",
    "/version",
    "/metrics",
)
