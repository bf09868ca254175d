"""A fleet: 300 customers in three shards through `kwrec run` on the real engine, registry and nginx.

Day 1 releases every shard, and every customer answers through the one stable endpoint. Day 2 changes one
customer: only its shard is rebuilt, pushed (about that customer's bytes) and redeployed; the other
shards keep serving from the same containers. Day 3 changes two shards, one of whose image cannot be
had: nothing switches, the new container of the other is removed, and day 2 keeps serving.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from benchmarks.fleet_data import change, customer_name, write_fleet
from typer.testing import CliRunner

from kwrec.adapters import engine
from kwrec.adapters.stores import open_store
from kwrec.adapters.targets.nginx import NginxProxy
from kwrec.cli.deploy import releases
from kwrec.cli.run import run
from kwrec.core.manifest import read_manifest, release_shards
from kwrec.errors import DeployError
from kwrec.pipeline import records
from kwrec.pipeline.deploy import verify_live
from kwrec.pipeline.steps import build_step, deploy_step, push_step
from kwrec.pipeline.train import train_release
from kwrec.settings import Settings
from tests.support import docker_target_env, free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

RUN = uuid.uuid4().hex[:8]
TARGET = f"fleet{RUN}"
CUSTOMERS = 300
PER_SHARD = 100
D1, D2, D3 = "2612010900", "2612020900", "2612030900"
REGISTRY = "127.0.0.1:5000"
REPO = f"kwrec-test/fleet{RUN}"
_V2 = "application/vnd.docker.distribution.manifest.v2+json"

app = typer.Typer()
app.command()(run)
app.command()(releases)


def kwrec(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output[-3000:]
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("fleet")
    data = tmp / "data"
    write_fleet(data, CUSTOMERS, largest=1500, smallest=30)
    port = free_port()
    env = {
        "KWREC_STORE": str(tmp / "store"),
        "KWREC_DATA_DIR": str(data),
        "KWREC_CACHE_DIR": str(tmp / "cache"),
        "KWREC_RUN__EVALUATE": "false",
        "KWREC_RELEASE__MAX_CUSTOMERS_PER_SHARD": str(PER_SHARD),
        **docker_target_env(tmp, repository=REPO, target=TARGET, run_id=RUN, proxy_port=port),
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        yield {"data": data, "port": port, "store": open_store(env["KWREC_STORE"]), "tmp": tmp}
    client = engine.connect()
    for c in client.containers.list(all=True, filters={"label": f"kwrec.deploy.target={TARGET}"}):
        c.remove(force=True)
    NginxProxy(Path("/usr/sbin/nginx"), tmp / "deploy-state" / TARGET, "127.0.0.1", 0).stop()


def _get(port: int, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}{path}", params=params, timeout=10)


def _answering(port: int, customers: list[str]) -> dict[str, str]:
    """customer -> the model_version of its answer through the stable endpoint."""
    out = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        for c in customers:
            r = http.get(f"/v1/{c}/popular", params={"limit": 3})
            assert r.status_code == 200, (c, r.text)
            body = r.json()
            assert body["customer"] == c and body["suggestions"], body
            out[c] = body["model_version"]
    return out


def _layers(tag: str) -> dict[str, int]:
    r = httpx.get(f"http://{REGISTRY}/v2/{REPO}/manifests/{tag}", headers={"Accept": _V2}, timeout=10)
    r.raise_for_status()
    return {layer["digest"]: int(layer["size"]) for layer in r.json()["layers"]}


def _live_details(store: Any) -> dict[str, Any]:
    alias, _ = records.read_alias(store, TARGET)
    assert alias is not None
    return dict(alias.details["shards"])


def _containers(store: Any) -> dict[str, str]:
    return {s: d["container_id"] for s, d in _live_details(store).items()}


def test_a_fleet_day_by_day(fleet: dict[str, Any]) -> None:
    port, store, data = fleet["port"], fleet["store"], fleet["data"]
    names = [customer_name(i) for i in range(CUSTOMERS)]

    # Day 1: three shards of at most 100 customers, one image each, one model layer per customer.
    day1 = kwrec("run", "--timestamp", D1)
    assert day1["verified"] is True and len(day1["trained"]) == CUSTOMERS
    m1 = read_manifest(store, f"gs_{D1}")
    shards = release_shards(m1)
    assert sorted(shards) == ["s000", "s001", "s002"]
    assert sorted(c for r in shards.values() for c in r.customers) == sorted(names)
    for rec in shards.values():
        assert len(rec.customers) <= PER_SHARD and rec.image is not None and rec.image.digest
        assert rec.image.model_layers == len(rec.customers)
    assert sorted(day1["shards_built"]) == sorted(shards) == sorted(day1["shards_redeployed"])
    assert set(_answering(port, names).values()) == {f"gs_{D1}"}
    version = _get(port, "/version").json()
    assert version["model_version"] == f"gs_{D1}" and sorted(version["customers"]) == sorted(names)
    assert {s: sorted(v["customers"]) for s, v in version["shards"].items()} == {
        s: sorted(r.customers) for s, r in shards.items()
    }
    ready = _get(port, "/readyz")
    assert ready.status_code == 200 and set(ready.json()["shards"].values()) == {"ready"}
    assert _get(port, "/v1/no-such-customer/popular").status_code == 404
    containers1 = _containers(store)

    # Day 2: one customer's new logs. Only its shard is trained, rebuilt, pushed and redeployed.
    changed = customer_name(5)
    home = next(s for s, r in shards.items() if changed in r.customers)
    change(data, [5], day=2)
    day2 = kwrec("run", "--timestamp", D2)
    assert day2["verified"] is True and day2["trained"] == [changed]
    assert day2["shards_built"] == [home] and day2["shards_pushed"] == [home]
    assert day2["shards_redeployed"] == [home]
    assert day2["shards_reused"] == {s: f"gs_{D1}" for s in shards if s != home}
    containers2 = _containers(store)
    assert {s: c for s, c in containers2.items() if s != home} == {
        s: c for s, c in containers1.items() if s != home
    }  # the other shards' containers were not touched
    assert containers2[home] != containers1[home]
    answers = _answering(port, names)
    assert answers[changed] == f"gs_{D2}"
    assert {c: v for c, v in answers.items() if c in shards[home].customers} == {
        c: f"gs_{D2}" for c in shards[home].customers
    }
    assert {v for c, v in answers.items() if c not in shards[home].customers} == {f"gs_{D1}"}
    m2 = read_manifest(store, f"gs_{D2}")
    new_tag, old_tag = f"{D2}-{home}", f"{D1}-{home}"
    new_layers = set(_layers(new_tag)) - set(_layers(old_tag))
    pushed = sum(_layers(new_tag)[d] for d in new_layers)
    changed_bytes = int(m2.customers[changed].stats["model_bytes"])
    assert pushed <= 3 * changed_bytes + 5_000_000, (pushed, changed_bytes)
    assert len(new_layers) <= 3  # the changed customer's layer and the shard's manifest layer (+ env)
    listed = kwrec("releases")
    row = next(r for r in listed["releases"] if r["version"] == f"gs_{D2}")
    assert {s: d["built_in"] for s, d in row["shards"].items()} == {
        s: (f"gs_{D2}" if s == home else f"gs_{D1}") for s in shards
    }

    # A shard that stops: the endpoint's readiness says so (the watchdog starts it again), then recovers.
    victim = engine.connect().containers.get(_live_details(store)["s001"]["container"])
    victim.stop(timeout=2)
    seen: list[int] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (503 in seen and seen[-1] == 200):
        r = _get(port, "/readyz")
        seen.append(r.status_code)
        if r.status_code == 503:
            assert r.json()["shards"]["s001"] != "ready" and r.json()["shards"]["s000"] == "ready"
        time.sleep(0.1)
    assert 503 in seen and seen[-1] == 200, seen[-20:]
    assert _answering(port, names) == answers

    # Day 3: two shards change; one of their images is gone from the engine and the registry.
    settings = Settings()
    others = [s for s in sorted(shards) if s != home]
    picks = [next(i for i, c in enumerate(names) if c in shards[s].customers) for s in others]
    change(data, picks, day=3)
    train_release(settings, store, timestamp=D3, evaluate=False)
    m3 = read_manifest(store, f"gs_{D3}")
    assert sorted(s for s, r in m3.shards.items() if r.built_in == f"gs_{D3}") == others
    build_step(settings, store, f"gs_{D3}", lambda _: None)
    push_step(settings, store, f"gs_{D3}", lambda _: None)
    broken = read_manifest(store, f"gs_{D3}").shards[others[1]].image
    assert broken is not None and broken.id and broken.digest
    client = engine.connect()
    client.images.remove(broken.id, force=True)
    httpx.delete(f"http://{REGISTRY}/v2/{REPO}/manifests/{broken.digest}", timeout=10).raise_for_status()
    with pytest.raises(DeployError, match="cannot pull"):
        deploy_step(settings, store, f"gs_{D3}", lambda _: None)
    alias, _ = records.read_alias(store, TARGET)
    assert alias is not None and alias.live == f"gs_{D2}" and alias.lease is None
    assert _containers(store) == containers2
    left = client.containers.list(all=True, filters={"label": f"kwrec.deploy.target={TARGET}"})
    assert not [c.name for c in left if f"gs_{D3}" in c.name]  # the started shard was removed again
    assert _answering(port, names) == answers  # nothing was switched
    assert read_manifest(store, f"gs_{D3}").deployments[-1].outcome == "failed"
    report = verify_live(settings, store, lambda _: None)
    assert report.ok, report.summary()
