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
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kwrec.adapters import engine
from kwrec.adapters.stores import open_store
from kwrec.adapters.targets.docker_host import LABEL_TARGET
from kwrec.adapters.targets.nginx import NginxProxy
from kwrec.pipeline.deploy import deploy_release, rollback
from kwrec.pipeline.image import build_release_image, push_release_image
from kwrec.pipeline.train import train_release
from kwrec.settings import Settings
from tests.support import docker_target_env, free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
A, B = "gs_2611270900", "gs_2611271000"
RUN = uuid.uuid4().hex[:8]
TARGET = f"ka{RUN}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("keepalive")
    data = tmp / "data"
    shutil.copytree(ROOT / "data" / "sample", data)
    env = {
        **docker_target_env(
            tmp, repository=f"kwrec-test/ka{RUN}", target=TARGET, run_id=RUN, proxy_port=free_port()
        ),
        "KWREC_STORE": str(tmp / "store"),
        "KWREC_CACHE_DIR": str(tmp / "cache"),
        "KWREC_DEPLOY__DOCKER__DRAIN_SECONDS": "1",
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        settings = Settings()
        store = open_store(env["KWREC_STORE"])
        train_release(settings, store, timestamp=A[3:], data_dir=data, evaluate=False)
        rows = [f"2026-11-27T10:{i:02d}:00+09:00,ka-u{i},ka-s{i},새 상품 {i % 3},10,1" for i in range(30)]
        header = "timestamp,user_id,session_id,query,result_count,clicked\n"
        (data / "shop-kr" / "late.csv").write_text(header + "\n".join(rows) + "\n")
        train_release(settings, store, timestamp=B[3:], data_dir=data, evaluate=False)
        for v in (A, B):
            build_release_image(settings, store, v, lambda _: None)
            push_release_image(settings, store, v, lambda _: None)
        deploy_release(settings, store, A, lambda _: None)
        yield {"settings": settings, "store": store, "port": int(env["KWREC_DEPLOY__DOCKER__PROXY_PORT"])}
        client = engine.connect()
        for c in client.containers.list(all=True, filters={"label": f"{LABEL_TARGET}={TARGET}"}):
            c.remove(force=True)
        NginxProxy(Path("/usr/sbin/nginx"), tmp / "deploy-state" / TARGET, "127.0.0.1", 0).stop()


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
