"""A sharded release on the ECS target (moto): one service per shard behind one ALB listener.

The load balancer here is a small real HTTP router on 127.0.0.1 that does what an ALB does with the
listener as moto holds it: the first rule (by priority) whose path-pattern or http-header condition
matches picks a target group, and the target group's service runs some image. Each image is a real
`kwrec serve` of that shard's view of its release. So a rule kwrec wrote wrong, or a service left on
the wrong task definition, shows up as a customer answered by the wrong shard, like it would on AWS.
"""

from __future__ import annotations

import fnmatch
import hashlib
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from benchmarks.fleet_data import change, write_fleet

from kwrec.adapters.stores import open_store
from kwrec.core.manifest import ImageRecord, read_manifest, release_shards, shard_view, write_manifest
from kwrec.errors import DeployError
from kwrec.pipeline import records
from kwrec.pipeline.deploy import deploy_release, verify_live
from kwrec.pipeline.train import train_release
from kwrec.settings import Settings
from kwrec.settings.release import ReleaseSettings
from tests.fixtures_moto import FAKE_KEY_ID, FAKE_SECRET, moto_server, patch_ecs_rollouts, register_api_task
from tests.support import serve_locally

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/keyword-dev"
DAYS = ("2612010900", "2612020900", "2612030900")
FAILING: set[str] = set()  # image digests whose rollout ends FAILED


def _outcome(td: Any) -> str:
    images = {str(c.get("image", "")) for c in td.container_definitions}
    return "FAILED" if any(i.split("@")[-1] in FAILING for i in images) else "COMPLETED"


@pytest.fixture(scope="module")
def moto_ecs() -> Iterator[str]:
    with moto_server(lambda mp: patch_ecs_rollouts(mp, _outcome)) as url:
        yield url


def _client(name: str, endpoint: str) -> Any:
    # Explicit fake credentials: the module's fixtures outlive the per-test aws_env.
    return boto3.client(  # type: ignore[call-overload]
        name,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=FAKE_KEY_ID,
        aws_secret_access_key=FAKE_SECRET,
    )


def _digest(version: str, shard: str) -> str:
    return "sha256:" + hashlib.sha256(f"{version}/{shard}".encode()).hexdigest()


class Fleet:
    """Releases of 18 small customers in 3 shards; each shard's image 'pushed' under its own digest."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.data = tmp, tmp / "data"
        write_fleet(self.data, 18, largest=300, smallest=60)
        self.store_url = str(tmp / "store")
        self.store = open_store(self.store_url)
        self.settings = Settings(
            store=self.store_url, cache_dir=tmp / "cache", release=ReleaseSettings(shards=3)
        )
        self.servers: dict[str, str] = {}  # image digest -> where a `kwrec serve` of it answers
        self.procs: list[subprocess.Popen[bytes]] = []

    def release(self, day: int) -> str:
        version = f"gs_{DAYS[day]}"
        train_release(self.settings, self.store, timestamp=DAYS[day], data_dir=self.data, evaluate=False)
        m = read_manifest(self.store, version)
        for shard, rec in m.shards.items():
            if rec.image is None:  # what `kwrec build` + `kwrec push` record (unchanged shards keep theirs)
                d = _digest(rec.built_in, shard)
                rec.image = ImageRecord(id=d, digest=d, reference=f"{REPO}@{d}", tag=f"{DAYS[day]}-{shard}")
        write_manifest(self.store, m)
        return version

    def serve_images(self, version: str) -> None:
        """A `kwrec serve` of each shard image of ``version`` not served yet (what its ECS tasks run)."""
        m = read_manifest(self.store, version)
        for shard, rec in release_shards(m).items():
            assert rec.image is not None and rec.image.digest
            if rec.image.digest in self.servers:
                continue
            store_dir = self.tmp / f"image-{rec.image.digest[7:19]}"
            shutil.copytree(self.store_url, store_dir)
            write_manifest(open_store(str(store_dir)), shard_view(m, shard))  # what the image carries
            proc, url = serve_locally(str(store_dir), rec.built_in, self.tmp)
            self.procs.append(proc)
            self.servers[rec.image.digest] = url

    def close(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(10)


class Alb:
    """The listener's routing, evaluated per request from what moto holds (rules, services, images)."""

    def __init__(self, endpoint: str, listener: str, cluster: str, servers: dict[str, str]) -> None:
        self.elb = _client("elbv2", endpoint)
        self.ecs = _client("ecs", endpoint)
        self.listener, self.cluster, self.servers = listener, cluster, servers

    def target_group(self, path: str, headers: dict[str, str]) -> str:
        rules = self.elb.describe_rules(ListenerArn=self.listener)["Rules"]
        default = next(r for r in rules if r["IsDefault"])
        for rule in sorted((r for r in rules if not r["IsDefault"]), key=lambda r: int(r["Priority"])):
            if all(self._matches(c, path, headers) for c in rule["Conditions"]):
                return str(rule["Actions"][0]["TargetGroupArn"])
        return str(default["Actions"][0]["TargetGroupArn"])

    @staticmethod
    def _matches(cond: dict[str, Any], path: str, headers: dict[str, str]) -> bool:
        if cond["Field"] == "path-pattern":
            return any(fnmatch.fnmatchcase(path, v) for v in cond["PathPatternConfig"]["Values"])
        if cond["Field"] == "http-header":
            cfg = cond["HttpHeaderConfig"]
            return headers.get(cfg["HttpHeaderName"].lower()) in cfg["Values"]
        return False

    def upstream(self, group: str) -> str | None:
        arns = self.ecs.list_services(cluster=self.cluster)["serviceArns"]
        services = self.ecs.describe_services(cluster=self.cluster, services=arns)["services"]
        for s in services:
            if s["status"] == "ACTIVE" and any(lb["targetGroupArn"] == group for lb in s["loadBalancers"]):
                td = self.ecs.describe_task_definition(taskDefinition=s["taskDefinition"])["taskDefinition"]
                image = next(c["image"] for c in td["containerDefinitions"] if c["name"] == "api")
                return self.servers.get(image.split("@")[-1])
        return None

    def handle(self, path: str, query: str, headers: dict[str, str]) -> tuple[int, str, bytes]:
        up = self.upstream(self.target_group(path, headers))
        if up is None:
            return 503, "text/plain", b"no healthy targets"
        r = httpx.get(f"{up}{path}" + (f"?{query}" if query else ""), timeout=10)
        return r.status_code, r.headers.get("content-type", "text/plain"), r.content


