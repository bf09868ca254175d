"""Settings of the image build and push (``KWREC_IMAGE__*``; nested ``__``).

The registry password is a ``SecretStr`` read from the environment only
(``KWREC_IMAGE__REGISTRY__PASSWORD``): it never shows in a repr, a log line, an image or a manifest.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

# Written by scripts/ensure-base-image.sh: the base image the engine really has.
BASE_IMAGE_FILE = Path("var/base-image")
DEFAULT_BASE_IMAGE = "python:3.11-slim"
_REPOSITORY_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_SERVER_RE = re.compile(r"^[A-Za-z0-9.-]+(?::\d{1,5})?$")


def default_base_image() -> str:
    try:
        name = BASE_IMAGE_FILE.read_text().strip()
    except OSError:
        return DEFAULT_BASE_IMAGE
    return name or DEFAULT_BASE_IMAGE


class RegistrySettings(BaseModel):
    model_config = {"extra": "forbid"}

    kind: Literal["v2", "ecr"] = Field(
        "v2",
        description="v2: a Docker Registry v2 (basic auth); ecr: AWS ECR (token from GetAuthorizationToken)",
    )
    url: str | None = Field(
        default=None,
        description="registry host[:port] without scheme, e.g. 127.0.0.1:5000 (ECR: default from the token)",
    )
    username: str | None = Field(None, description="registry user (v2); ECR uses AWS")
    password: SecretStr | None = Field(
        default=None, description="environment only: KWREC_IMAGE__REGISTRY__PASSWORD"
    )
    ecr_registry_id: str | None = Field(
        None, description="AWS account id of the ECR registry (default: the caller's)"
    )
    ecr_region: str = Field("us-east-1", description="AWS region of the ECR registry")
    ecr_endpoint_url: str | None = Field(None, description="only for tests (a moto server)")
    retries: int = Field(
        default=3, ge=0, le=10, description="extra attempts after a transient registry error"
    )
    backoff_seconds: float = Field(default=2.0, ge=0, description="first retry delay, doubled each time")
    timeout_seconds: float = Field(default=30.0, gt=0, description="HTTP timeout of registry API calls")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
        if not _SERVER_RE.fullmatch(v):
            raise ValueError(f"registry url {v!r} must be host[:port], e.g. 127.0.0.1:5000")
        return v


class ImageSettings(BaseModel):
    model_config = {"extra": "forbid"}

    repository: str = Field(
        "keyword-dev", description="image repository, e.g. keyword-dev (tags are the release timestamps)"
    )
    base_image: str = Field(
        default_factory=default_base_image,
        description="base image of the serving image (default: what scripts/ensure-base-image.sh found)",
    )
    moving_tag: str | None = Field(default=None, description="also tag (and push) this, e.g. latest")
    wheel_cache: Path = Field(Path("var/wheels"), description="built wheels kept between image builds")
    project_dir: Path | None = Field(
        default=None, description="kwrec source tree for the wheel (default: this checkout)"
    )
    engine_timeout_seconds: int = Field(
        default=900, ge=10, description="Engine API read timeout (a build can be slow)"
    )
    user_id: int = Field(default=10001, ge=1, description="non-root uid/gid the API runs as")
    registry: RegistrySettings = RegistrySettings()

    @field_validator("repository")
    @classmethod
    def _repository(cls, v: str) -> str:
        if not _REPOSITORY_RE.fullmatch(v):
            raise ValueError(f"image repository {v!r} must be lowercase path components like keyword-dev")
        return v

    @field_validator("moving_tag")
    @classmethod
    def _tag(cls, v: str | None) -> str | None:
        if v is not None and not _TAG_RE.fullmatch(v):
            raise ValueError(f"image tag {v!r} is not a valid tag")
        return v
