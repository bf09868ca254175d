"""The whole release chain in one process (`kwrec run`): the steps of :mod:`kwrec.pipeline.steps` in order.

Every step is idempotent for one timestamp. ``run_chain`` records finished steps in
``releases/<version>/run.json``: a re-run of a failed timestamp resumes after the last finished step
(a failure at push continues with push: no retraining, no rebuild), and a re-run of a finished one
does nothing. One chain at a time per store (:mod:`kwrec.pipeline.lock`).
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, NoReturn

from kwrec.adapters.stores import open_store
from kwrec.core.gate import GateDecision
from kwrec.core.manifest import CustomerEntry, now_iso
from kwrec.core.store import ArtifactStore
from kwrec.core.store_layout import run_record_key
from kwrec.errors import CUSTOMER_INPUT_ERRORS, ChainStepError, KwrecError
from kwrec.ids import make_version, validate_timestamp
from kwrec.pipeline import records
from kwrec.pipeline.deploy import open_target
from kwrec.pipeline.lock import RunLock, default_owner
from kwrec.pipeline.steps import (
    RESULT_TYPES,
    STEPS,
    BuildResult,
    DeployResult,
    Detection,
    GateResult,
    PushResult,
    ReleaseResult,
    StepResult,
    TrainingDay,
    TrainResult,
    VerifyResult,
    build_step,
    deploy_step,
    detect_changes,
    gate_step,
    live_release,
    push_step,
    release_step,
    train_customer_step,
    verify_step,
)
from kwrec.reporting import Report
from kwrec.settings import Settings

_AFTER_RELEASE = STEPS[STEPS.index("release") + 1 :]


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
    shards_built: list[str] = field(default_factory=list)
    shards_reused: dict[str, str] = field(default_factory=dict)  # shard -> the release whose image it keeps
    shards_pushed: list[str] = field(default_factory=list)
    shards_redeployed: list[str] = field(default_factory=list)
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

    def absorb(self, result: StepResult) -> None:
        """Take what this outcome reports from one step's result."""
        if isinstance(result, ReleaseResult):
            self.trained, self.reused = result.trained, result.reused
            self.failed, self.held_back = result.failed, result.held_back
        elif isinstance(result, BuildResult):
            self.image_id = result.id
            self.shards_built, self.shards_reused = result.built, result.reused
        elif isinstance(result, PushResult):
            self.digest, self.reference = result.digest, result.reference
            self.shards_pushed = result.pushed
        elif isinstance(result, DeployResult):
            self.target, self.url, self.previous = result.target, result.url, result.previous
            self.shards_redeployed = result.redeployed
        elif isinstance(result, VerifyResult):
            self.verified, self.verification = result.ok, result.summary


