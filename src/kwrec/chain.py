"""The daily release chain as library steps: what `kwrec run` runs in one process and the Airflow DAG
runs as one task each (per-customer training as mapped tasks).

detect -> train (only new/changed customers; the rest reuse their artifacts) -> gate -> release
(the manifest is written only now, so nothing ungated is ever the newest release) -> build -> push ->
deploy -> verify (a failure rolls back to the previous live release).

Every step is idempotent for one timestamp. ``run_chain`` records finished steps in
``releases/<version>/run.json``: a re-run of a failed timestamp resumes after the last finished step
(a failure at push continues with push: no retraining, no rebuild), and a re-run of a finished one
does nothing. One chain at a time per store (:mod:`kwrec.run_lock`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from kwrec.deploy import records
from kwrec.errors import KwrecError, ReleaseNotFoundError
from kwrec.gate import GateDecision, gate_customer
from kwrec.ids import make_version, validate_timestamp
from kwrec.image.context import image_manifest_bytes
from kwrec.ingest import fingerprint_inputs, list_customers, load_customer_config
from kwrec.releases import CustomerEntry, Manifest, now_iso, read_manifest
from kwrec.run_lock import RunLock, default_owner
from kwrec.settings import Settings
from kwrec.stores import ArtifactStore, open_store
from kwrec.training import TrainOutcome, assemble_release, input_key, train_customer_entry

Report = Callable[[str], None]
STEPS = ("detect", "train", "gate", "release", "build", "push", "deploy", "verify")
_AFTER_RELEASE = STEPS[STEPS.index("release") + 1 :]


class ChainStepError(KwrecError):
    """A step of the release chain failed; the live release keeps serving."""

    def __init__(self, step: str, cause: str, *, hint: str | None = None, exit_code: int = 1) -> None:
        super().__init__(f"step {step} failed: {cause}", hint=hint)
        self.step = step
        self.cause = cause
        self.exit_code = exit_code


# ---- the steps (each callable on its own: the DAG's tasks) ---------------------------------------


@dataclass
class Detection:
    customers: list[str]
    changed: list[str]
    unchanged: list[str]
    problems: list[str] = field(default_factory=list)


def detect_changes(settings: Settings, store: ArtifactStore, data_dir: Path | None = None) -> Detection:
    """Which customers need training: no artifact yet for their current inputs and parameters."""
    data = data_dir or settings.data_dir
    customers, problems = list_customers(data)
    changed: list[str] = []
    for customer in customers:
        try:
            params = load_customer_config(data / customer).train_params(settings.train)
            key = input_key(fingerprint_inputs(data / customer), params)
        except KwrecError:
            changed.append(customer)  # its training task reports what is wrong with it
            continue
        index = f"artifacts/{customer}/by-input/{key}"
        reusable = store.exists(index) and store.dir_exists(
            json.loads(store.read_bytes(index))["artifact_key"]
        )
        if not reusable:
            changed.append(customer)
    return Detection(customers, changed, [c for c in customers if c not in changed], problems)


def train_customer_step(
    settings: Settings,
    store: ArtifactStore,
    customer: str,
    timestamp: str,
    report: Report,
    data_dir: Path | None = None,
) -> CustomerEntry:
    """Train one customer's artifact into the store for release ``<model>_<timestamp>`` (or reuse it)."""
    version = make_version(settings.model_name, validate_timestamp(timestamp))
    data = data_dir or settings.data_dir
    entry = train_customer_entry(
        store, data / customer, customer, version, settings.train, settings.run.evaluate, report
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
    data_dir: Path | None = None,
) -> list[GateDecision]:
    """Decide per customer whether its new model ships or the live one stays (PRODUCT.md step 4)."""
    cfg = settings.run
    live = live_release(settings, store)
    data = data_dir or settings.data_dir
    decisions = []
    for customer, entry in sorted(entries.items()):
        decision = gate_customer(store, data / customer, entry, live, cfg, settings.cache_dir, report)
        if decision.action in ("accepted", "held back"):
            report(decision.describe())
        decisions.append(decision)
    return decisions


def publish_step(
    settings: Settings,
    store: ArtifactStore,
    timestamp: str,
    entries: dict[str, CustomerEntry],
    failed: dict[str, str],
    problems: list[str],
    decisions: list[GateDecision],
    report: Report,
    data_dir: Path | None = None,
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
        data=data_dir or settings.data_dir,
    )
    store.write_bytes(
        f"releases/{version}/gate.json",
        json.dumps(
            {"live": live.version if live else None, "decisions": [d.to_dict() for d in decisions]},
            indent=1,
            sort_keys=True,
        ).encode(),
    )
    return outcome


