"""Deploy, verify, roll back and gc on the real engine, the real registry and a real nginx proxy.

Needs what scripts/setup-test-env.sh starts (engine, base image, registry on 127.0.0.1:5000, nginx).
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kwrec.adapters import engine
from kwrec.adapters.image import context as image_context
from kwrec.adapters.stores import open_store
from kwrec.adapters.targets.nginx import NginxProxy
from kwrec.core.manifest import list_versions, read_manifest
from kwrec.errors import ArtifactError, DeployError, DeployInProgressError
from kwrec.pipeline import records
from kwrec.pipeline.deploy import deploy_release, gc, releases_rows, rollback, verify_live
from kwrec.pipeline.image import build_release_image, push_release_image
from kwrec.pipeline.train import train_release
from kwrec.settings import Settings
from tests.support import docker_target_env, free_port, shard_image

pytestmark = [pytest.mark.docker, pytest.mark.slow]
if not Path("/var/run/docker.sock").exists():
    pytestmark.append(
        pytest.mark.skip(reason="no Docker engine at /var/run/docker.sock (run scripts/setup-test-env.sh)")
    )
if not Path("/usr/sbin/nginx").exists():
    pytestmark.append(pytest.mark.skip(reason="no /usr/sbin/nginx (run scripts/ensure-nginx.sh)"))

ROOT = Path(__file__).resolve().parents[2]
A, B, BROKEN = "gs_2611270900", "gs_2611271000", "gs_2611260900"  # BROKEN is the oldest
RUN = uuid.uuid4().hex[:8]
TARGET = f"t{RUN}"


def _extra_rows(customer_dir: Path, name: str, word: str) -> None:
    rows = [
        f"2026-11-27T10:{i:02d}:00+09:00,{word}-u{i},{word}-s{i},{word} 상품 {i % 3},10,1" for i in range(30)
    ]
    (customer_dir / name).write_text(
        "timestamp,user_id,session_id,query,result_count,clicked\n" + "\n".join(rows) + "\n"
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Three pushed releases: A, B (shop-kr retrained) and BROKEN (a new shop-kr model file corrupted)."""
    tmp = tmp_path_factory.mktemp("deploy")
    data = tmp / "data"
    shutil.copytree(ROOT / "data" / "sample", data)
    store_url = str(tmp / "store")
    env = {
        **docker_target_env(
            tmp, repository=f"kwrec-test/deploy{RUN}", target=TARGET, run_id=RUN, proxy_port=free_port()
        ),
        "KWREC_DEPLOY__DOCKER__DRAIN_SECONDS": "1",
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        settings = Settings(store=store_url, cache_dir=tmp / "cache")
        store = open_store(store_url)
        train_release(settings, store, timestamp=A[3:], data_dir=data, evaluate=False)
        _extra_rows(data / "shop-kr", "late.csv", "새로운")
        train_release(settings, store, timestamp=B[3:], data_dir=data, evaluate=False)
        _extra_rows(data / "shop-kr", "later.csv", "고장")
        train_release(settings, store, timestamp=BROKEN[3:], data_dir=data, evaluate=False)
        entry = read_manifest(store, BROKEN).customers["shop-kr"]
        assert entry.trained_in == BROKEN
        files = sorted(
            p
            for p in (tmp / "store" / entry.artifact_key).iterdir()
            if p.name != "meta.json" and not p.name.startswith(".")
        )
        victim = next(p for p in files if p.is_file() and p.stat().st_size > 0)
        victim.write_bytes(bytes(b ^ 0xFF for b in victim.read_bytes()))  # same size, wrong checksum
        shutil.rmtree(tmp / "cache", ignore_errors=True)  # the build must read the corrupted store copy
        log: list[str] = []
        # The build refuses a corrupt artifact; an image with damaged model files can still exist (built
        # by an older kwrec, or damaged after the build): make one, to test the deploy-side checks.
        with pytest.raises(ArtifactError, match=r"artifact of shop-kr is corrupt"):
            build_release_image(settings, store, BROKEN, log.append)
        for v in (A, B, BROKEN):
            with pytest.MonkeyPatch.context() as unchecked:
                if v == BROKEN:
                    unchecked.setattr(image_context, "verify_artifact", lambda *_a, **_k: {})
                build_release_image(settings, store, v, log.append)
            push_release_image(settings, store, v, log.append)
        yield {
            "settings": settings,
            "store": store,
            "tmp": tmp,
            "proxy_port": int(env["KWREC_DEPLOY__DOCKER__PROXY_PORT"]),
        }
        client = engine.connect()
        for c in client.containers.list(all=True, filters={"label": f"kwrec.deploy.target={TARGET}"}):
            c.remove(force=True)
        NginxProxy(Path("/usr/sbin/nginx"), tmp / "deploy-state" / TARGET, "127.0.0.1", 0).stop()


class Load:
    """One client with keep-alive, hammering the stable port from a thread (bounded in count and time)."""

    def __init__(self, url: str, max_requests: int = 20000, max_seconds: float = 120) -> None:
        self.url, self.max_requests, self.max_seconds = url, max_requests, max_seconds
        self.versions: list[str] = []
        self.failures: list[str] = []
        self.retried: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        with httpx.Client(base_url=self.url, timeout=5) as http:
            for _ in range(self.max_requests):
                if self.stop.is_set() or time.monotonic() > deadline:
                    return
                try:
                    try:
                        r = http.get("/v1/shop-kr/autocomplete", params={"q": "아이", "limit": 5})
                    except (httpx.ReadError, httpx.RemoteProtocolError) as exc:
                        # nginx's old workers close idle keep-alive connections on reload; a GET sent at that
                        # instant gets a reset before any response byte. Browsers retry such idempotent
                        # requests once (RFC 9112 9.3.1); so does this client, and it counts them.
                        self.retried.append(repr(exc))
                        r = http.get("/v1/shop-kr/autocomplete", params={"q": "아이", "limit": 5})
                    if r.status_code != 200:
                        self.failures.append(f"HTTP {r.status_code}")
                    else:
                        self.versions.append(r.json()["model_version"])
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(30)


def served(port: int) -> str:
    return str(httpx.get(f"http://127.0.0.1:{port}/version", timeout=5).json()["model_version"])


def test_deploy_a_then_b_under_load_without_a_failed_request(world: dict[str, Any]) -> None:
    settings, store, port = world["settings"], world["store"], world["proxy_port"]
    lines: list[str] = []
    deploy_release(settings, store, A, lines.append)
    assert served(port) == A
    with Load(f"http://127.0.0.1:{port}") as load:
        time.sleep(0.5)
        outcome = deploy_release(settings, store, B, lines.append)
        time.sleep(1.0)
    assert outcome.previous == A and all(r.ok for r in outcome.reports)
    assert load.failures == [], load.failures[:5]
    assert len(load.retried) <= 1, load.retried
    assert len(load.versions) > 50
    assert load.versions[0] == A and load.versions[-1] == B
    first_b = load.versions.index(B)
    assert set(load.versions[first_b:]) == {B}  # once switched, never back
    alias, _ = records.read_alias(store, TARGET)
    assert alias is not None and alias.live == B and alias.previous == A and alias.lease is None
    ma, mb = read_manifest(store, A), read_manifest(store, B)
    assert ma.deployments[-1].outcome == "retired"
    assert mb.deployments[-1].outcome == "live" and mb.deployments[-1].digest == shard_image(mb).digest  # type: ignore[union-attr]
    # The old container is stopped but kept for rollback; the new one restarts by itself.
    client = engine.connect()
    old = client.containers.get(ma.deployments[-1].details["shards"]["s000"]["container"])
    new = client.containers.get(mb.deployments[-1].details["shards"]["s000"]["container"])
    assert old.status == "exited" and new.status == "running"
    assert new.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert all(b["HostIp"] == "127.0.0.1" for b in new.attrs["NetworkSettings"]["Ports"]["8000/tcp"])
    assert verify_live(settings, store, lines.append).ok


def test_broken_release_fails_and_b_keeps_serving(world: dict[str, Any]) -> None:
    settings, store, port = world["settings"], world["store"], world["proxy_port"]
    with Load(f"http://127.0.0.1:{port}") as load, pytest.raises(DeployError) as err:
        deploy_release(settings, store, BROKEN, lambda _: None)
    assert "never became ready" in str(err.value) and f"{B} keeps serving" in str(err.value)
    assert load.failures == [] and set(load.versions) == {B}
    assert served(port) == B
    rec = read_manifest(store, BROKEN).deployments[-1]
    assert rec.outcome == "failed" and rec.reason and "never became ready" in rec.reason
    assert "checksum" in rec.reason, rec.reason
    alias, _ = records.read_alias(store, TARGET)
    assert alias is not None and alias.live == B and alias.lease is None
    client = engine.connect()
    assert not client.containers.list(all=True, filters={"name": f"kwrec-test-{RUN}-{TARGET}-{BROKEN}"})


def test_concurrent_deploy_to_one_target_fails_clearly(world: dict[str, Any]) -> None:
    settings, store = world["settings"], world["store"]
    lease = records.acquire_lease(store, TARGET, "docker", A, "deploy", 60)
    try:
        with pytest.raises(DeployInProgressError, match=f"target {TARGET} is busy: deploy of {A}"):
            deploy_release(settings, store, A, lambda _: None)
        rows = {r["version"]: r for r in releases_rows(store)}
        assert f"{TARGET} (deploying)" in rows[A]["live"]
    finally:
        records.release_lease(store, TARGET, "docker", lease)


def test_rollback_then_gc(world: dict[str, Any]) -> None:
    settings, store, port = world["settings"], world["store"], world["proxy_port"]
    with Load(f"http://127.0.0.1:{port}") as load:
        outcome = rollback(settings, store, lambda _: None)
    assert outcome.version == A and load.failures == [] and len(load.retried) <= 1
    assert served(port) == A
    alias, _ = records.read_alias(store, TARGET)
    assert alias is not None and alias.live == A and alias.previous is None
    assert read_manifest(store, B).deployments[-1].outcome == "rolled back"
    assert read_manifest(store, A).deployments[-1].action == "rollback"
    with pytest.raises(DeployError, match="no previous release"):
        rollback(settings, store, lambda _: None)
    # Back to B (by name), so A becomes the rollback target; gc --keep 1 keeps both and drops BROKEN.
    rollback(settings, store, lambda _: None, to=B)
    broken_image = shard_image(read_manifest(store, BROKEN))
    assert broken_image is not None
    only_broken = read_manifest(store, BROKEN).customers["shop-kr"].artifact_key
    result = gc(settings, store, 1, lambda _: None)
    assert result.deleted == [BROKEN] and set(result.kept) == {A, B}
    assert list_versions(store) == [A, B]  # B newest and live, A its rollback target
    assert only_broken in result.artifacts and not store.exists(f"{only_broken}/meta.json")
    for v in (A, B):  # every kept release still has all its artifacts
        for e in read_manifest(store, v).customers.values():
            assert store.dir_exists(e.artifact_key)
    repo = str(broken_image.reference).split("@")[0].split("/", 1)[1]
    r = httpx.head(
        f"http://127.0.0.1:5000/v2/{repo}/manifests/{broken_image.digest}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    assert r.status_code == 404
    assert served(port) == B
