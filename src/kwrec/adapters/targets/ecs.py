"""The ``ecs`` target (boto3): per shard, a task-definition revision pinned by digest, a service update.

ECS resolves a tag to a digest only when a deployment starts, so a re-pushed tag never redeploys:
the image is always ``repo@sha256:...``. Success is the new deployment's own ``rolloutState``
(COMPLETED / FAILED), polled with our own timeout; ``services_stable`` can pass after the circuit
breaker rolled the deployment back, and gives up after 10 minutes.

A sharded release is one service per shard: s000 is the configured service, sNNN is
``<service>-sNNN`` (created on first use as a copy of s000's, with its own target group). Only the
shards whose image changed get a new revision; all of them roll out at once, and when any fails, all
are updated back. An ALB listener routes each customer to its shard (:mod:`.alb_rules`), updated after
the rollouts completed. See docs/ecs.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions

from kwrec.adapters import targets
from kwrec.adapters.targets import NO_RULES, Prepared, RulesWiring
from kwrec.adapters.targets.alb_rules import SHARD_HEADER, RulePlan, check_quota, parse_rules, plan_rules
from kwrec.core.manifest import WHOLE_RELEASE, Manifest, ShardRecord, release_shards
from kwrec.errors import ConfigError, DeployError, TargetError
from kwrec.reporting import Report
from kwrec.settings.deploy import EcsTargetSettings

# describe_task_definition returns these read-only fields; register_task_definition refuses them.
_READ_ONLY = {
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
}
# What a new shard's service copies from s000's service.
_SERVICE_FIELDS = (
    "launchType",
    "capacityProviderStrategy",
    "platformVersion",
    "networkConfiguration",
    "desiredCount",
    "deploymentConfiguration",
    "healthCheckGracePeriodSeconds",
    "propagateTags",
    "enableECSManagedTags",
)
# What a new shard's target group copies from s000's.
_GROUP_FIELDS = (
    "Protocol",
    "Port",
    "VpcId",
    "TargetType",
    "HealthCheckProtocol",
    "HealthCheckPath",
    "HealthCheckIntervalSeconds",
    "HealthCheckTimeoutSeconds",
    "HealthyThresholdCount",
    "UnhealthyThresholdCount",
    "Matcher",
)
_AWS_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
# Flat details of a deployment from before shards.
_LEGACY = ("service", "task_definition", "previous_task_definition", "image", "digest", "deployment")


def _aws_message(exc: Exception) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', '?')}: {err.get('Message', '')}"
    return type(exc).__name__


def shards_of(details: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return targets.shards_of(details, _LEGACY)


def _assignment(shards: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {str(c): s for s, d in shards.items() for c in d.get("customers") or []}


def _groups_of(details: dict[str, Any]) -> dict[str, str]:
    return {s: str(d["target_group"]) for s, d in shards_of(details).items() if d.get("target_group")}


@dataclass
class Routing:
    """What a listener routes: customer -> shard (beyond the default shard), and the shards it reaches."""

    assignment: dict[str, str]
    shards: list[str]


class EcsTarget:
    kind = "ecs"
    # the listener's header rules reach one shard's /version and /readyz
    shard_header: str | None = SHARD_HEADER

    def __init__(
        self, cfg: EcsTargetSettings, target: str, report: Report, rules: RulesWiring = NO_RULES
    ) -> None:
        if not (cfg.cluster and cfg.service and cfg.service_url):
            raise ConfigError(
                "the ecs target needs a cluster, a service and a service URL",
                hint="set KWREC_DEPLOY__ECS__CLUSTER, __SERVICE and __SERVICE_URL",
            )
        self.cfg = cfg
        self.cluster: str = cfg.cluster
        self.service: str = cfg.service
        self.target = target
        self.report = report
        self.rules = rules
        self.ecs: Any = boto3.client("ecs", region_name=cfg.region, endpoint_url=cfg.endpoint_url)
        self.elb: Any = boto3.client("elbv2", region_name=cfg.region, endpoint_url=cfg.endpoint_url)
        self._before: Routing | None = None  # what the listener routed before this deploy changed it

    @property
    def public_url(self) -> str:
        return str(self.cfg.service_url).rstrip("/")

    def service_name(self, shard: str) -> str:
        return self.service if shard == WHOLE_RELEASE else f"{self.service}-{shard}"

    def _call(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except _AWS_ERRORS as exc:
            raise TargetError(f"ECS {what} failed: {_aws_message(exc)}") from None

    # --- services and task definitions -------------------------------------------------------

    def _services(self, names: Iterable[str]) -> dict[str, dict[str, Any]]:
        """name -> service, for those of ``names`` that exist (describe_services takes ten at a time)."""
        wanted, found = list(dict.fromkeys(names)), {}
        for i in range(0, len(wanted), 10):
            out = self._call(
                "describe_services",
                self.ecs.describe_services,
                cluster=self.cluster,
                services=wanted[i : i + 10],
            )
            for s in out.get("services", []):
                if s.get("status") != "INACTIVE":
                    found[str(s["serviceName"])] = dict(s)
        return found

    def _service(self, name: str) -> dict[str, Any]:
        found = self._services([name]).get(name)
        if found is None:
            raise TargetError(f"ECS service {name} not found in cluster {self.cluster}")
        return found

    def current_task_definition(self, shard: str = WHOLE_RELEASE) -> str:
        return str(self._service(self.service_name(shard))["taskDefinition"])

    def _task_definition(self, arn: str) -> dict[str, Any]:
        return dict(
            self._call("describe_task_definition", self.ecs.describe_task_definition, taskDefinition=arn)[
                "taskDefinition"
            ]
        )

    def _container(self, td: dict[str, Any], arn: str) -> str:
        names = [c["name"] for c in td["containerDefinitions"]]
        wanted = self.cfg.container_name or names[0]
        if wanted not in names:
            raise ConfigError(
                f"task definition {arn} has no container {wanted!r}", hint=f"containers: {', '.join(names)}"
            )
        return wanted

    def image_of(self, arn: str) -> str:
        td = self._task_definition(arn)
        wanted = self._container(td, arn)
        return str(next(c["image"] for c in td["containerDefinitions"] if c["name"] == wanted))

    def register(self, image: str, base_arn: str) -> str:
        """A new revision of ``base_arn``'s family whose container runs ``image``; returns its ARN."""
        td = self._task_definition(base_arn)
        spec = {k: v for k, v in td.items() if k not in _READ_ONLY}
        wanted = self._container(td, base_arn)
        spec["containerDefinitions"] = [
            {**c, "image": image, "environment": self._environment(c)} if c["name"] == wanted else c
            for c in spec["containerDefinitions"]
        ]
        arn = self._call("register_task_definition", self.ecs.register_task_definition, **spec)
        return str(arn["taskDefinition"]["taskDefinitionArn"])

    def _environment(self, container: dict[str, Any]) -> list[dict[str, str]]:
        """The container's environment with the live-rules variables set (the task role reads S3)."""
        env = {e["name"]: e["value"] for e in container.get("environment") or []}
        env.update(self.rules.env)
        return [{"name": k, "value": v} for k, v in sorted(env.items())]

    def _update(self, service: str, arn: str) -> None:
        self._call(
            "update_service",
            self.ecs.update_service,
            cluster=self.cluster,
            service=service,
            taskDefinition=arn,
        )

    def _create_service(self, name: str, arn: str, like: dict[str, Any], group: str | None) -> None:
        spec = {k: like[k] for k in _SERVICE_FIELDS if like.get(k) not in (None, [], {})}
        if "capacityProviderStrategy" in spec:
            spec.pop("launchType", None)  # ECS takes one or the other
        if group is not None:
            lb = dict(like["loadBalancers"][0])
            lb.pop("loadBalancerName", None)
            spec["loadBalancers"] = [{**lb, "targetGroupArn": group}]
        self._call(
            "create_service",
            self.ecs.create_service,
            cluster=self.cluster,
            serviceName=name,
            taskDefinition=arn,
            **spec,
        )

    def _delete_service(self, name: str) -> None:
        self._call("delete_service", self.ecs.delete_service, cluster=self.cluster, service=name, force=True)

    def wait_rollout(self, service: str, arn: str) -> str:
        """Follow the deployment of ``arn`` until COMPLETED (returns its id) or FAILED / timeout (raises)."""
        deadline = time.monotonic() + self.cfg.timeout_seconds
        state, reason, dep_id = "not started", "", "?"
        while True:
            deployments = self._service(service).get("deployments", [])
            mine = [d for d in deployments if d.get("taskDefinition") == arn]
            if mine:
                dep = mine[0]
                dep_id = str(dep.get("id"))
                state = str(dep.get("rolloutState") or "IN_PROGRESS")
                reason = str(dep.get("rolloutStateReason") or "")
                if state == "COMPLETED":
                    self.report(f"ECS deployment {dep_id} of {service} completed")
                    return dep_id
                if state == "FAILED":
                    raise DeployError(f"ECS deployment {dep_id} of {arn} ({service}) FAILED: {reason}")
            if time.monotonic() >= deadline:
                raise DeployError(
                    f"ECS deployment of {arn} ({service}) not completed within "
                    f"{self.cfg.timeout_seconds:.0f}s (state {state}{': ' + reason if reason else ''})"
                )
            time.sleep(self.cfg.poll_seconds)

    # --- routing ------------------------------------------------------------------------------

    def _listener(self) -> str:
        if not self.cfg.listener_arn:
            raise ConfigError(
                "a release with more than one shard needs an ALB listener to route customers to shards",
                hint="set KWREC_DEPLOY__ECS__LISTENER_ARN (its default action forwards to the "
                f"target group of {self.service}), or [release] shards = 1; see docs/ecs.md",
            )
        return self.cfg.listener_arn

    def _rules(self, listener: str) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"ListenerArn": listener}
        while True:
            page = self._call("describe_rules", self.elb.describe_rules, **kwargs)
            rules += page.get("Rules", [])
            if not page.get("NextMarker"):
                return rules
            kwargs["Marker"] = page["NextMarker"]

    def _group_of(self, service: dict[str, Any] | None) -> str | None:
        lbs = (service or {}).get("loadBalancers") or []
        return str(lbs[0]["targetGroupArn"]) if lbs and lbs[0].get("targetGroupArn") else None

    def _group_name(self, shard: str, default_group: str) -> str:
        base = self._call(
            "describe_target_groups", self.elb.describe_target_groups, TargetGroupArns=[default_group]
        )["TargetGroups"][0]
        return f"{str(base['TargetGroupName'])[:27]}-{shard}"  # target group names: 32 characters

    def _find_group(self, name: str) -> str | None:
        try:
            found = self.elb.describe_target_groups(Names=[name])["TargetGroups"]
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TargetGroupNotFound":
                return None
            raise TargetError(f"ELB describe_target_groups failed: {_aws_message(exc)}") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise TargetError(f"ELB describe_target_groups failed: {_aws_message(exc)}") from None
        return str(found[0]["TargetGroupArn"]) if found else None

    def _create_group(self, name: str, default_group: str) -> str:
        base = self._call(
            "describe_target_groups", self.elb.describe_target_groups, TargetGroupArns=[default_group]
        )["TargetGroups"][0]
        spec = {k: base[k] for k in _GROUP_FIELDS if base.get(k) is not None}
        created = self._call("create_target_group", self.elb.create_target_group, Name=name, **spec)
        arn = str(created["TargetGroups"][0]["TargetGroupArn"])
        self.report(f"created target group {name} for a new shard")
        return arn

    def _plan(
        self, listener: str, groups: dict[str, str], assignment: dict[str, str], shards: Iterable[str]
    ) -> tuple[RulePlan, Routing]:
        """The rules for ``assignment``, refused when the listener cannot hold them; and the routing
        the listener has now (to go back to)."""
        raw = self._rules(listener)
        base = self.cfg.rule_priority_base
        mine = parse_rules(raw, {g: s for s, g in groups.items()}, base)
        others = sum(1 for r in raw if not r.get("IsDefault")) - len(mine)
        plan = plan_rules(mine, assignment, shards, WHOLE_RELEASE, base)
        check_quota(plan, others, self.cfg.max_listener_rules, listener)
        now = Routing(
            {c: r.shard for r in mine if r.shard for c in r.customers},
            [r.shard for r in mine if r.is_header and r.shard],
        )
        return plan, now

    def _apply(self, listener: str, plan: RulePlan, groups: dict[str, str], *, headers: bool) -> int:
        """Make the plan's header rules (``headers``) or its customer rules and deletions true."""
        changes = 0
        for rule in plan.create + plan.modify:
            if rule.is_header != headers:
                continue
            actions = [{"Type": "forward", "TargetGroupArn": groups[rule.shard]}]
            if rule.arn is None:
                self._call(
                    "create_rule",
                    self.elb.create_rule,
                    ListenerArn=listener,
                    Priority=rule.priority,
                    Conditions=rule.conditions(),
                    Actions=actions,
                )
            else:
                self._call(
                    "modify_rule",
                    self.elb.modify_rule,
                    RuleArn=rule.arn,
                    Conditions=rule.conditions(),
                    Actions=actions,
                )
            changes += 1
        if not headers:
            for rule in plan.delete:  # after every create: nobody falls through meanwhile
                self._call("delete_rule", self.elb.delete_rule, RuleArn=rule.arn)
                changes += 1
        return changes

    def _route(self, listener: str, groups: dict[str, str], routing: Routing) -> int:
        """The listener routes as ``routing`` says, changing only what differs; returns the changes."""
        shards = [s for s in routing.shards if s in groups]
        plan, _ = self._plan(listener, groups, routing.assignment, shards)
        return self._apply(listener, plan, groups, headers=True) + self._apply(
            listener, plan, groups, headers=False
        )

    def _route_as(self, details: dict[str, Any]) -> int:
        """The listener routes as a deployment's ``details`` record."""
        listener = details.get("listener_arn")
        if not listener:
            return 0
        groups = _groups_of(details)
        return self._route(listener, groups, Routing(_assignment(shards_of(details)), list(groups)))

    # --- the Target protocol ------------------------------------------------------------------

    def prepare(self, manifest: Manifest) -> Prepared:
        shards = release_shards(manifest)
        for shard, rec in shards.items():
            if rec.image is None or not rec.image.digest or not rec.image.reference:
                raise DeployError(
                    f"release {manifest.version} has no pushed image digest for shard {shard}: "
                    "ECS needs repo@sha256:...",
                    hint=f"run `kwrec push --version {manifest.version}` (to ECR) first",
                )
        services = self._services(self.service_name(s) for s in shards)
        default = services.get(self.service)
        if default is None:
            raise TargetError(f"ECS service {self.service} not found in cluster {self.cluster}")
        details: dict[str, Any] = {"release": manifest.version, "cluster": self.cluster, "shards": {}}
        prepared = Prepared(manifest.version, self.public_url, details)
        # With a listener configured kwrec always owns its rules: a release back to one shard clears them.
        routed = len(shards) > 1 or bool(self.cfg.listener_arn)
        groups: dict[str, str] = {}
        missing: list[tuple[str, str]] = []
        plan: RulePlan | None = None
        if routed:
            listener = details["listener_arn"] = self._listener()
            groups, missing = self._groups(shards, services, default)
            assignment = {c: s for s, r in shards.items() for c in r.customers}
            plan, self._before = self._plan(listener, groups, assignment, shards)
        try:
            for shard, name in missing:
                groups[shard] = self._create_group(name, groups[WHOLE_RELEASE])
            if plan is not None:
                # Header rules first: they also join a new target group to the load balancer, which
                # ECS requires before a service can use it. Only verify sends that header.
                self._apply(details["listener_arn"], plan, groups, headers=True)
            for shard, rec in shards.items():
                details["shards"][shard] = self._start(
                    shard, rec, services.get(self.service_name(shard)), default, groups.get(shard)
                )
                if details["shards"][shard].get("started"):
                    prepared.switched = True
                    prepared.redeployed.append(shard)
            for shard in prepared.redeployed:
                entry = details["shards"][shard]
                entry["deployment"] = self.wait_rollout(entry["service"], entry["task_definition"])
            if plan is not None:
                details["rules"] = len(plan.desired)
                if not plan.empty:
                    details["routed"] = True  # before the first change: undo must see a half-done one
                    self._apply(details["listener_arn"], plan, groups, headers=False)
                    self.report(f"listener: {len(plan.desired)} rules route {len(shards)} shards")
        except BaseException:
            self._undo(prepared)  # no service may stay on a release that failed its rollout
            raise
        return prepared

    def _groups(
        self, shards: dict[str, ShardRecord], services: dict[str, dict[str, Any]], default: dict[str, Any]
    ) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """shard -> target group for the shards that have one; (shard, name) of those still to create."""
        default_group = self._group_of(default)
        if default_group is None:
            raise ConfigError(
                f"service {self.service} is not behind a load balancer: a sharded release cannot be routed",
                hint="put the service behind the ALB whose listener is KWREC_DEPLOY__ECS__LISTENER_ARN",
            )
        groups, missing = {WHOLE_RELEASE: default_group}, []
        for shard in shards:
            if shard == WHOLE_RELEASE:
                continue
            group = self._group_of(services.get(self.service_name(shard)))
            if group is None:
                name = self._group_name(shard, default_group)
                group = self._find_group(name)
                if group is None:
                    missing.append((shard, name))
                    continue
            groups[shard] = group
        return groups, missing

    def _start(
        self,
        shard: str,
        rec: ShardRecord,
        service: dict[str, Any] | None,
        default: dict[str, Any],
        group: str | None,
    ) -> dict[str, Any]:
        """Shard ``shard`` on its image: untouched when its service runs it already."""
        assert rec.image is not None and rec.image.reference  # checked by prepare
        name, ref = self.service_name(shard), rec.image.reference
        entry: dict[str, Any] = {
            "service": name,
            "image": ref,
            "digest": rec.image.digest,
            "version": rec.built_in,
            "customers": list(rec.customers),
        }
        if group is not None:
            entry["target_group"] = group
        if service is not None:
            current = str(service["taskDefinition"])
            if self.image_of(current) == ref:
                return {**entry, "task_definition": current, "previous_task_definition": current}
            arn = self.register(ref, current)
            self.report(f"registered {arn} with image {ref}")
            entry.update(task_definition=arn, previous_task_definition=current, started=True)
            self._update(name, arn)
            return entry
        arn = self.register(ref, str(default["taskDefinition"]))
        self.report(f"creating service {name} for shard {shard} with {arn}")
        entry.update(task_definition=arn, previous_task_definition=None, started=True, created=True)
        self._create_service(name, arn, default, group)
        return entry

    def _undo(self, prepared: Prepared) -> None:
        """Every shard this deploy touched back where it was; the listener back to what it routed."""
        details = prepared.details
        problems, waits = [], []
        for shard, entry in shards_of(details).items():
            if not entry.get("started"):
                continue
            name, back = entry["service"], entry.get("previous_task_definition")
            try:
                if entry.get("created"):
                    self.report(f"deleting the new service {name}")
                    self._delete_service(name)
                elif back:
                    self.report(f"updating {name} back to {back}")
                    self._update(name, back)
                    waits.append((name, str(back)))
            except TargetError as exc:
                problems.append(f"{shard}: {exc.message}")
        if details.get("routed") and self._before is not None:
            try:
                self._route(details["listener_arn"], _groups_of(details), self._before)
            except TargetError as exc:
                problems.append(f"listener rules: {exc.message}")
        for name, back in waits:
            try:
                self.wait_rollout(name, back)
            except DeployError as exc:
                problems.append(f"rolling {name} back to {back} did not complete: {exc.message}")
        if problems:
            raise TargetError("; ".join(problems))

    def promote(self, prepared: Prepared) -> None:
        return None  # the service updates already moved traffic once their rollouts completed

    def restore(self, prepared: Prepared, previous: dict[str, Any]) -> None:
        if prepared.switched or prepared.details.get("routed"):
            self._undo(prepared)

    def discard(self, prepared: Prepared) -> None:
        return None

    def retire(self, previous: dict[str, Any], current: dict[str, Any], keep_version: str | None) -> None:
        return None  # ECS stops the old tasks itself once the new deployment completed

    def live_problem(self, live: dict[str, Any]) -> str | None:
        """ECS replaces failed tasks itself; a service on another task definition is what kwrec can see."""
        shards = shards_of(live)
        services = self._services(d.get("service") or self.service_name(s) for s, d in shards.items())
        problems = []
        for shard, entry in shards.items():
            name = entry.get("service") or self.service_name(shard)
            recorded, service = entry.get("task_definition"), services.get(name)
            if service is None:
                problems.append(f"service {name} (shard {shard}) is gone")
            elif recorded and service["taskDefinition"] != recorded:
                runs = service["taskDefinition"]
                problems.append(f"service {name} runs {runs}, the records say {recorded}")
        listener, groups = live.get("listener_arn"), _groups_of(live)
        if listener and groups:
            plan, _ = self._plan(listener, groups, _assignment(shards), list(groups))
            if not plan.empty:
                n = len(plan.create) + len(plan.modify) + len(plan.delete)
                problems.append(f"listener {listener} needs {n} rule changes to route the release")
        return "; ".join(problems) or None

    def reconcile(self, live: dict[str, Any], keep: set[str]) -> list[str]:
        """After a deploy died half-way: every shard's service back on its recorded task definition,
        the listener back to the recorded routing."""
        changes, waits = [], []
        shards = shards_of(live)
        services = self._services(d.get("service") or self.service_name(s) for s, d in shards.items())
        for shard, entry in shards.items():
            name, recorded = entry.get("service") or self.service_name(shard), entry.get("task_definition")
            current = (services.get(name) or {}).get("taskDefinition")
            if not recorded or current is None or current == recorded:
                continue
            self.report(f"updating {name} back from {current} to the live {recorded}")
            self._update(name, str(recorded))
            waits.append((name, str(recorded)))
            changes.append(f"service {name} updated back from {current} to {recorded}")
        if self._route_as(live):
            changes.append("listener rules put back to the live release's routing")
        for name, recorded in waits:
            self.wait_rollout(name, recorded)
        return changes

    def prune(self, keep: set[str]) -> list[str]:
        return []