def _image_is_current(manifest: Manifest) -> bool:
    """Whether the recorded image was built from exactly this manifest (label set at build time)."""
    from kwrec.publish import MANIFEST_DIGEST_LABEL

    labels = (manifest.image or {}).get("labels") or {}
    expected = "sha256:" + hashlib.sha256(image_manifest_bytes(manifest)).hexdigest()
    return bool(labels.get(MANIFEST_DIGEST_LABEL) == expected)


def build_step(settings: Settings, store: ArtifactStore, version: str, report: Report) -> dict[str, Any]:
    """Build the release image unless the recorded one was built from this manifest and still exists."""
    from kwrec import engine
    from kwrec.publish import build_release_image

    manifest = read_manifest(store, version)
    image = manifest.image or {}
    if _image_is_current(manifest):
        if image.get("pushes"):
            report(f"image {image.get('reference')} already built and pushed for {version}")
            return {"id": image.get("id"), "skipped": True}
        client = engine.connect(settings.image.engine_timeout_seconds)
        if image.get("id") and engine.inspect_image(client, str(image["id"])) is not None:
            report(f"image {str(image['id'])[:19]} already built for {version}")
            return {"id": image["id"], "skipped": True}
    result = build_release_image(settings, store, version, report)
    return {"id": result["id"], "skipped": False, "uncached_steps": len(result["uncached_steps"])}


def push_step(settings: Settings, store: ArtifactStore, version: str, report: Report) -> dict[str, Any]:
    """Push the release image and confirm its digest (a recorded push of this very image is reused)."""
    from kwrec.publish import push_release_image

    manifest = read_manifest(store, version)
    image = manifest.image or {}
    if _image_is_current(manifest) and image.get("pushes") and image.get("digest"):
        report(f"already pushed: {image.get('reference')}")
        return {"digest": image["digest"], "reference": image.get("reference"), "skipped": True}
    pushed = push_release_image(settings, store, version, report)
    return {"digest": pushed["digest"], "reference": pushed["reference"], "skipped": False}


def deploy_step(settings: Settings, store: ArtifactStore, version: str, report: Report) -> dict[str, Any]:
    """Make the release live on the configured target (verified; rolled back by itself on failure)."""
    from kwrec.deploying import deploy_release, open_target

    cfg = settings.deploy
    alias, _ = records.read_alias(store, cfg.target_name())
    if alias is not None and alias.live == version and alias.lease is None:
        target, _, _ = open_target(settings, report)
        report(f"{version} is already live on {cfg.target_name()}")
        return {
            "target": cfg.target_name(),
            "kind": cfg.target,
            "url": target.public_url,
            "previous": alias.previous,
            "skipped": True,
        }
    outcome = deploy_release(settings, store, version, report)
    return {
        "target": outcome.target,
        "kind": cfg.target,
        "url": outcome.url,
        "previous": outcome.previous,
        "skipped": False,
    }


def verify_step(settings: Settings, store: ArtifactStore, version: str, report: Report) -> dict[str, Any]:
    """Verify the live API serves ``version`` correctly; otherwise roll back to the previous release."""
    from kwrec.deploying import rollback, verify_live

    result = verify_live(settings, store, report, version=version)
    report(result.summary())
    if result.ok:
        return {"ok": True, "summary": result.summary()}
    alias, _ = records.read_alias(store, settings.deploy.target_name())
    restored = "nothing to roll back to"
    if alias is not None and alias.live == version and alias.previous:
        try:
            rollback(settings, store, report)
            restored = f"rolled back to {alias.previous}"
        except KwrecError as exc:
            restored = f"rolling back to {alias.previous} ALSO failed: {exc}"
    raise KwrecError(f"the live API does not serve {version} correctly: {result.summary()}; {restored}")


# ---- the whole chain in one process ----------------------------------------------------------------


@dataclass
class StepRun:
    name: str
    status: str  # "ran", "skipped" (already done by an earlier attempt) or "failed"
    seconds: float = 0.0
    detail: str = ""


