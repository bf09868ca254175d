"""Deploy, roll back and garbage-collect releases: the pipeline steps the CLI and the Airflow DAG call.

A release goes live only when the live API proves it (:mod:`kwrec.adapters.probe`): the new instance is
verified before it takes traffic, and again through the public URL after; any failure restores the
previous release, which never stopped serving, and records why in the release's manifest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kwrec.adapters.probe import Check, VerifyReport, verify
from kwrec.adapters.registries import RegistryCredentials, credentials_source
from kwrec.adapters.registries.v2 import RegistryClient
from kwrec.adapters.targets import NO_RULES, RULES_DIR_IN_CONTAINER, Prepared, RulesWiring, Target
from kwrec.adapters.targets.docker_host import DockerTarget
from kwrec.core.evaluation import FLOORED
from kwrec.core.manifest import (
    Manifest,
    PushRecord,
    list_versions,
    read_manifest,
    release_shards,
    shard_view,
    unfinished_versions,
    version_order,
)
from kwrec.core.store import ArtifactStore
from kwrec.core.store_layout import release_prefix
from kwrec.errors import DeployError, KwrecError, ReleaseNotFoundError, VerificationError
from kwrec.ids import validate_version
from kwrec.pipeline import records
from kwrec.pipeline.lock import running_version
from kwrec.pipeline.train import drop_input_pointers
from kwrec.reporting import Report
from kwrec.settings import Settings
from kwrec.settings.deploy import DeploySettings, validate_target_name


@dataclass
class DeployOutcome:
    target: str
    version: str
    previous: str | None
    url: str
    reports: list[VerifyReport] = field(default_factory=list)
    action: str = "deploy"
    redeployed: list[str] = field(default_factory=list)  # shards given a new instance


def rules_settle_seconds(settings: Settings) -> float:
    """How long after a rules change every replica has applied it: three polls and a margin."""
    return 3 * settings.rules.poll_seconds + 5 if settings.rules.enabled else 0.0


def _pull_auth(settings: Settings) -> Callable[[], dict[str, str] | None]:
    def auth() -> dict[str, str] | None:
        return credentials_source(settings.image)().auth_config()

    return auth


def rules_wiring(settings: Settings, kind: str, report: Report) -> RulesWiring:
    """What the target's containers need to read the live rules: a local store is mounted (docker), an
    S3 one is read with the container's own role (no credential is ever passed)."""
    if not settings.rules.enabled:
        return NO_RULES
    source = settings.rules.store or settings.store
    if kind == "ecs" and not source.startswith("s3://"):
        report(f"live rules are off on ECS: its tasks cannot read the local store {source} (use s3://...)")
        return NO_RULES
    env = {"KWREC_RULES__POLL_SECONDS": f"{settings.rules.poll_seconds:g}"}
    if source.startswith("s3://"):
        env |= {"KWREC_RULES__STORE": source, "KWREC_S3__REGION": settings.s3.region}
        if settings.s3.endpoint_url:
            env["KWREC_S3__ENDPOINT_URL"] = settings.s3.endpoint_url
        return RulesWiring(env)
    env["KWREC_RULES__STORE"] = RULES_DIR_IN_CONTAINER
    return RulesWiring(env, host_store=str(Path(source).absolute()))


def open_target(
    settings: Settings, report: Report, kind: str | None = None
) -> tuple[Target, DeploySettings, str]:
    cfg = settings.deploy
    if kind is not None:
        if kind not in ("docker", "ecs"):
            raise KwrecError(f"unknown target {kind!r}", hint="use docker or ecs")
        cfg = cfg.model_copy(update={"target": kind})
    name = validate_target_name(cfg.target_name())
    if cfg.target == "ecs":
        from kwrec.adapters.targets.ecs import EcsTarget

        return EcsTarget(cfg.ecs, name, report, rules=rules_wiring(settings, "ecs", report)), cfg, name
    rules = rules_wiring(settings, "docker", report)
    return DockerTarget(cfg.docker, name, report, pull_auth=_pull_auth(settings), rules=rules), cfg, name


