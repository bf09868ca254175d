"""Zero failed requests at the stable endpoint through a deploy and a rollback, for clients that keep their
connections alive and never retry (a client site's backend with a connection pool).

Before: every switch reloaded nginx, whose old workers close idle keep-alive client connections; a client
reusing one at that instant failed (8 of 20,000 requests). Releases built by this kwrec also listen on a
unix socket, and a switch renames the socket link nginx connects to: no reload at all.
Real engine and nginx on 127.0.0.1; the load is bounded in requests and time.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from kwrec.pipeline.deploy import deploy_release, rollback
from tests.integration.docker_world import A, B, docker_world

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    extra = {"KWREC_DEPLOY__DOCKER__DRAIN_SECONDS": "1"}
    with docker_world(tmp_path_factory.mktemp("keepalive"), "ka", extra_env=extra) as w:
        yield w


class NoRetryLoad:
    """Threads, each with one persistent HTTP/1.1 connection (http.client), never retrying a request."""

    def __init__(
        self, port: int, threads: int = 8, max_requests: int = 40_000, max_seconds: float = 90
    ) -> None:
        self.port, self.threads = port, threads
        self.max_requests, self.deadline = max_requests, time.monotonic() + max_seconds
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.sent = 0
        self.versions: Counter[str] = Counter()
        self.failures: list[str] = []
        self.workers = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            with self.lock:
                if self.sent >= self.max_requests:
                    return
                self.sent += 1
            try:
                conn.request("GET", "/v1/shop-kr/autocomplete?q=%EC%95%84%EC%9D%B4&limit=5")
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")
                version = json.loads(body)["model_version"]
                with self.lock:
                    self.versions[version] += 1
            except Exception as exc:  # a failure the client sees; it reconnects but does not resend
                with self.lock:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        conn.close()

    def __enter__(self) -> NoRetryLoad:
        for w in self.workers:
            w.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        time.sleep(1)  # requests after the last switch count too
        self.stop.set()
        for w in self.workers:
            w.join(timeout=30)


def test_no_request_fails_through_a_deploy_and_a_rollback(world: dict[str, Any]) -> None:
    settings, store = world["settings"], world["store"]
    with NoRetryLoad(world["port"]) as load:
        time.sleep(1)
        deployed = deploy_release(settings, store, B, lambda _: None)
        rolled = rollback(settings, store, lambda _: None)
    assert deployed.version == B and rolled.version == A
    print(
        f"no-retry keep-alive load: {load.sent} requests, {len(load.failures)} failed, {dict(load.versions)}"
    )
    assert load.failures == [], load.failures[:5]
    assert load.versions[A] > 0 and load.versions[B] > 0 and load.sent > 1000