@dataclass
class ChainOutcome:
    version: str
    timestamp: str
    resumed_from: str | None = None
    trained: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    held_back: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    image_id: str | None = None
    digest: str | None = None
    reference: str | None = None
    target: str | None = None
    url: str | None = None
    previous: str | None = None
    verification: str | None = None
    verified: bool = False
    steps: list[StepRun] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RunRecord:
    """``releases/<version>/run.json``: which steps of this timestamp's chain finished, and their results."""

    def __init__(self, store: ArtifactStore, version: str) -> None:
        self.store = store
        self.key = f"releases/{version}/run.json"
        self.data: dict[str, Any] = {"version": version, "steps": {}, "attempts": []}
        if store.exists(self.key):
            self.data = json.loads(store.read_bytes(self.key))

    def done(self, step: str) -> dict[str, Any] | None:
        rec = self.data["steps"].get(step)
        return rec if rec and rec.get("status") == "done" else None

    def save(self) -> None:
        self.store.write_bytes(self.key, json.dumps(self.data, indent=1, sort_keys=True).encode())

    def finish(self, step: str, seconds: float, result: dict[str, Any]) -> None:
        self.data["steps"][step] = {
            "status": "done",
            "finished": now_iso(),
            "seconds": round(seconds, 2),
            "result": result,
        }
        self.save()

    def fail(self, step: str, error: str) -> None:
        self.data["steps"][step] = {"status": "failed", "finished": now_iso(), "error": error}
        self.data["attempts"][-1].update(outcome="failed", failed_step=step, error=error)
        self.save()


def run_chain(
    settings: Settings,
    timestamp: str,
    report: Report,
    *,
    store: ArtifactStore | None = None,
    owner: str | None = None,
) -> ChainOutcome:
    """Run (or resume) the release chain for ``timestamp``; raise :class:`ChainStepError` naming the step."""
    started = time.monotonic()
    ts = validate_timestamp(timestamp)
    version = make_version(settings.model_name, ts)
    st = store or open_store(settings.store, settings.s3)
    cfg = settings.run
    lock = RunLock(st, owner or default_owner(), version, cfg.lock_seconds).acquire()
    try:
        return _Chain(settings, st, ts, version, report, lock).run(started)
    finally:
        lock.release()