def _switch(
    settings: Settings,
    store: ArtifactStore,
    version: str,
    report: Report,
    *,
    action: str,
    target_kind: str | None,
) -> DeployOutcome:
    tgt, cfg, name = open_target(settings, report, target_kind)
    manifest = read_manifest(store, validate_version(version))
    alias, _ = records.read_alias(store, name)
    repair = None
    if alias is not None and alias.live == version and alias.lease is None:
        repair = tgt.live_problem(alias.details)
        if repair is None:
            raise DeployError(f"release {version} is already live on target {name}", hint="nothing to do")
        report(f"{version} is recorded live on {name}, but {repair}: putting it back")
    dead: list[records.Lease] = []
    lease = records.acquire_lease(
        store, name, tgt.kind, version, action, cfg.lease_seconds, on_takeover=dead.append
    )
    alias, _ = records.read_alias(store, name)
    if dead:
        _recover(store, tgt, name, alias, dead[0], report)
    old = alias.live if alias else None
    previous = dict(alias.details) if alias else {}
    images = [r.image for r in release_shards(manifest).values() if r.image is not None]
    rec = records.new_deployment(
        name,
        tgt.kind,
        action,
        ", ".join(str(i.reference or i.id) for i in images) or None,
        ", ".join(str(i.digest) for i in images if i.digest) or None,
    )
    records.add_deployment(store, version, rec)
    outcome = DeployOutcome(name, version, old, tgt.public_url, action=action)
    prepared: Prepared | None = None
    try:
        report(f"{action} {version} to {name} ({tgt.kind}); live now: {old or 'nothing'}")
        prepared = tgt.prepare(manifest)
        settle = rules_settle_seconds(settings)
        # Every new shard alone first: nothing switches unless all of them answer correctly.
        for shard, url in prepared.direct.items():
            direct = verify(
                url, shard_view(manifest, shard), store, cfg.verify_budget_ms, rules_settle_seconds=settle
            )
            outcome.reports.append(direct)
            report(f"shard {shard}: {direct.summary()}")
            if not direct.ok:
                raise VerificationError(
                    f"verification of shard {shard} before the switch failed: {direct.summary()}"
                )
        outcome.redeployed = sorted(prepared.redeployed)
        tgt.promote(prepared)
        public = verify(
            tgt.public_url,
            manifest,
            store,
            cfg.verify_budget_ms,
            shard_header=tgt.shard_header,
            rules_settle_seconds=settle,
        )
        outcome.reports.append(public)
        report(public.summary())
        if not public.ok:
            raise VerificationError(f"verification after the switch failed: {public.summary()}")
    except BaseException as exc:
        why = exc.message if isinstance(exc, KwrecError) else f"{type(exc).__name__}: {exc}"
        restored = f"; {old} keeps serving" if old else ""
        if prepared is not None:
            try:
                tgt.restore(prepared, previous)
            except KwrecError as undo:
                restored = f"; restoring {old or 'the previous state'} ALSO failed: {undo.message}"
        records.finish_deployment(
            store, version, rec.id, "failed", why + restored, **(prepared.details if prepared else {})
        )
        records.release_lease(store, name, tgt.kind, lease)
        if isinstance(exc, KwrecError):
            # As retryable as its cause: a release that fails verification fails again.
            raise DeployError(
                f"{action} of {version} to {name} failed: {why}{restored}", retryable=exc.retryable
            ) from None
        raise
    records.set_live(store, name, tgt.kind, lease, version, prepared.details, rollback=action == "rollback")
    if repair is not None:  # the record of the instance that stopped serving ends here
        records.mark_replaced(store, version, name, "retired", f"repaired: {repair}")
    records.finish_deployment(store, version, rec.id, "live", None, **prepared.details)
    if old and old != version:
        records.mark_replaced(
            store, old, name, "rolled back" if action == "rollback" else "retired", f"{action} to {version}"
        )
        try:
            tgt.retire(previous, prepared.details, keep_version=old)
        except KwrecError as exc:
            report(f"warning: {version} is live, but stopping the old instance failed: {exc}")
    report(f"{version} is live on {name} at {tgt.public_url}")
    return outcome


def _recover(
    store: ArtifactStore,
    tgt: Target,
    name: str,
    alias: records.TargetAlias | None,
    dead: records.Lease,
    report: Report,
) -> None:
    """A deploy died holding the lease: make the target serve what the records say, then go on."""
    live = alias.live if alias else None
    report(f"taking over the lease of a {dead.describe()}: its process is gone")
    keep = {v for v in (live, alias.previous if alias else None) if v}
    for change in tgt.reconcile(dict(alias.details) if alias and live else {}, keep):
        report(f"recovered: {change}")
    try:
        marked = records.abandon_deployments(
            store, dead.version, name, f"interrupted: {dead.holder} died during the {dead.action}"
        )
    except ReleaseNotFoundError:
        marked = 0  # the release itself is gone (gc): no history to correct
    if marked:
        report(f"recorded the interrupted {dead.action} of {dead.version} as failed")


