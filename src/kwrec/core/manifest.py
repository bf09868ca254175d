"""Release manifests in the store: what a version contains, and opening a version for serving.

Where they live is :mod:`kwrec.core.store_layout`. A manifest's ``image`` record (build and pushes) and
its ``deployments`` history are typed; they keep exactly the keys that were written (unset optional
fields are not serialised), so a manifest written before they were typed reads and writes back unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kwrec.core.models.customer_model import CustomerModel
from kwrec.core.store import ArtifactStore, update_record
from kwrec.core.store_layout import RELEASES, manifest_key
from kwrec.errors import ArtifactError, ReleaseNotFoundError, StoreError
from kwrec.ids import VERSION_RE

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
    # the quality gate's numbers, computed by the training task against the then live model; absent
    # when unset, so a release written before reads back byte for byte
    gate: dict[str, Any] | None = Field(default=None, exclude_if=lambda v: v is None)


class _Record(BaseModel):
    """A record inside a manifest: serialised with only the keys that were set, unknown keys kept."""

    model_config = ConfigDict(extra="allow")

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


class PushRecord(_Record):
    """One push of the release image to one registry."""

    registry: str
    kind: str | None = None
    reference: str
    tags: list[str] = Field(default_factory=list)
    digest: str
    pushed: str | None = None


class ImageRecord(_Record):
    """The release image as built (``id``, ``tag``...) and, once pushed, its digest and pushes."""

    repository: str | None = None
    tag: str | None = None
    tags: list[str] = Field(default_factory=list)
    id: str | None = None
    built: str | None = None
    base_image: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    build_seconds: float | None = None
    model_layers: int | None = None
    model_bytes: int | None = None
    digest: str | None = None
    reference: str | None = None
    pushes: list[PushRecord] = Field(default_factory=list)


DeploymentOutcome = Literal["in progress", "live", "failed", "rolled back", "retired"]


class DeploymentRecord(_Record):
    """One deploy or rollback of the release to one target, from start to its outcome."""

    id: str
    target: str
    kind: str
    action: str
    started: str
    finished: str | None = None
    image: str | None = None
    digest: str | None = None
    outcome: DeploymentOutcome = "in progress"
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    ended: str | None = None


class ShardRecord(_Record):
    """One shard of a release: its customers, and the image that serves them.

    ``built_in`` is the release whose build of this shard is used: this release when the shard changed,
    an earlier one when every customer of the shard kept its artifact (the shard is not rebuilt, not
    pushed again and not redeployed; its answers carry that release's ``model_version``).
    """

    customers: list[str]
    fingerprint: str
    built_in: str
    image: ImageRecord | None = None


class Manifest(BaseModel):
    version: str
    model_name: str
    timestamp: str
    created: str
    code_version: str
    customers: dict[str, CustomerEntry]
    failed: dict[str, str] = Field(default_factory=dict)
    problems: list[str] = Field(default_factory=list)
    image: ImageRecord | None = None
    deployments: list[DeploymentRecord] = Field(default_factory=list)
    shards: dict[str, ShardRecord] = Field(default_factory=dict)
    rules_version: int | None = None  # the live rules training honoured (kwrec block); None: none

    def to_bytes(self) -> bytes:
        exclude = {"image", "deployments", "shards"} | (
            {"rules_version"} if self.rules_version is None else set()
        )
        data = self.model_dump(mode="json", exclude=exclude)
        data["image"] = self.image.dump() if self.image is not None else None
        data["deployments"] = [d.dump() for d in self.deployments]
        if self.shards:  # absent from releases written before shards, which read back byte for byte
            data["shards"] = {name: s.dump() for name, s in self.shards.items()}
        return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True).encode()


#: The one shard of a release written before shards existed: its image holds every customer.
WHOLE_RELEASE = "s000"


def release_shards(manifest: Manifest) -> dict[str, ShardRecord]:
    """The release's shards; a release from before shards is one shard with the release's own image."""
    if manifest.shards:
        return dict(sorted(manifest.shards.items()))
    return {
        WHOLE_RELEASE: ShardRecord(
            customers=sorted(manifest.customers),
            fingerprint="",
            built_in=manifest.version,
            image=manifest.image,
        )
    }


def shard_view(manifest: Manifest, shard: str) -> Manifest:
    """What shard ``shard`` serves: its customers, under the version of the release that built it.

    This is the manifest its image carries, and what a probe of the shard alone checks against.
    """
    if not manifest.shards:
        return manifest
    rec = manifest.shards[shard]
    return manifest.model_copy(
        update={
            "version": rec.built_in,
            "customers": {c: manifest.customers[c] for c in rec.customers},
            "failed": {},
            "image": None,
            "deployments": [],
            "shards": {
                shard: ShardRecord(
                    customers=rec.customers, fingerprint=rec.fingerprint, built_in=rec.built_in
                )
            },
        }
    )


def answering_versions(manifest: Manifest) -> dict[str, str]:
    """customer -> the ``model_version`` its answers carry when this release is live."""
    return {c: rec.built_in for rec in release_shards(manifest).values() for c in rec.customers}


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
    read_manifest(store, version)  # a clear error when the release does not exist
    updated: list[Manifest] = []

    def apply(raw: bytes | None) -> bytes:
        if raw is None:
            raise ReleaseNotFoundError(f"release {version} was deleted from {store.url} while being updated")
        manifest = Manifest.model_validate_json(raw)
        change(manifest)
        updated[:] = [manifest]
        return manifest.to_bytes()

    if update_record(store, manifest_key(version), apply, attempts=MANIFEST_CAS_ATTEMPTS) is None:
        raise StoreError(
            f"release {version}: its manifest kept changing while being updated", hint="try again"
        )
    return updated[0]


def version_order(version: str) -> tuple[str, str]:
    """Sort key of release versions: by timestamp, then name (``gs_2611271500`` before ``zz_2611271501``)."""
    return version.rsplit("_", 1)[1], version


def list_versions(store: ArtifactStore) -> list[str]:
    """Stored release versions that have a manifest, oldest first (by timestamp, then name)."""
    versions = [
        v for v in store.list_dirs(RELEASES) if VERSION_RE.fullmatch(v) and store.exists(manifest_key(v))
    ]
    return sorted(versions, key=version_order)


def unfinished_versions(store: ArtifactStore, published: list[str]) -> list[str]:
    """Release folders without a manifest, oldest first: a run that failed for every customer or was
    killed before publishing left them (rejected rows, for instance), or a run is writing one now.
    ``published``: :func:`list_versions`, which has already asked after every folder's manifest."""
    known = set(published)
    versions = [v for v in store.list_dirs(RELEASES) if VERSION_RE.fullmatch(v) and v not in known]
    return sorted(versions, key=version_order)


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
