"""The steps of the daily release chain, each callable on its own: what `kwrec run` runs in one process
(:mod:`kwrec.pipeline.runner`) and the Airflow DAG runs as one task each (training as mapped tasks).

detect -> train (only new/changed customers; the rest reuse their artifacts) -> gate -> release
(the manifest is written only now, so nothing ungated is ever the newest release) -> build -> push ->
deploy -> verify (a failure rolls back to the previous live release).

Every step returns a typed result. ``to_dict()`` is its serialised form (``run.json``, XCom, ``--json``)
and ``from_dict()`` reads it back, so a run recorded by an older kwrec resumes under this one.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Self

from kwrec.adapters.image.context import MANIFEST_DIGEST_LABEL, image_manifest_digest
from kwrec.core.batches import BatchPolicy, training_batches
from kwrec.core.gate import GateAgainst, GateDecision, GatePolicy, gate_customer
from kwrec.core.ingest import fingerprint_inputs, list_customers, load_customer_config
from kwrec.core.manifest import CustomerEntry, Manifest, read_manifest, release_shards, shard_view
from kwrec.core.rules_store import RuleSet
from kwrec.core.store import ArtifactStore
from kwrec.core.store_layout import gate_key
from kwrec.errors import KwrecError, ReleaseNotFoundError
from kwrec.ids import make_version, validate_timestamp
from kwrec.pipeline import records
from kwrec.pipeline.review import store_review
from kwrec.pipeline.train import (
    TrainOutcome,
    assemble_release,
    input_key,
    live_rules,
    open_data,
    reusable_entry,
    train_customer_entry,
)
from kwrec.reporting import Report
from kwrec.settings import Settings

STEPS = ("detect", "train", "gate", "release", "build", "push", "deploy", "verify")


@dataclass
class StepResult:
    """Base of the steps' results: a flat dataclass whose ``asdict`` is its serialised form."""

    step: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def detail(self) -> str:
        """One line for the step's progress report and the `kwrec run` table."""
        return ""


@dataclass
class Detection(StepResult):
    step: ClassVar[str] = "detect"
    customers: list[str]
    changed: list[str]
    unchanged: list[str]
    problems: list[str] = field(default_factory=list)
    log_bytes: dict[str, int] = field(default_factory=dict)  # of each changed customer, from the listing

    def detail(self) -> str:
        return f"{len(self.changed)} new or changed, {len(self.unchanged)} unchanged"

    def to_dict(self) -> dict[str, Any]:
        # The sizes only serve to batch the training tasks: a run record does not keep them.
        out = super().to_dict()
        out.pop("log_bytes")
        return out

    def batches(self, settings: Settings) -> list[list[str]]:
        """The changed customers grouped into training tasks (``[run.airflow] train_batch_*``)."""
        cfg = settings.run.airflow
        policy = BatchPolicy(cfg.train_batch_customers, max(1, int(cfg.train_batch_mb * 1024 * 1024)))
        return training_batches({c: self.log_bytes.get(c, 0) for c in self.changed}, policy)


@dataclass
class TrainResult(StepResult):
    step: ClassVar[str] = "train"
    trained: list[str]
    reused: list[str]
    failed: dict[str, str]

    def detail(self) -> str:
        return f"trained {self.trained}, reused {self.reused}, failed {sorted(self.failed)}"


