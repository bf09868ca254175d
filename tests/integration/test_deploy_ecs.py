"""The ECS target against a moto server: a new revision pinned by digest, rollout states, update back.

moto's deployments are patched to behave like ECS's (tests.fixtures_moto.patch_ecs_rollouts). The
verification URL is a local `kwrec serve` of the same release. A release of one shard needs no load
balancer; sharded releases are in test_deploy_ecs_shards.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from kwrec.adapters.stores import open_store
from kwrec.core.manifest import ImageRecord, read_manifest, write_manifest
from kwrec.errors import DeployError
from kwrec.pipeline import records
from kwrec.pipeline.deploy import deploy_release
from kwrec.pipeline.train import train_release
from kwrec.settings import Settings
from tests.fixtures_moto import moto_server, patch_ecs_rollouts, register_api_task
from tests.support import serve_locally

ROOT = Path(__file__).resolve().parents[2]
A, B = "gs_2611270900", "gs_2611271000"
REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/keyword-dev"
DIGEST_A, DIGEST_B = "sha256:" + "a" * 64, "sha256:" + "b" * 64
PLAN: dict[str, str] = {}  # task definition ARN -> the rollout state it ends in


@pytest.fixture(scope="module")
def moto_ecs() -> Iterator[str]:
    with moto_server(lambda mp: patch_ecs_rollouts(mp, lambda td: PLAN.get(td.arn, "COMPLETED"))) as url:
        yield url


@pytest.fixture(scope="module")
def release_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    tmp = tmp_path_factory.mktemp("ecs")
    data = tmp / "data"
    shutil.copytree(ROOT / "data" / "sample", data)
    store_url = str(tmp / "store")
    settings = Settings(store=store_url, cache_dir=tmp / "cache")
    store = open_store(store_url)
    train_release(settings, store, timestamp=A[3:], data_dir=data, evaluate=False)
    train_release(settings, store, timestamp=B[3:], data_dir=data, evaluate=False)
    for v, digest in ((A, DIGEST_A), (B, DIGEST_B)):
        m = read_manifest(store, v)
        m.shards["s000"].image = ImageRecord(digest=digest, reference=f"{REPO}@{digest}", tag=v[3:])
        write_manifest(store, m)
    return store_url, tmp


@pytest.fixture(scope="module")
def served_b(release_store: tuple[str, Path]) -> Iterator[str]:
    """The service URL: a local API serving release B (what the new ECS tasks would run)."""
    store_url, tmp = release_store
    proc, url = serve_locally(store_url, B, tmp)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def ecs_service(moto_ecs: str, aws_env: None, monkeypatch: pytest.MonkeyPatch, served_b: str) -> Any:
    ecs = boto3.client("ecs", endpoint_url=moto_ecs, region_name="us-east-1")
    ec2 = boto3.client("ec2", endpoint_url=moto_ecs, region_name="us-east-1")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = [
        s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    ]
    sg = ec2.create_security_group(GroupName=f"kwrec-{time.time_ns()}", Description="kwrec", VpcId=vpc)[
        "GroupId"
    ]
    ecs.create_cluster(clusterName="kwrec")
    td = register_api_task(ecs, f"{REPO}@{DIGEST_A}", {"name": "log-router", "image": "fluent-bit:2"})
    ecs.create_service(
        cluster="kwrec",
        serviceName="kwrec-api",
        taskDefinition=td,
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg]}},
    )
    for k, v in {
        "KWREC_DEPLOY__TARGET": "ecs",
        "KWREC_DEPLOY__ECS__CLUSTER": "kwrec",
        "KWREC_DEPLOY__ECS__SERVICE": "kwrec-api",
        "KWREC_DEPLOY__ECS__ENDPOINT_URL": moto_ecs,
        "KWREC_DEPLOY__ECS__SERVICE_URL": served_b,
        "KWREC_DEPLOY__ECS__CONTAINER_NAME": "api",
        "KWREC_DEPLOY__ECS__POLL_SECONDS": "0.2",
        "KWREC_DEPLOY__ECS__TIMEOUT_SECONDS": "20",
    }.items():
        monkeypatch.setenv(k, v)
    yield ecs, td
    httpx.post(f"{moto_ecs}/moto-api/reset", timeout=10)


def _service_td(ecs: Any) -> str:
    return str(
        ecs.describe_services(cluster="kwrec", services=["kwrec-api"])["services"][0]["taskDefinition"]
    )


def test_ecs_deploy_pins_digest_and_follows_its_rollout(
    release_store: tuple[str, Path], ecs_service: Any
) -> None:
    ecs, first = ecs_service
    store_url, tmp = release_store
    settings, store = Settings(store=store_url, cache_dir=tmp / "cache"), open_store(store_url)
    lines: list[str] = []
    outcome = deploy_release(settings, store, B, lines.append)
    assert all(r.ok for r in outcome.reports)
    new = _service_td(ecs)
    assert new != first and new.endswith(":2")
    containers = ecs.describe_task_definition(taskDefinition=new)["taskDefinition"]["containerDefinitions"]
    images = {c["name"]: c["image"] for c in containers}
    assert images == {"api": f"{REPO}@{DIGEST_B}", "log-router": "fluent-bit:2"}
    # This store is a local directory, which ECS tasks cannot read: live rules are off there, and said so.
    env = {c["name"]: {e["name"]: e["value"] for e in c.get("environment") or []} for c in containers}
    assert env["api"] == {"KWREC_RULES__ENABLED": "false"} and not env["log-router"]
    assert any("live rules are off on ECS" in line for line in lines)
    rec = read_manifest(store, B).deployments[-1]
    assert rec.outcome == "live" and rec.details["shards"]["s000"]["task_definition"] == new
    assert rec.details["shards"]["s000"]["previous_task_definition"] == first
    assert any("completed" in line for line in lines)


def test_ecs_failed_rollout_updates_the_service_back(
    release_store: tuple[str, Path], ecs_service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ecs, first = ecs_service
    monkeypatch.setenv("KWREC_DEPLOY__NAME", "ecs-second")  # the first test left B live on target "ecs"
    store_url, tmp = release_store
    settings, store = Settings(store=store_url, cache_dir=tmp / "cache"), open_store(store_url)
    PLAN[first.rsplit(":", 1)[0] + ":2"] = "FAILED"
    try:
        with pytest.raises(DeployError, match="FAILED: ECS deployment circuit breaker") as err:
            deploy_release(settings, store, B, lambda _: None)
    finally:
        PLAN.clear()
    assert _service_td(ecs) == first  # updated back to the previous task definition
    rec = read_manifest(store, B).deployments[-1]
    assert rec.outcome == "failed" and rec.reason and "circuit breaker" in rec.reason
    alias, _ = records.read_alias(store, "ecs-second")
    assert alias is not None and alias.live is None and alias.lease is None
    assert "updated back" in str(err.value) or first in str(err.value) or "failed" in str(err.value)


def test_a_dead_deploys_lease_is_taken_over_and_the_service_put_back(
    release_store: tuple[str, Path], ecs_service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deploy killed after it updated the service: the next one finds the service on a task definition
    the records do not know, updates it back to the recorded live one, then goes on."""
    ecs, _ = ecs_service
    monkeypatch.setenv("KWREC_DEPLOY__NAME", "ecs-third")
    store_url, tmp = release_store
    settings, store = Settings(store=store_url, cache_dir=tmp / "cache"), open_store(store_url)
    deploy_release(settings, store, B, lambda _: None)
    alias, _ = records.read_alias(store, "ecs-third")
    assert alias is not None and alias.live == B
    recorded = alias.details["shards"]["s000"]["task_definition"]
    # What the killed process did: a new revision, the service updated to it, the lease never given back.
    stray = ecs.register_task_definition(
        family="kwrec-api",
        containerDefinitions=[{"name": "api", "image": f"{REPO}@{DIGEST_A}", "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster="kwrec", service="kwrec-api", taskDefinition=stray)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    records.acquire_lease(store, "ecs-third", "ecs", B, "deploy", 3600)
    raw = json.loads(store.read_bytes("targets/ecs-third.json"))
    raw["lease"]["holder"] = f"{socket.gethostname()}:{dead.stdout.strip()}"  # its process is gone
    store.write_bytes("targets/ecs-third.json", json.dumps(raw).encode())

    lines: list[str] = []
    deploy_release(settings, store, B, lines.append)
    said = "\n".join(lines)
    assert "its process is gone" in said
    assert f"recovered: service kwrec-api updated back from {stray} to {recorded}" in said, said
    alias, _ = records.read_alias(store, "ecs-third")
    assert alias is not None and alias.live == B and alias.lease is None
    assert _service_td(ecs) == alias.details["shards"]["s000"]["task_definition"] != stray