@pytest.fixture(scope="module")
def ecs_fleet(moto_ecs: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, Alb, str]]:
    fleet = Fleet(tmp_path_factory.mktemp("ecs-fleet"))
    ec2 = _client("ec2", moto_ecs)
    elb = _client("elbv2", moto_ecs)
    ecs = _client("ecs", moto_ecs)
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = [
        s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    ]
    sg = ec2.create_security_group(GroupName="kwrec-alb", Description="kwrec", VpcId=vpc)["GroupId"]
    lb = elb.create_load_balancer(Name="kwrec", Subnets=subnets[:2], SecurityGroups=[sg], Type="application")
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(
        Name="kwrec-api", Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="ip", HealthCheckPath="/readyz"
    )["TargetGroups"][0]["TargetGroupArn"]
    listener = elb.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
    )["Listeners"][0]["ListenerArn"]
    # The operator's own rule, below kwrec's priorities: kwrec must leave it alone.
    elb.create_rule(
        ListenerArn=listener,
        Priority=10,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/admin/*"]}}],
        Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "403"}}],
    )
    ecs.create_cluster(clusterName="kwrec")
    td = register_api_task(ecs, f"{REPO}@sha256:{'0' * 64}")
    ecs.create_service(
        cluster="kwrec",
        serviceName="kwrec-api",
        taskDefinition=td,
        desiredCount=1,
        launchType="FARGATE",
        loadBalancers=[{"targetGroupArn": tg, "containerName": "api", "containerPort": 8000}],
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg]}},
    )
    alb = Alb(moto_ecs, listener, "kwrec", fleet.servers)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, ctype, body = alb.handle(path, query, headers)
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield fleet, alb, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        fleet.close()
        httpx.post(f"{moto_ecs}/moto-api/reset", timeout=10)  # moto's state is per process


@pytest.fixture
def ecs_env(ecs_fleet: tuple[Fleet, Alb, str], moto_ecs: str, aws_env: None, monkeypatch: Any) -> None:
    _, alb, url = ecs_fleet
    for k, v in {
        "KWREC_DEPLOY__TARGET": "ecs",
        "KWREC_DEPLOY__ECS__CLUSTER": "kwrec",
        "KWREC_DEPLOY__ECS__SERVICE": "kwrec-api",
        "KWREC_DEPLOY__ECS__ENDPOINT_URL": moto_ecs,
        "KWREC_DEPLOY__ECS__SERVICE_URL": url,
        "KWREC_DEPLOY__ECS__LISTENER_ARN": alb.listener,
        "KWREC_DEPLOY__ECS__CONTAINER_NAME": "api",
        "KWREC_DEPLOY__ECS__POLL_SECONDS": "0.2",
        "KWREC_DEPLOY__ECS__TIMEOUT_SECONDS": "20",
    }.items():
        monkeypatch.setenv(k, v)


def _task_definitions(alb: Alb) -> dict[str, str]:
    arns = alb.ecs.list_services(cluster="kwrec")["serviceArns"]
    services = alb.ecs.describe_services(cluster="kwrec", services=arns)["services"]
    return {s["serviceName"]: s["taskDefinition"] for s in services if s["status"] == "ACTIVE"}


def _answers(url: str, manifest_version: str, fleet: Fleet) -> dict[str, str]:
    """customer -> the model_version that answered it through the load balancer."""
    m = read_manifest(fleet.store, manifest_version)
    out = {}
    for customer in m.customers:
        r = httpx.get(f"{url}/v1/{customer}/popular", timeout=10)
        out[customer] = r.json().get("model_version") if r.status_code == 200 else f"HTTP {r.status_code}"
    return out


def test_a_sharded_fleet_on_ecs_day_by_day(ecs_fleet: tuple[Fleet, Alb, str], ecs_env: None) -> None:
    fleet, alb, url = ecs_fleet
    settings = Settings(
        store=fleet.store_url, cache_dir=fleet.tmp / "cache", release=ReleaseSettings(shards=3)
    )

    # Day 1: three shards; s000 is the configured service, s001 and s002 get services of their own.
    a = fleet.release(0)
    m_a = read_manifest(fleet.store, a)
    assert sorted(m_a.shards) == ["s000", "s001", "s002"]
    fleet.serve_images(a)
    lines: list[str] = []
    outcome = deploy_release(settings, fleet.store, a, lines.append)
    assert all(r.ok for r in outcome.reports), [r.summary() for r in outcome.reports]
    assert outcome.redeployed == ["s000", "s001", "s002"]
    tds = _task_definitions(alb)
    assert sorted(tds) == ["kwrec-api", "kwrec-api-s001", "kwrec-api-s002"]
    for shard, rec in m_a.shards.items():
        svc = "kwrec-api" if shard == "s000" else f"kwrec-api-{shard}"
        td = alb.ecs.describe_task_definition(taskDefinition=tds[svc])["taskDefinition"]
        assert td["containerDefinitions"][0]["image"] == f"{REPO}@{rec.image.digest}"  # type: ignore[union-attr]
    assert set(_answers(url, a, fleet).values()) == {a}
    # Each customer reaches its own shard: /version of the shard it lands on names it.
    for shard, rec in m_a.shards.items():
        body = httpx.get(f"{url}/version", headers={"X-Kwrec-Shard": shard}, timeout=10).json()
        assert sorted(body["customers"]) == sorted(rec.customers)
    rules = alb.elb.describe_rules(ListenerArn=alb.listener)["Rules"]
    assert any(r["Priority"] == "10" for r in rules)  # the operator's rule is untouched
    kwrec_rules = [r for r in rules if r["Priority"].isdigit() and int(r["Priority"]) >= 40_000]
    assert all(
        len(c["PathPatternConfig"]["Values"]) <= 5
        for r in kwrec_rules
        for c in r["Conditions"]
        if c["Field"] == "path-pattern"
    )
    alias, _ = records.read_alias(fleet.store, "ecs")
    assert alias is not None and alias.live == a
    assert sorted(alias.details["shards"]) == ["s000", "s001", "s002"]
    assert alias.details["shards"]["s001"]["customers"] == m_a.shards["s001"].customers

    # Day 2: one customer of s001 changed: only s001's service gets a new task definition.
    changed = m_a.shards["s001"].customers[0]
    change(fleet.data, [int(changed[1:])], day=2)
    b = fleet.release(1)
    m_b = read_manifest(fleet.store, b)
    assert m_b.shards["s001"].built_in == b
    assert m_b.shards["s000"].built_in == a and m_b.shards["s002"].built_in == a
    fleet.serve_images(b)
    outcome = deploy_release(settings, fleet.store, b, lines.append)
    assert all(r.ok for r in outcome.reports), [r.summary() for r in outcome.reports]
    assert outcome.redeployed == ["s001"]
    after = _task_definitions(alb)
    assert after["kwrec-api"] == tds["kwrec-api"] and after["kwrec-api-s002"] == tds["kwrec-api-s002"]
    assert after["kwrec-api-s001"] != tds["kwrec-api-s001"]
    answers = _answers(url, b, fleet)
    assert {c for c, v in answers.items() if v == b} == set(m_b.shards["s001"].customers)
    assert {v for c, v in answers.items() if c not in m_b.shards["s001"].customers} == {a}
    assert verify_live(settings, fleet.store, lines.append).ok

    # Day 3: s001 and s002 change, and s002's rollout fails: both services go back, B keeps serving.
    more = [int(m_b.shards["s001"].customers[1][1:]), int(m_b.shards["s002"].customers[0][1:])]
    change(fleet.data, more, day=3)
    c = fleet.release(2)
    m_c = read_manifest(fleet.store, c)
    assert m_c.shards["s001"].built_in == c and m_c.shards["s002"].built_in == c
    FAILING.add(str(m_c.shards["s002"].image.digest))  # type: ignore[union-attr]
    try:
        with pytest.raises(DeployError, match=r"s002.*FAILED|FAILED.*s002") as err:
            deploy_release(settings, fleet.store, c, lines.append)
    finally:
        FAILING.clear()
    assert f"{b} keeps serving" in str(err.value)
    assert _task_definitions(alb) == after
    alias, _ = records.read_alias(fleet.store, "ecs")
    assert alias is not None and alias.live == b and alias.lease is None
    report = verify_live(settings, fleet.store, lines.append)
    assert report.ok, report.summary()
    assert _answers(url, b, fleet) == answers


def test_kwrec_verify_names_a_customer_the_listener_misroutes(
    ecs_fleet: tuple[Fleet, Alb, str], ecs_env: None
) -> None:
    fleet, alb, _ = ecs_fleet
    settings = Settings(store=fleet.store_url, cache_dir=fleet.tmp / "cache")
    alias, _ = records.read_alias(fleet.store, "ecs")
    assert alias is not None and alias.live, "runs after the day-by-day test"
    rules = alb.elb.describe_rules(ListenerArn=alb.listener)["Rules"]
    victim = next(
        r
        for r in rules
        if r["Priority"].isdigit()
        and any(c["Field"] == "path-pattern" for c in r["Conditions"])
        and int(r["Priority"]) >= 40_000
    )
    lost = [v.split("/")[2] for v in victim["Conditions"][0]["PathPatternConfig"]["Values"]]
    alb.elb.delete_rule(RuleArn=victim["RuleArn"])
    report = verify_live(settings, fleet.store, lambda _: None)
    assert not report.ok
    failed = " ".join(ch.name for ch in report.checks if not ch.ok)
    assert all(customer in failed for customer in lost), failed
    # The target names the cause, and a deploy of the live release puts the rule back.
    assert any(ch.name == "target" and "rule changes" in ch.detail for ch in report.checks)
    lines: list[str] = []
    deploy_release(settings, fleet.store, str(alias.live), lines.append)
    assert any("putting it back" in line for line in lines), lines
    assert verify_live(settings, fleet.store, lambda _: None).ok


def test_routing_limits_are_refused_before_anything_changes(
    ecs_fleet: tuple[Fleet, Alb, str], ecs_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet, alb, _ = ecs_fleet

    def settings() -> Settings:  # read after each change of the environment
        return Settings(store=fleet.store_url, cache_dir=fleet.tmp / "cache")

    before = _task_definitions(alb)
    rules = alb.elb.describe_rules(ListenerArn=alb.listener)["Rules"]
    a = f"gs_{DAYS[0]}"
    monkeypatch.setenv("KWREC_DEPLOY__NAME", "ecs-quota")
    monkeypatch.setenv("KWREC_DEPLOY__ECS__MAX_LISTENER_RULES", "3")
    with pytest.raises(DeployError, match=r"rules on listener .* limit of 3"):
        deploy_release(settings(), fleet.store, a, lambda _: None)
    monkeypatch.delenv("KWREC_DEPLOY__ECS__MAX_LISTENER_RULES")
    monkeypatch.delenv("KWREC_DEPLOY__ECS__LISTENER_ARN")
    with pytest.raises(DeployError, match="needs an ALB listener"):
        deploy_release(settings(), fleet.store, a, lambda _: None)
    assert _task_definitions(alb) == before
    assert alb.elb.describe_rules(ListenerArn=alb.listener)["Rules"] == rules