def deploy_release(
    settings: Settings, store: ArtifactStore, version: str, report: Report, *, target: str | None = None
) -> DeployOutcome:
    """Make ``version`` live on the target, verified; on any failure the previous release keeps serving."""
    return _switch(settings, store, version, report, action="deploy", target_kind=target)


def rollback(
    settings: Settings,
    store: ArtifactStore,
    report: Report,
    *,
    target: str | None = None,
    to: str | None = None,
) -> DeployOutcome:
    """Back to the previous live release of the target (or ``to``), verified like a deploy."""
    cfg = settings.deploy
    name = validate_target_name(cfg.model_copy(update={"target": target or cfg.target}).target_name())
    alias, _ = records.read_alias(store, name)
    version = to or (alias.previous if alias else None)
    if version is None:
        raise DeployError(
            f"target {name} has no previous release to roll back to",
            hint="name one with --to VERSION (`kwrec releases` lists them)",
        )
    return _switch(settings, store, version, report, action="rollback", target_kind=target)


def verify_live(
    settings: Settings,
    store: ArtifactStore,
    report: Report,
    *,
    target: str | None = None,
    version: str | None = None,
) -> VerifyReport:
    """Verify what the target serves against ``version`` (default: the release recorded live there)."""
    tgt, cfg, name = open_target(settings, report, target)
    alias, _ = records.read_alias(store, name)
    expected = version or (alias.live if alias else None)
    if expected is None:
        raise DeployError(f"nothing is live on target {name}", hint="pass --version or deploy first")
    result = verify(
        tgt.public_url,
        read_manifest(store, expected),
        store,
        cfg.verify_budget_ms,
        shard_header=tgt.shard_header,
        rules_settle_seconds=rules_settle_seconds(settings),
    )
    problem = tgt.live_problem(alias.details) if alias is not None and alias.live == expected else None
    if problem is not None:  # name the cause, not only the symptom (502s, timeouts)
        result.checks.insert(
            0, Check("target", False, f"{problem}; `kwrec deploy --version {expected}` puts it back")
        )
    return result


@dataclass
class GcResult:
    kept: list[str]
    deleted: list[str]
    artifacts: list[str]
    images: list[str]
    containers: list[str]
    unfinished: list[str] = field(default_factory=list)  # folders of runs that never published


def protected_versions(store: ArtifactStore) -> set[str]:
    """Releases gc must never delete: live on a target, its rollback target, or being deployed."""
    out: set[str] = set()
    for alias in records.list_aliases(store):
        out.update(v for v in (alias.live, alias.previous) if v)
        if alias.lease is not None:
            out.add(alias.lease.version)
    return out


def gc(
    settings: Settings, store: ArtifactStore, keep: int, report: Report, *, dry_run: bool = False
) -> GcResult:
    """Delete releases beyond the newest ``keep`` (never a protected one), unshared artifacts, tags."""
    if keep < 1:
        raise KwrecError("--keep must be at least 1")
    versions = list_versions(store)
    protected = protected_versions(store)
    kept = sorted(set(versions[-keep:]) | (protected & set(versions)), key=versions.index)
    doomed = [v for v in versions if v not in kept]
    manifests = {v: read_manifest(store, v) for v in versions}
    used = {e.artifact_key for v in kept for e in manifests[v].customers.values()}
    kept_digests = {
        r.image.digest for v in kept for r in release_shards(manifests[v]).values() if r.image is not None
    }
    artifacts = sorted({e.artifact_key for v in doomed for e in manifests[v].customers.values()} - used)
    result = GcResult(kept, doomed, artifacts, [], [], _unfinished_to_delete(store, versions, kept))
    if dry_run:
        return result
    for v in result.unfinished:
        store.delete_prefix(release_prefix(v))
        report(f"deleted the folder of unfinished run {v}")
    for v in doomed:
        _delete_image(settings, manifests[v], kept_digests, result, report)
        store.delete_prefix(release_prefix(v))
        report(f"deleted release {v}")
    for key in artifacts:
        store.delete_prefix(key)
        drop_input_pointers(store, key)
        report(f"deleted artifact {key}")
    return result