class _Chain:
    def __init__(
        self, settings: Settings, store: ArtifactStore, ts: str, version: str, report: Report, lock: RunLock
    ) -> None:
        self.settings, self.store, self.ts, self.version = settings, store, ts, version
        self.report, self.lock = report, lock
        self.record = RunRecord(store, version)
        self.out = ChainOutcome(version, ts)
        # Between the steps of the release part (detect..release): entries, failures and gate decisions.
        self.entries: dict[str, CustomerEntry] = {}
        self.failed: dict[str, str] = {}
        self.problems: list[str] = []
        self.decisions: list[GateDecision] = []

    def run(self, started: float) -> ChainOutcome:
        released = self.record.done("release") is not None
        if released:
            pending = [s for s in _AFTER_RELEASE if not self.record.done(s) or self._redo(s)]
            self.out.resumed_from = pending[0] if pending else None
            self.report(
                f"resuming {self.version} at step {pending[0]} (earlier steps finished before)"
                if pending
                else f"{self.version}: every step finished before; nothing to do"
            )
        self.record.data["attempts"].append(
            {"started": now_iso(), "owner": self.lock.owner, "resumed_from": self.out.resumed_from}
        )
        self.record.save()
        for number, name in enumerate(STEPS, 1):
            done = self.record.done(name)
            if done is not None and (released or name in _AFTER_RELEASE) and not self._redo(name):
                self._absorb(name, done["result"])
                self.out.steps.append(StepRun(name, "skipped", 0.0, "done by an earlier attempt"))
                continue
            self.report(f"[{number}/{len(STEPS)}] {name} ...")
            t0 = time.monotonic()
            try:
                result = getattr(self, f"_{name}")()
            except KwrecError as exc:
                self._failed(name, str(exc), t0, exc.exit_code, exc)
            except Exception as exc:  # any crash must still name the step and free the lock
                self._failed(name, f"{type(exc).__name__}: {exc}", t0, 1, exc)
            seconds = time.monotonic() - t0
            self.record.finish(name, seconds, result)
            self._absorb(name, result)
            detail = _detail(name, result)
            self.out.steps.append(StepRun(name, "ran", round(seconds, 2), detail))
            self.report(
                f"[{number}/{len(STEPS)}] {name} done in {seconds:.1f}s{': ' + detail if detail else ''}"
            )
            self.lock.renew()
        self.record.data["attempts"][-1].update(outcome="done", finished=now_iso())
        self.record.save()
        self.out.seconds = round(time.monotonic() - started, 2)
        return self.out

    def _redo(self, name: str) -> bool:
        # Verify failed and rolled back: repeating the run deploys again. A finished run never redeploys
        # (re-running yesterday's timestamp must not replace today's release).
        if name != "deploy" or self.record.done("verify"):
            return False
        alias, _ = records.read_alias(self.store, self.settings.deploy.target_name())
        return alias is None or alias.live != self.version

    def _failed(self, name: str, cause: str, t0: float, exit_code: int, exc: BaseException) -> NoReturn:
        self.record.fail(name, cause)
        self.out.steps.append(StepRun(name, "failed", round(time.monotonic() - t0, 2), cause))
        live = live_release(self.settings, self.store)
        serving = f"{live.version} keeps serving" if live else "nothing was live before"
        raise ChainStepError(
            name,
            cause,
            hint=f"{serving}; fix the cause and resume with `kwrec run --timestamp {self.ts}`",
            exit_code=exit_code,
        ) from exc

    # ---- steps ------------------------------------------------------------------------------------
    def _detect(self) -> dict[str, Any]:
        found = detect_changes(self.settings, self.store)
        self.problems = found.problems
        for p in found.problems:
            self.report(f"skipped: {p}")
        return asdict(found)

    def _train(self) -> dict[str, Any]:
        for customer in self.record.data["steps"]["detect"]["result"]["customers"]:
            try:
                self.entries[customer] = train_customer_step(
                    self.settings, self.store, customer, self.ts, self.report
                )
            except KwrecError as exc:
                self.failed[customer] = str(exc)
                self.report(f"{customer}: FAILED: {exc}")
        if not self.entries:
            raise KwrecError(
                "no customer could be trained",
                hint="; ".join(f"{c}: {r}" for c, r in self.failed.items()) or "add customers' logs",
            )
        trained = sorted(c for c, e in self.entries.items() if e.trained_in == self.version)
        return {
            "trained": trained,
            "reused": sorted(set(self.entries) - set(trained)),
            "failed": self.failed,
        }

    def _gate(self) -> dict[str, Any]:
        self.decisions = gate_step(self.settings, self.store, self.entries, self.report)
        return {"decisions": [d.to_dict() for d in self.decisions]}

    def _release(self) -> dict[str, Any]:
        outcome = publish_step(
            self.settings,
            self.store,
            self.ts,
            self.entries,
            self.failed,
            self.problems,
            self.decisions,
            self.report,
        )
        return {
            "trained": outcome.trained,
            "reused": outcome.reused,
            "failed": outcome.failed,
            "held_back": {d.customer: d.to_dict() for d in self.decisions if d.held_back},
        }

    def _build(self) -> dict[str, Any]:
        return build_step(self.settings, self.store, self.version, self.report)

    def _push(self) -> dict[str, Any]:
        return push_step(self.settings, self.store, self.version, self.report)

    def _deploy(self) -> dict[str, Any]:
        return deploy_step(self.settings, self.store, self.version, self.report)

    def _verify(self) -> dict[str, Any]:
        return verify_step(self.settings, self.store, self.version, self.report)

    def _absorb(self, name: str, result: dict[str, Any]) -> None:
        out = self.out
        if name == "release":
            out.trained, out.reused = result["trained"], result["reused"]
            out.failed, out.held_back = result["failed"], result["held_back"]
        elif name == "build":
            out.image_id = result.get("id")
        elif name == "push":
            out.digest, out.reference = result.get("digest"), result.get("reference")
        elif name == "deploy":
            out.target, out.url, out.previous = result["target"], result["url"], result.get("previous")
        elif name == "verify":
            out.verified, out.verification = bool(result.get("ok")), result.get("summary")


def _detail(name: str, result: dict[str, Any]) -> str:
    if name == "detect":
        return f"{len(result['changed'])} new or changed, {len(result['unchanged'])} unchanged"
    if name == "train":
        return f"trained {result['trained']}, reused {result['reused']}, failed {sorted(result['failed'])}"
    if name == "gate":
        held = [d["customer"] for d in result["decisions"] if d["action"] == "held back"]
        return f"held back {held}" if held else "every new model passed"
    if name == "build":
        return "already built" if result.get("skipped") else f"built {str(result.get('id'))[:19]}"
    if name == "push":
        return str(result.get("reference"))
    if name == "deploy":
        return f"{result['target']} at {result['url']}"
    return ""