class RunRecord:
    """``releases/<version>/run.json``: which steps of this timestamp's chain finished, and their results."""

    def __init__(self, store: ArtifactStore, version: str) -> None:
        self.store = store
        self.key = run_record_key(version)
        self.data: dict[str, Any] = {"version": version, "steps": {}, "attempts": []}
        if store.exists(self.key):
            self.data = json.loads(store.read_bytes(self.key))

    def done(self, step: str) -> StepResult | None:
        """The result of ``step`` if an attempt finished it."""
        rec = self.data["steps"].get(step)
        if not rec or rec.get("status") != "done":
            return None
        return RESULT_TYPES[step].from_dict(rec["result"])

    def save(self) -> None:
        self.store.write_bytes(self.key, json.dumps(self.data, indent=1, sort_keys=True).encode())

    def finish(self, step: str, seconds: float, result: StepResult) -> None:
        self.data["steps"][step] = {
            "status": "done",
            "finished": now_iso(),
            "seconds": round(seconds, 2),
            "result": result.to_dict(),
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
    lock = RunLock(st, owner or default_owner(), version, settings.run.lock_seconds).acquire()
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
        self.detection: Detection | None = None
        self.entries: dict[str, CustomerEntry] = {}
        self.failed: dict[str, str] = {}
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
                self.out.absorb(done)
                self.out.steps.append(StepRun(name, "skipped", 0.0, "done by an earlier attempt"))
                continue
            self.report(f"[{number}/{len(STEPS)}] {name} ...")
            t0 = time.monotonic()
            try:
                result: StepResult = getattr(self, f"_{name}")()
            except KwrecError as exc:
                self._failed(name, exc, t0)
            except Exception as exc:  # any crash must still name the step and free the lock
                self._failed(name, f"{type(exc).__name__}: {exc}", t0, exc)
            seconds = time.monotonic() - t0
            self.record.finish(name, seconds, result)
            self.out.absorb(result)
            detail = result.detail()
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
        # another release (re-running yesterday's timestamp must not replace today's), but it does put
        # its own release back when that is recorded live and does not serve (a killed container).
        if name not in ("deploy", "verify"):
            return False
        if self.record.done("verify"):
            return self._own_release_down
        alias, _ = records.read_alias(self.store, self.settings.deploy.target_name())
        return name == "deploy" and (alias is None or alias.live != self.version)

    @functools.cached_property
    def _own_release_down(self) -> bool:
        """This run's release is recorded live but does not serve (asked once a run: it opens the target)."""
        alias, _ = records.read_alias(self.store, self.settings.deploy.target_name())
        if alias is None or alias.live != self.version or alias.lease is not None:
            return False
        target, _, _ = open_target(self.settings, self.report)
        return target.live_problem(alias.details) is not None

    def _failed(
        self, name: str, cause: KwrecError | str, t0: float, exc: BaseException | None = None
    ) -> NoReturn:
        self.record.fail(name, str(cause))
        self.out.steps.append(StepRun(name, "failed", round(time.monotonic() - t0, 2), str(cause)))
        live = live_release(self.settings, self.store)
        serving = f"{live.version} keeps serving" if live else "nothing was live before"
        raise ChainStepError(
            name, cause, hint=f"{serving}; fix the cause and resume with `kwrec run --timestamp {self.ts}`"
        ) from (exc or (cause if isinstance(cause, BaseException) else None))

    # ---- steps ------------------------------------------------------------------------------------
    def _detect(self) -> Detection:
        found = detect_changes(self.settings, self.store)
        for p in found.problems:
            self.report(f"skipped: {p}")
        self.detection = found
        return found

    def _train(self) -> TrainResult:
        detection = self.detection or self.record.done("detect")
        assert isinstance(detection, Detection)
        day = TrainingDay.read(self.settings, self.store)
        for customer in detection.customers:
            try:
                self.entries[customer] = train_customer_step(
                    self.settings, self.store, customer, self.ts, self.report, day=day
                )
            except CUSTOMER_INPUT_ERRORS as exc:
                self.failed[customer] = str(exc)
                self.report(f"{customer}: FAILED: {exc}")
        if not self.entries:
            raise KwrecError(
                "no customer could be trained",
                hint="; ".join(f"{c}: {r}" for c, r in self.failed.items()) or "add customers' logs",
            )
        trained = sorted(c for c, e in self.entries.items() if e.trained_in == self.version)
        return TrainResult(trained, sorted(set(self.entries) - set(trained)), self.failed)

    def _gate(self) -> GateResult:
        result = gate_step(self.settings, self.store, self.entries, self.report)
        self.decisions = result.decisions
        return result

    def _release(self) -> ReleaseResult:
        problems = self.detection.problems if self.detection else []
        outcome = release_step(
            self.settings,
            self.store,
            self.ts,
            self.entries,
            self.failed,
            problems,
            self.decisions,
            self.report,
        )
        return ReleaseResult(
            outcome.trained,
            outcome.reused,
            outcome.failed,
            {d.customer: d.to_dict() for d in self.decisions if d.held_back},
        )

    def _build(self) -> BuildResult:
        return build_step(self.settings, self.store, self.version, self.report)

    def _push(self) -> PushResult:
        return push_step(self.settings, self.store, self.version, self.report)

    def _deploy(self) -> DeployResult:
        return deploy_step(self.settings, self.store, self.version, self.report)

    def _verify(self) -> VerifyResult:
        return verify_step(self.settings, self.store, self.version, self.report)
