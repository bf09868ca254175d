"""Settings of deployment and verification (``KWREC_DEPLOY__*``; nested ``__``).

Registered in the one Settings object as ``Settings.deploy``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from kwrec.errors import ConfigError

TargetKind = Literal["docker", "ecs"]
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def validate_target_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name):
        raise ConfigError(
            f"invalid target name {name!r}", hint="use lowercase letters, digits, '_' and '-' (max 63)"
        )
    return name


class DockerTargetSettings(BaseModel):
    model_config = {"extra": "forbid"}

    proxy_host: str = Field("127.0.0.1", description="where clients reach the API (the nginx listener)")
    proxy_port: int = Field(8000, ge=1, le=65535, description="port of the nginx listener clients call")
    container_prefix: str = Field(
        "kwrec",
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,40}$",
        description="serving containers are named <prefix>-<target>-<version>-<shard>",
    )
    container_port: int = Field(8000, ge=1, le=65535, description="the API port inside the image")
    readiness_timeout_seconds: float = Field(
        180.0, gt=0, description="a new container must answer /readyz within this"
    )
    stop_timeout_seconds: int = Field(10, ge=0, description="SIGTERM grace before SIGKILL")
    drain_seconds: float = Field(
        2.0, ge=0, description="after the switch, time for in-flight requests on the old container"
    )
    state_dir: Path = Field(Path("var/deploy"), description="nginx config, pid file and logs")
    socket_dir: Path = Field(
        default_factory=lambda: Path("/run/kwrec") if os.geteuid() == 0 else Path("var/deploy/sockets"),
        description="the API's unix sockets, which nginx connects to (every directory on the path must be "
        "traversable by nginx's worker user); unreachable: the proxy uses loopback ports and reloads",
    )
    nginx: Path = Field(Path("/usr/sbin/nginx"), description="the nginx binary of the proxy")
    restart_policy: Literal["always", "unless-stopped", "on-failure"] = Field(
        "unless-stopped", description="Docker restart policy of serving containers"
    )

    @field_validator("proxy_host")
    @classmethod
    def _loopback(cls, v: str) -> str:
        # The proxy and the containers are reached over loopback only; exposing them is a deliberate
        # choice made in front of this host (a load balancer), not here.
        if not (v.startswith("127.") or v == "localhost"):
            raise ValueError(f"proxy_host {v!r} must be a loopback address such as 127.0.0.1")
        return v


class EcsTargetSettings(BaseModel):
    model_config = {"extra": "forbid"}

    cluster: str | None = Field(None, description="ECS cluster of the services")
    service: str | None = Field(
        None, description="ECS service of a one-shard release (more shards: <service>-<shard>)"
    )
    region: str = Field("us-east-1", description="AWS region of the ECS cluster")
    endpoint_url: str | None = Field(None, description="only for tests (a moto server)")
    service_url: str | None = Field(None, description="where the service answers, e.g. its load balancer")
    container_name: str | None = Field(None, description="container to re-pin (default: the first one)")
    timeout_seconds: float = Field(900.0, gt=0, description="rollout must finish within this")
    poll_seconds: float = Field(5.0, gt=0, description="how often a rollout's state is read")
    listener_arn: str | None = Field(
        None, description="ALB listener that routes customers to shard services (needed for 2+ shards)"
    )
    max_listener_rules: int = Field(
        100, ge=1, le=10_000, description="the ALB's 'Rules per Application Load Balancer' quota"
    )
    rule_priority_base: int = Field(
        40_000, ge=1, le=40_000, description="kwrec owns listener rules from here to +9999"
    )


class DeploySettings(BaseModel):
    model_config = {"extra": "forbid"}

    target: TargetKind = Field(
        "docker", description="docker: one Docker host behind nginx; ecs: AWS ECS services behind an ALB"
    )
    name: str | None = Field(None, description="name of the target's alias record (default: the kind)")
    verify_budget_ms: float = Field(200.0, gt=0, description="latency budget of each verified answer")
    lease_seconds: float = Field(
        3600.0, gt=0, description="a deploy lease older than this is taken over (its process died)"
    )
    docker: DockerTargetSettings = DockerTargetSettings()
    ecs: EcsTargetSettings = EcsTargetSettings()

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not _NAME_RE.fullmatch(v):
            raise ValueError(f"target name {v!r}: lowercase letters, digits, '_' and '-'")
        return v

    def target_name(self) -> str:
        return self.name or self.target
