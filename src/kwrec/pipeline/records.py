"""Release records: deployment history in each release manifest, and one alias record per target.

``targets/<target>.json`` says which release is live on a target, which was live before it (the
rollback target), and which deploy is running right now (a lease). Every change to it goes through
the store's ``compare_and_swap``, so of two deploys racing for one target exactly one takes the lease;
the other fails with a message naming the winner. Manifests are updated the same way, so two targets
deploying the same release at once do not lose each other's history entries.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from kwrec.core.manifest import (
    DeploymentOutcome,
    DeploymentRecord,
    Manifest,
    list_versions,
    now_iso,
    read_manifest,
    update_manifest,
)
from kwrec.core.store import ArtifactStore, update_record
from kwrec.core.store_layout import TARGETS, target_key
from kwrec.errors import ArtifactError, DeployError, DeployInProgressError
from kwrec.pipeline.lock import default_owner, holder_alive

_CAS_ATTEMPTS = 20
_STACK_MAX = 20


class Lease(BaseModel):
    id: str
    action: str
    version: str
    holder: str
    started: str
    expires: float  # epoch seconds: a lease of a process that died is taken over after this

    def describe(self) -> str:
        until = datetime.fromtimestamp(self.expires, UTC).replace(microsecond=0).isoformat()
        return f"{self.action} of {self.version} by {self.holder} since {self.started} (lease until {until})"


class TargetAlias(BaseModel):
    target: str
    kind: str
    live: str | None = None
    previous: str | None = None
    live_since: str | None = None
    # What serves the live release (container name and port, task definition ARN, ...).
    details: dict[str, Any] = Field(default_factory=dict)
    # Releases that were live here, oldest first; a rollback pops back along it.
    stack: list[str] = Field(default_factory=list)
    lease: Lease | None = None
    updated: str | None = None

    def to_bytes(self) -> bytes:
        return self.model_dump_json(indent=1).encode()


def read_alias(store: ArtifactStore, target: str) -> tuple[TargetAlias | None, bytes | None]:
    key = target_key(target)
    if not store.exists(key):
        return None, None
    raw = store.read_bytes(key)
    return _parse_alias(store, target, raw), raw


def _parse_alias(store: ArtifactStore, target: str, raw: bytes) -> TargetAlias:
    try:
        return TargetAlias.model_validate_json(raw)
    except ValidationError as exc:
        raise ArtifactError(
            f"target record {target_key(target)} in {store.url} is unreadable: {exc.error_count()} problems",
            hint="fix or delete it by hand; it only says which release is live",
        ) from None


def list_aliases(store: ArtifactStore) -> list[TargetAlias]:
    out = []
    for key in store.list_keys(TARGETS):
        if key.endswith(".json") and key.count("/") == 1:
            alias, _ = read_alias(store, key.split("/", 1)[1].removesuffix(".json"))
            if alias is not None:
                out.append(alias)
    return out


def _update_alias(
    store: ArtifactStore, target: str, kind: str, change: Callable[[TargetAlias | None], TargetAlias]
) -> TargetAlias:
    written: list[TargetAlias] = []

    def apply(raw: bytes | None) -> bytes:
        new = change(_parse_alias(store, target, raw) if raw is not None else None)
        new.updated = now_iso()
        written[:] = [new]
        return new.to_bytes()

    if update_record(store, target_key(target), apply, attempts=_CAS_ATTEMPTS) is None:
        raise DeployInProgressError(
            f"target {target}: its record kept changing under {_CAS_ATTEMPTS} attempts to update it",
            hint="another process is writing it in a loop; check `kwrec releases`",
        )
    return written[0]


def acquire_lease(
    store: ArtifactStore,
    target: str,
    kind: str,
    version: str,
    action: str,
    seconds: float,
    *,
    on_takeover: Callable[[Lease], None] | None = None,
) -> Lease:
    """Take the target's deploy lease, or raise :class:`DeployInProgressError` naming who holds it.

    A lease whose holder died (same host, its pid gone) or that expired is taken over; ``on_takeover``
    then gets the dead lease, so the caller can make the target match the records before going on.
    """
    lease = Lease(
        id=uuid.uuid4().hex,
        action=action,
        version=version,
        holder=default_owner(),
        started=now_iso(),
        expires=time.time() + seconds,
    )
    dead: list[Lease] = []

    def take(alias: TargetAlias | None) -> TargetAlias:
        current = alias or TargetAlias(target=target, kind=kind)
        if current.kind != kind:
            raise DeployError(
                f"target {target} is a {current.kind} target, not {kind}",
                hint="use another target name (KWREC_DEPLOY__NAME) for a second kind of target",
            )
        held = current.lease
        if held is not None and holder_alive(held.holder, held.expires):
            raise DeployInProgressError(
                f"target {target} is busy: {held.describe()}",
                hint="wait for it to finish; a lease of a crashed process expires by itself",
            )
        dead[:] = [held] if held is not None else []
        return current.model_copy(update={"lease": lease})

    # A lost compare_and_swap re-reads the record: the winner's lease then makes `take` raise.
    _update_alias(store, target, kind, take)
    if dead and on_takeover is not None:
        on_takeover(dead[0])
    return lease


def abandon_deployments(store: ArtifactStore, version: str, target: str, reason: str) -> int:
    """Mark ``version``'s unfinished deployments to ``target`` failed (their process died): how many."""
    marked = 0

    def change(m: Manifest) -> None:
        nonlocal marked
        for rec in m.deployments:
            if rec.target == target and rec.outcome == "in progress":
                rec.outcome, rec.reason, rec.finished = "failed", reason, now_iso()
                marked += 1

    update_manifest(store, version, change)
    return marked


