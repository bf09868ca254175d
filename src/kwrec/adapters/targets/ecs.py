"""The ``ecs`` target (boto3): a new task-definition revision pinned by digest, then a service update.

ECS resolves a tag to a digest only when a deployment starts, so a re-pushed tag never redeploys:
the image is always ``repo@sha256:...``. Success is the new deployment's own ``rolloutState``
(COMPLETED / FAILED), polled with our own timeout; ``services_stable`` can pass after the circuit
breaker rolled the deployment back, and gives up after 10 minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import boto3
import botocore.exceptions

from kwrec.adapters.targets import Prepared
from kwrec.core.manifest import Manifest, release_shards
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
_AWS_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


def _aws_message(exc: Exception) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', '?')}: {err.get('Message', '')}"
    return type(exc).__name__


class EcsTarget:
    kind = "ecs"

    def __init__(self, cfg: EcsTargetSettings, target: str, report: Report) -> None:
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
        self.ecs: Any = boto3.client("ecs", region_name=cfg.region, endpoint_url=cfg.endpoint_url)

    @property
    def public_url(self) -> str:
        return str(self.cfg.service_url).rstrip("/")

    def _call(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except _AWS_ERRORS as exc:
            raise TargetError(f"ECS {what} failed: {_aws_message(exc)}") from None

    def _service(self) -> dict[str, Any]:
        found = self._call(
            "describe_services", self.ecs.describe_services, cluster=self.cluster, services=[self.service]
        )
        services = [s for s in found.get("services", []) if s.get("status") != "INACTIVE"]
        if not services:
            raise TargetError(f"ECS service {self.service} not found in cluster {self.cluster}")
        return dict(services[0])

    def current_task_definition(self) -> str:
        return str(self._service()["taskDefinition"])

    def register(self, image: str, base_arn: str) -> str:
        """A new revision of ``base_arn``'s family whose container runs ``image``; returns its ARN."""
        td = self._call(
            "describe_task_definition", self.ecs.describe_task_definition, taskDefinition=base_arn
        )["taskDefinition"]
        spec = {k: v for k, v in td.items() if k not in _READ_ONLY}
        containers = spec["containerDefinitions"]
        wanted = self.cfg.container_name or containers[0]["name"]
        if not any(c["name"] == wanted for c in containers):
            raise ConfigError(
                f"task definition {base_arn} has no container {wanted!r}",
                hint=f"containers: {', '.join(c['name'] for c in containers)}",
            )
        spec["containerDefinitions"] = [
            {**c, "image": image} if c["name"] == wanted else c for c in containers
        ]
        arn = self._call("register_task_definition", self.ecs.register_task_definition, **spec)
        return str(arn["taskDefinition"]["taskDefinitionArn"])

    def prepare(self, manifest: Manifest) -> Prepared:
        image = next(iter(release_shards(manifest).values())).image
        if image is None or not image.digest or not image.reference:
            raise DeployError(
                f"release {manifest.version} has no pushed image digest: ECS needs repo@sha256:...",
                hint=f"run `kwrec push --version {manifest.version}` (to ECR) first",
            )
        previous = self.current_task_definition()
        arn = self.register(image.reference, previous)
        self.report(f"registered {arn} with image {image.reference}")
        prepared = Prepared(
            manifest.version,
            self.public_url,
            {
                "task_definition": arn,
                "previous_task_definition": previous,
                "image": image.reference,
                "digest": image.digest,
                "service": self.service,
                "cluster": self.cluster,
            },
        )
        self._call(
            "update_service",
            self.ecs.update_service,
            cluster=self.cluster,
            service=self.service,
            taskDefinition=arn,
        )
        prepared.switched = True
        try:
            prepared.details["deployment"] = self.wait_rollout(arn)
        except DeployError:
            self.restore(prepared, {})  # the service must not stay on a release that failed its rollout
            raise
        return prepared

    def wait_rollout(self, arn: str) -> str:
        """Follow the deployment of ``arn`` until COMPLETED (returns its id) or FAILED / timeout (raises)."""
        deadline = time.monotonic() + self.cfg.timeout_seconds
        state, reason, dep_id = "not started", "", "?"
        while True:
            deployments = self._service().get("deployments", [])
            mine = [d for d in deployments if d.get("taskDefinition") == arn]
            if mine:
                dep = mine[0]
                dep_id = str(dep.get("id"))
                state = str(dep.get("rolloutState") or "IN_PROGRESS")
                reason = str(dep.get("rolloutStateReason") or "")
                if state == "COMPLETED":
                    self.report(f"ECS deployment {dep_id} completed")
                    return dep_id
                if state == "FAILED":
                    raise DeployError(f"ECS deployment {dep_id} of {arn} FAILED: {reason}")
            if time.monotonic() >= deadline:
                raise DeployError(
                    f"ECS deployment of {arn} not completed within {self.cfg.timeout_seconds:.0f}s "
                    f"(state {state}{': ' + reason if reason else ''})"
                )
            time.sleep(self.cfg.poll_seconds)

    def promote(self, prepared: Prepared) -> None:
        return None  # the service update already moved traffic once the rollout completed

    def restore(self, prepared: Prepared, previous: dict[str, Any]) -> None:
        back = prepared.details.get("previous_task_definition")
        if not (prepared.switched and back):
            return
        self.report(f"updating {self.service} back to {back}")
        self._call(
            "update_service",
            self.ecs.update_service,
            cluster=self.cluster,
            service=self.service,
            taskDefinition=back,
        )
        try:
            self.wait_rollout(str(back))
        except DeployError as exc:
            raise TargetError(
                f"rolling {self.service} back to {back} did not complete: {exc.message}"
            ) from None

    def discard(self, prepared: Prepared) -> None:
        return None

    def retire(self, previous: dict[str, Any], current: dict[str, Any], keep_version: str | None) -> None:
        return None  # ECS stops the old tasks itself once the new deployment completed

    def live_problem(self, live: dict[str, Any]) -> str | None:
        """ECS replaces failed tasks itself; a service on another task definition is what kwrec can see."""
        recorded, current = live.get("task_definition"), self.current_task_definition()
        if recorded and current != recorded:
            return f"service {self.service} runs {current}, the records say {recorded}"
        return None

    def reconcile(self, live: dict[str, Any], keep: set[str]) -> list[str]:
        """After a deploy died half-way: the service back on the recorded live task definition."""
        recorded = live.get("task_definition")
        current = self.current_task_definition()
        if not recorded or current == recorded:
            return []
        self.report(f"updating {self.service} back from {current} to the live {recorded}")
        self._call(
            "update_service",
            self.ecs.update_service,
            cluster=self.cluster,
            service=self.service,
            taskDefinition=recorded,
        )
        self.wait_rollout(str(recorded))
        return [f"service {self.service} updated back from {current} to {recorded}"]

    def prune(self, keep: set[str]) -> list[str]:
        return []
