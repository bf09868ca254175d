"""Release manifests in the store: what a version contains, and opening a version for serving.

Store layout (keys):
  artifacts/<customer>/<checksum>/...        content-addressed model files (checksum = sha256 of meta.json)
  artifacts/<customer>/by-input/<input key>  -> the checksum trained from those exact inputs and parameters
  releases/<version>/manifest.json           the release manifest
  releases/<version>/quarantine/<customer>.jsonl
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from kwrec.errors import ArtifactError, ReleaseNotFoundError, StoreError
from kwrec.ids import VERSION_RE, validate_customer, validate_version
from kwrec.models.customer_model import CustomerModel
from kwrec.stores import ArtifactStore

MANIFEST = "manifest.json"
MANIFEST_CAS_ATTEMPTS = 20


class CustomerEntry(BaseModel):
    status: Literal["trained", "reused"]
    input_fingerprint: str
    artifact: str
    artifact_key: str
    trained_in: str
    params: dict[str, Any]
    stats: dict[str, Any]
    ingest: dict[str, Any] = Field(default_factory=dict)
    evaluation: dict[str, Any] | None = None


class Manifest(BaseModel):
    version: str
    model_name: str
    timestamp: str
    created: str
    code_version: str
    customers: dict[str, CustomerEntry]
    failed: dict[str, str] = Field(default_factory=dict)
    problems: list[str] = Field(default_factory=list)
    image: dict[str, Any] | None = None
    deployments: list[dict[str, Any]] = Field(default_factory=list)

    def to_bytes(self) -> bytes:
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False, indent=1, sort_keys=True).encode()


def manifest_key(version: str) -> str:
    return f"releases/{validate_version(version)}/{MANIFEST}"


def artifact_key(customer: str, checksum: str) -> str:
    return f"artifacts/{validate_customer(customer)}/{checksum}"


def read_manifest(store: ArtifactStore, version: str) -> Manifest:
    key = manifest_key(version)
    if not store.exists(key):
        raise ReleaseNotFoundError(
            f"release {version} not found in {store.url}", hint="`kwrec releases` lists the stored versions"
        )
    try:
        return Manifest.model_validate_json(store.read_bytes(key))
    except ValueError as exc:
        raise ArtifactError(f"release manifest {key} in {store.url} is unreadable: {exc}") from None


def write_manifest(store: ArtifactStore, manifest: Manifest) -> None:
    store.write_bytes(manifest_key(manifest.version), manifest.to_bytes())


def update_manifest(store: ArtifactStore, version: str, change: Callable[[Manifest], None]) -> Manifest:
    """Read-modify-write of a release manifest through compare_and_swap.

    Build, push and deploy record into the same manifest, possibly at the same time (a push retried while
    a deploy records its history): a plain write would lose one of the two updates.
    """
    key = manifest_key(version)
    read_manifest(store, version)  # a clear error when the release does not exist
    for _ in range(MANIFEST_CAS_ATTEMPTS):
        raw = store.read_bytes(key)
        manifest = Manifest.model_validate_json(raw)
        change(manifest)
        if store.compare_and_swap(key, raw, manifest.to_bytes()):
            return manifest
    raise StoreError(f"release {version}: its manifest kept changing while being updated", hint="try again")


def list_versions(store: ArtifactStore) -> list[str]:
    """Stored release versions that have a manifest, oldest first (by timestamp, then name)."""
    versions = [
        v for v in store.list_dirs("releases") if VERSION_RE.fullmatch(v) and store.exists(manifest_key(v))
    ]
    return sorted(versions, key=lambda v: (v.rsplit("_", 1)[1], v))


def latest_version(store: ArtifactStore) -> str:
    versions = list_versions(store)
    if not versions:
        raise ReleaseNotFoundError(f"no release in {store.url}", hint="run `kwrec train` first")
    return versions[-1]


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass
class OpenedRelease:
    """A release ready to answer: every customer's model verified and opened."""

    manifest: Manifest
    models: dict[str, CustomerModel]

    @property
    def version(self) -> str:
        return self.manifest.version


def open_release(store: ArtifactStore, version: str | None, cache_dir: Path) -> OpenedRelease:
    """Open (and verify against the manifest's checksums) every customer of a release."""
    manifest = read_manifest(store, version or latest_version(store))
    models: dict[str, CustomerModel] = {}
    for customer, entry in sorted(manifest.customers.items()):
        try:
            local = store.fetch_dir(entry.artifact_key, cache_dir)
        except StoreError as exc:
            raise ArtifactError(
                f"release {manifest.version}: artifact of {customer} unavailable: {exc}"
            ) from None
        models[customer] = CustomerModel.open(local, expected_checksum=entry.artifact)
    return OpenedRelease(manifest, models)