def _own(alias: TargetAlias | None, target: str, lease: Lease) -> TargetAlias:
    if alias is None or alias.lease is None or alias.lease.id != lease.id:
        who = alias.lease.describe() if alias is not None and alias.lease is not None else "nobody"
        raise DeployInProgressError(
            f"target {target}: this process lost its deploy lease (now held by {who})",
            hint="the lease expired during a very slow deploy; raise KWREC_DEPLOY__LEASE_SECONDS",
        )
    return alias


def release_lease(store: ArtifactStore, target: str, kind: str, lease: Lease) -> TargetAlias:
    """Give the lease back without changing what is live (a failed deploy)."""
    return _update_alias(
        store, target, kind, lambda a: _own(a, target, lease).model_copy(update={"lease": None})
    )


def set_live(
    store: ArtifactStore,
    target: str,
    kind: str,
    lease: Lease,
    version: str,
    details: dict[str, Any],
    *,
    rollback: bool = False,
) -> TargetAlias:
    """Record ``version`` as live (and give the lease back). A rollback walks back along the stack."""

    def change(alias: TargetAlias | None) -> TargetAlias:
        current = _own(alias, target, lease)
        stack = list(current.stack)
        if rollback and version in stack:
            stack = stack[: stack.index(version) + 1]
        else:
            stack = [v for v in stack if v != version] + [version]
        stack = stack[-_STACK_MAX:]
        return current.model_copy(
            update={
                "live": version,
                "previous": stack[-2] if len(stack) > 1 else None,
                "live_since": now_iso(),
                "details": details,
                "stack": stack,
                "lease": None,
            }
        )

    return _update_alias(store, target, kind, change)


def new_deployment(
    target: str, kind: str, action: str, image: str | None, digest: str | None
) -> DeploymentRecord:
    return DeploymentRecord(
        id=uuid.uuid4().hex[:16],
        target=target,
        kind=kind,
        action=action,
        started=now_iso(),
        finished=None,
        image=image,
        digest=digest,
        outcome="in progress",
        reason=None,
        details={},
    )


def add_deployment(store: ArtifactStore, version: str, record: DeploymentRecord) -> None:
    update_manifest(store, version, lambda m: m.deployments.append(record.model_copy()))


def finish_deployment(
    store: ArtifactStore,
    version: str,
    deployment_id: str,
    outcome: DeploymentOutcome,
    reason: str | None = None,
    **details: Any,
) -> None:
    def change(m: Manifest) -> None:
        for rec in m.deployments:
            if rec.id == deployment_id:
                rec.outcome, rec.reason, rec.finished = outcome, reason, now_iso()
                rec.details = {**rec.details, **details}

    update_manifest(store, version, change)


def mark_replaced(
    store: ArtifactStore, version: str, target: str, outcome: DeploymentOutcome, reason: str
) -> None:
    """The live record of ``version`` on ``target`` becomes retired (replaced) or rolled back."""

    def change(m: Manifest) -> None:
        for rec in reversed(m.deployments):
            if rec.target == target and rec.outcome == "live":
                rec.outcome, rec.reason, rec.ended = outcome, reason, now_iso()
                break

    update_manifest(store, version, change)


def live_targets(manifest: Manifest, aliases: list[TargetAlias]) -> list[str]:
    return [a.target for a in aliases if a.live == manifest.version]


def rule_reach_problem(store: ArtifactStore, customer: str) -> str | None:
    """Why a live rule set for ``customer`` in ``store`` may reach no serving replica, if it may.

    A rule for a customer no release serves waits silently, and a store with no release is most often
    not the store the replicas read (a forgotten ``--store``): an operator taking a suggestion down
    must hear of both at once, not find out when it is still shown."""
    versions = list_versions(store)
    if not versions:
        return (
            f"{store.url} holds no release, so no serving replica reads its rules yet "
            "(is --store or KWREC_STORE the store your release chain uses?)"
        )
    live = {a.live for a in list_aliases(store) if a.live in versions}
    known: set[str] = set()
    for version in {versions[-1], *live}:
        known.update(read_manifest(store, version).customers)
    if customer in known:
        return None
    listed = ", ".join(sorted(known)[:10]) + (", ..." if len(known) > 10 else "")
    return (
        f"customer {customer} is in neither the newest release ({versions[-1]}) nor a live one, so the "
        f"rule waits until it is released (check the id; released customers: {listed})"
    )