def _unfinished_to_delete(store: ArtifactStore, versions: list[str], kept: list[str]) -> list[str]:
    """Folders of runs that never published, older than every kept release: they age out as releases do.

    A newer one may be today's failure an operator still has to read (or a run writing it now); the
    version of a run that holds the lock is never touched, whatever its timestamp."""
    if not kept:
        return []
    oldest, running = version_order(kept[0]), running_version(store)
    return [v for v in unfinished_versions(store, versions) if version_order(v) < oldest and v != running]


def _delete_image(
    settings: Settings, manifest: Manifest, kept_digests: set[str | None], result: GcResult, report: Report
) -> None:
    for rec in release_shards(manifest).values():
        image = rec.image
        if (
            rec.built_in != manifest.version
            or image is None
            or not image.digest
            or image.digest in kept_digests
        ):
            continue  # another release's build (kept with it), or shared with a kept release
        for push in image.pushes:
            try:
                _delete_pushed(settings, push)
                result.images.append(push.reference)
                report(f"deleted image {push.reference}")
            except KwrecError as exc:
                report(f"warning: could not delete image {push.reference}: {exc}")


def _delete_pushed(settings: Settings, push: PushRecord) -> bool:
    """Delete the manifest (and so every tag) of one recorded push from its registry."""
    reference, registry = push.reference, push.registry
    if "@" not in reference or not registry:
        return False
    repo_path, digest = reference.split("@", 1)
    creds = credentials_source(settings.image)()
    if creds.server != registry:
        # Credentials for another registry would be refused (or worse, sent to the wrong host).
        creds = RegistryCredentials(server=registry)
    with RegistryClient(creds, settings.image.registry.timeout_seconds) as reg:
        return reg.delete_manifest(repo_path.removeprefix(registry + "/"), digest)


def releases_rows(store: ArtifactStore, target: str | None = None) -> list[dict[str, Any]]:
    """One row per release: what the `kwrec releases` table and its --json show."""
    aliases = records.list_aliases(store)
    if target is not None:
        aliases = [a for a in aliases if a.target == target]
    rows = []
    for v in list_versions(store):
        try:
            m = read_manifest(store, v)
        except (ReleaseNotFoundError, KwrecError):
            continue
        trained = sorted(c for c, e in m.customers.items() if e.status == "trained")
        metrics: dict[str, float] = {}
        baseline: dict[str, float] = {}
        floored: dict[str, float] = {}
        for c, e in sorted(m.customers.items()):
            auto = (e.evaluation or {}).get("autocomplete") or {}
            for into, key in ((metrics, "kwrec/all"), (baseline, "mpc/all"), (floored, f"{FLOORED}/all")):
                if "mrr@10" in (auto.get(key) or {}):
                    into[c] = auto[key]["mrr@10"]
        where = [f"{a.target}" for a in aliases if a.live == v]
        where += [f"{a.target} (previous)" for a in aliases if a.previous == v]
        where += [f"{a.target} (deploying)" for a in aliases if a.lease is not None and a.lease.version == v]
        last = m.deployments[-1] if m.deployments else None
        rows.append(
            {
                "version": v,
                "created": m.created,
                "trained": trained,
                "reused": sorted(set(m.customers) - set(trained)),
                "failed": sorted(m.failed),
                "mrr@10": metrics,
                # Most-popular completion on the same test prefixes; customers where kwrec scores less.
                "mpc_mrr@10": baseline,
                "below_mpc": sorted(c for c in metrics if c in baseline and metrics[c] < baseline[c]),
                # The same held to the privacy floor, where it acts (releases evaluated since 37ab5ce).
                "mpc_floor_mrr@10": floored,
                "image": _first_digest(m),
                "rules_version": m.rules_version,
                "shards": {
                    s: {
                        "customers": len(r.customers),
                        "built_in": r.built_in,
                        "digest": r.image.digest if r.image is not None else None,
                    }
                    for s, r in release_shards(m).items()
                },
                "live": where,
                "last_deploy": (
                    f"{last.target}: {last.outcome}" + (f" ({last.reason})" if last.reason else "")
                )
                if last
                else None,
            }
        )
    return rows


def _first_digest(m: Manifest) -> str | None:
    digests = [r.image.digest for r in release_shards(m).values() if r.image is not None and r.image.digest]
    return digests[0] if digests else None