@dataclass
class GateResult(StepResult):
    step: ClassVar[str] = "gate"
    decisions: list[GateDecision]

    def to_dict(self) -> dict[str, Any]:
        return {"decisions": [d.to_dict() for d in self.decisions]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return cls([GateDecision(**d) for d in data["decisions"]])

    def detail(self) -> str:
        held = [d.customer for d in self.decisions if d.held_back]
        return f"held back {held}" if held else "every new model passed"


@dataclass
class ReleaseResult(StepResult):
    step: ClassVar[str] = "release"
    trained: list[str]
    reused: list[str]
    failed: dict[str, str]
    held_back: dict[str, dict[str, Any]]


def _without_empty(data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    # Fields added with shards: a result without them reads back and writes the same as before.
    return {k: v for k, v in data.items() if k not in keys or v}


@dataclass
class BuildResult(StepResult):
    step: ClassVar[str] = "build"
    id: str | None  # the first shard's image (the only one of a one-shard release)
    skipped: bool  # nothing was built
    uncached_steps: int | None = None  # absent when the build was skipped
    images: dict[str, str] = field(default_factory=dict)  # shard -> image id
    built: list[str] = field(default_factory=list)  # shards built by this step
    reused: dict[str, str] = field(default_factory=dict)  # shard -> the release whose image it keeps

    def to_dict(self) -> dict[str, Any]:
        out = _without_empty(asdict(self), ("images", "built", "reused"))
        if self.uncached_steps is None:
            del out["uncached_steps"]
        return out

    def detail(self) -> str:
        if self.skipped:
            return f"already built ({len(self.images)} shards)"
        kept = f", {len(self.reused)} reused" if self.reused else ""
        return f"built {len(self.built)} of {len(self.images)} shards{kept}"


@dataclass
class PushResult(StepResult):
    step: ClassVar[str] = "push"
    digest: str | None  # the first shard's (the only one of a one-shard release)
    reference: str | None
    skipped: bool
    references: dict[str, str] = field(default_factory=dict)  # shard -> repo@sha256:...
    pushed: list[str] = field(default_factory=list)  # shards pushed by this step

    def to_dict(self) -> dict[str, Any]:
        return _without_empty(asdict(self), ("references", "pushed"))

    def detail(self) -> str:
        if len(self.references) <= 1:
            return str(self.reference)
        return f"pushed {len(self.pushed)} of {len(self.references)} shards"


@dataclass
class DeployResult(StepResult):
    step: ClassVar[str] = "deploy"
    target: str
    kind: str
    url: str
    previous: str | None
    skipped: bool
    redeployed: list[str] = field(default_factory=list)  # shards given a new instance (docker)

    def to_dict(self) -> dict[str, Any]:
        return _without_empty(asdict(self), ("redeployed",))

    def detail(self) -> str:
        again = (
            f" ({len(self.redeployed)} shards redeployed: {', '.join(self.redeployed)})"
            if self.redeployed
            else ""
        )
        return f"{self.target} at {self.url}{again}"


@dataclass
class VerifyResult(StepResult):
    step: ClassVar[str] = "verify"
    ok: bool
    summary: str


RESULT_TYPES: dict[str, type[StepResult]] = {
    t.step: t
    for t in (
        Detection,
        TrainResult,
        GateResult,
        ReleaseResult,
        BuildResult,
        PushResult,
        DeployResult,
        VerifyResult,
    )
}


@dataclass
class CustomerTraining:
    """One customer's training task: its entry, or why its own data or config could not be used."""

    customer: str
    entry: CustomerEntry | None = None
    failed: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The training task's XCom: the entry as JSON, or the failure."""
        if self.entry is None:
            return {"customer": self.customer, "failed": self.failed}
        return {"customer": self.customer, "entry": self.entry.model_dump(mode="json")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CustomerTraining:
        if data.get("failed"):
            return cls(data["customer"], failed=str(data["failed"]))
        return cls(data["customer"], CustomerEntry.model_validate(data["entry"]))


# ---- the steps ---------------------------------------------------------------------------------------


def detect_changes(settings: Settings, store: ArtifactStore, data_dir: Path | str | None = None) -> Detection:
    """Which customers need training: no artifact yet for their current inputs and parameters."""
    data = open_data(settings, data_dir)
    customers, problems = list_customers(data)
    changed: list[str] = []
    log_bytes: dict[str, int] = {}
    rules, now = live_rules(settings, store), datetime.now(UTC)
    for customer in customers:
        try:
            logs = data.customer(customer)
            bans = rules.bans(customer, now)
            params = load_customer_config(logs).with_live_bans(bans).train_params(settings.train)
            key = input_key(fingerprint_inputs(logs), params, bans)
        except KwrecError:
            changed.append(customer)  # its training task reports what is wrong with it
            continue
        if reusable_entry(store, customer, key) is None:
            changed.append(customer)
            log_bytes[customer] = sum(f.size for f in logs.files())
    unchanged = [c for c in customers if c not in changed]
    return Detection(customers, changed, unchanged, problems, log_bytes)


def gate_policy(settings: Settings) -> GatePolicy:
    cfg = settings.run
    return GatePolicy(
        cfg.gate_tolerance,
        cfg.gate_test_fraction,
        cfg.gate_prefixes_per_query,
        cfg.gate_max_test_queries,
        cfg.gate_stability_floor,
    )


@dataclass(frozen=True)
class TrainingDay:
    """What every customer's training of one day compares with and honours: the live release and the
    live rules. Read once per task (or run), not once per customer: the live manifest lists every
    customer, so reading it per customer would cost the square of the fleet's size."""

    live: Manifest | None
    rules: RuleSet

    @classmethod
    def read(cls, settings: Settings, store: ArtifactStore) -> TrainingDay:
        return cls(live_release(settings, store), live_rules(settings, store))


def train_customer_step(
    settings: Settings,
    store: ArtifactStore,
    customer: str,
    timestamp: str,
    report: Report,
    data_dir: Path | str | None = None,
    day: TrainingDay | None = None,
) -> CustomerEntry:
    """Train one customer's artifact into the store for release ``<model>_<timestamp>`` (or reuse it),
    with the quality gate's numbers against the live model of the customer. A caller training many
    customers passes ``day`` (:meth:`TrainingDay.read`) so the live release and rules are read once."""
    version = make_version(settings.model_name, validate_timestamp(timestamp))
    day = day or TrainingDay.read(settings, store)
    live = day.live
    # The gate's comparison is made in this task, where the customer's events are already in memory.
    against = (
        GateAgainst(live.version, live.customers[customer], gate_policy(settings))
        if live is not None and customer in live.customers
        else None
    )
    entry = train_customer_entry(
        store,
        open_data(settings, data_dir).customer(customer),
        customer,
        version,
        settings.train,
        settings.run.evaluate,
        report,
        cache_dir=settings.cache_dir,
        gate=against,
        bans=day.rules.bans(customer, datetime.now(UTC)),
        protocol=settings.evaluate,
    )
    if entry.trained_in == version and entry.status != "trained":
        # A retried attempt of this very release finds its own artifact: it was still trained here.
        entry = entry.model_copy(update={"status": "trained"})
    return entry


def live_release(settings: Settings, store: ArtifactStore) -> Manifest | None:
    """The manifest of the release live on the configured deploy target (None: nothing live yet)."""
    alias, _ = records.read_alias(store, settings.deploy.target_name())
    if alias is None or alias.live is None:
        return None
    try:
        return read_manifest(store, alias.live)
    except ReleaseNotFoundError:
        return None


def gate_step(
    settings: Settings,
    store: ArtifactStore,
    entries: dict[str, CustomerEntry],
    report: Report,
    data_dir: Path | str | None = None,
) -> GateResult:
    """Decide per customer whether its new model ships or the live one stays (PRODUCT.md step 4)."""
    policy = gate_policy(settings)
    live = live_release(settings, store)
    data = open_data(settings, data_dir)
    decisions = []
    for customer, entry in sorted(entries.items()):
        logs = data.customer(customer)
        decision = gate_customer(store, logs, entry, live, policy, settings.cache_dir, report)
        if decision.action in ("accepted", "held back"):
            report(decision.describe())
        decisions.append(decision)
    return GateResult(decisions)


def release_step(
    settings: Settings,
    store: ArtifactStore,
    timestamp: str,
    entries: dict[str, CustomerEntry],
    failed: dict[str, str],
    problems: list[str],
    decisions: list[GateDecision],
    report: Report,
    data_dir: Path | str | None = None,
) -> TrainOutcome:
    """Write the release manifest: gated entries, live entries kept for held-back or failed customers."""
    version = make_version(settings.model_name, validate_timestamp(timestamp))
    live = live_release(settings, store)
    final = dict(entries)
    notes = list(problems)
    held = {d.customer: d for d in decisions if d.held_back}
    for customer, decision in held.items():
        assert live is not None  # a customer is held back only against a live model
        final[customer] = live.customers[customer].model_copy(update={"status": "reused"})
        notes.append(f"gate: {decision.describe()}")
    for customer, reason in failed.items():
        if live is not None and customer in live.customers:
            final[customer] = live.customers[customer].model_copy(update={"status": "reused"})
            notes.append(f"{customer}: training failed, keeps the live model of {live.version}: {reason}")
            report(f"{customer}: training failed, keeps the live model of {live.version}")
    outcome = assemble_release(
        settings,
        store,
        timestamp=timestamp,
        entries=final,
        failed=failed,
        problems=notes,
        data=open_data(settings, data_dir),
    )
    store.write_bytes(
        gate_key(version),
        json.dumps(
            {"live": live.version if live else None, "decisions": [d.to_dict() for d in decisions]},
            indent=1,
            sort_keys=True,
        ).encode(),
    )
    try:
        store_review(settings, store, version, live, report)
    except KwrecError as exc:
        # The review explains a release; it must not stop one (an unreadable old artifact, say).
        report(f"review against {live.version if live else '-'} not written: {exc}")
    return outcome


def _image_is_current(manifest: Manifest, shard: str) -> bool:
    """Whether the shard's recorded image was built from exactly this release (label set at build time)."""
    image = release_shards(manifest)[shard].image
    labels = image.labels if image is not None else {}
    return labels.get(MANIFEST_DIGEST_LABEL) == image_manifest_digest(shard_view(manifest, shard))


def build_step(settings: Settings, store: ArtifactStore, version: str, report: Report) -> BuildResult:
    """Build the image of every shard this release changed, unless built from this manifest already.

    A shard whose customers all kept their artifacts keeps the image of the release that built it.
    """
    from kwrec.adapters import engine
    from kwrec.pipeline.image import build_release_image

    manifest = read_manifest(store, version)
    shards = release_shards(manifest)
    client = None
    out = BuildResult(None, skipped=True)
    uncached = 0
    for shard, rec in shards.items():
        image = rec.image
        if rec.built_in != version:
            assert image is not None and image.id  # plan_shards reuses only a built image
            out.reused[shard] = rec.built_in
            out.images[shard] = image.id
            continue
        if image is not None and image.id and _image_is_current(manifest, shard):
            if image.pushes:
                out.images[shard] = image.id
                continue
            client = client or engine.connect(settings.image.engine_timeout_seconds)
            if engine.inspect_image(client, image.id) is not None:
                out.images[shard] = image.id
                continue
        built = build_release_image(settings, store, version, report, shard=shard)
        out.images[shard] = built.id
        out.built.append(shard)
        uncached += len(built.uncached_steps)
    if out.reused:
        report(
            f"{len(out.reused)} shards unchanged: their images are reused ({', '.join(sorted(out.reused))})"
        )
    if out.built:
        out.skipped, out.uncached_steps = False, uncached
    else:
        report(f"every changed shard of {version} is already built")
    out.id = next(iter(out.images.values()), None)
    return out


def push_step(settings: Settings, store: ArtifactStore, version: str, report: Report) -> PushResult:
    """Push every shard image without a confirmed digest (a recorded push of the same image is reused)."""
    from kwrec.pipeline.image import push_release_image

    manifest = read_manifest(store, version)
    out = PushResult(None, None, skipped=True)
    for shard, rec in release_shards(manifest).items():
        image = rec.image
        pushed_before = image is not None and image.pushes and image.digest and image.reference
        if pushed_before and (rec.built_in != version or _image_is_current(manifest, shard)):
            assert image is not None and image.reference
            out.references[shard] = image.reference
            continue
        pushed = push_release_image(settings, store, version, report, shard=shard)
        out.references[shard] = pushed.reference
        out.pushed.append(shard)
    if not out.pushed:
        report(f"already pushed: {', '.join(out.references.values())}")
    out.skipped = not out.pushed
    first = next(iter(out.references.values()), None)
    out.reference, out.digest = first, first.split("@", 1)[1] if first and "@" in first else None
    return out


def deploy_step(settings: Settings, store: ArtifactStore, version: str, report: Report) -> DeployResult:
    """Make the release live on the configured target (verified; rolled back by itself on failure)."""
    from kwrec.pipeline.deploy import deploy_release, open_target

    cfg = settings.deploy
    alias, _ = records.read_alias(store, cfg.target_name())
    if alias is not None and alias.live == version and alias.lease is None:
        target, _, _ = open_target(settings, report)
        if target.live_problem(alias.details) is None:
            report(f"{version} is already live on {cfg.target_name()}")
            return DeployResult(
                cfg.target_name(), cfg.target, target.public_url, alias.previous, skipped=True
            )
    outcome = deploy_release(settings, store, version, report)
    return DeployResult(
        outcome.target,
        cfg.target,
        outcome.url,
        outcome.previous,
        skipped=False,
        redeployed=outcome.redeployed,
    )


def verify_step(settings: Settings, store: ArtifactStore, version: str, report: Report) -> VerifyResult:
    """Verify the live API serves ``version`` correctly; otherwise roll back to the previous release."""
    from kwrec.pipeline.deploy import rollback, verify_live

    result = verify_live(settings, store, report, version=version)
    report(result.summary())
    if result.ok:
        return VerifyResult(ok=True, summary=result.summary())
    alias, _ = records.read_alias(store, settings.deploy.target_name())
    restored = "nothing to roll back to"
    if alias is not None and alias.live == version and alias.previous:
        try:
            rollback(settings, store, report)
            restored = f"rolled back to {alias.previous}"
        except KwrecError as exc:
            restored = f"rolling back to {alias.previous} ALSO failed: {exc}"
    raise KwrecError(f"the live API does not serve {version} correctly: {result.summary()}; {restored}")
