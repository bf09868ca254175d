"""The daily kwrec release as an Airflow 3 DAG: every task calls one step of ``kwrec.pipeline.steps``.

get_current_dag_run_time >> take_release_lock >> detect_changed_customers >> train_customer (mapped, one
per batch of new/changed customers: small ones share a task, large ones have their own; see
``kwrec.core.batches``) >> evaluate_and_gate >> publish_release >> build_docker_image >>
push_docker_image >> deploy >> verify, and release_release_lock as teardown (it runs even when a step
failed, and does not hide the failure: teardowns do not decide the run's state).

Configuration is kwrec's own (``$KWREC_CONFIG`` / ``kwrec.toml`` / ``KWREC_*`` on the worker); the DAG
reads ``[run.airflow]`` (schedule, queue, retries) when it is parsed. XCom carries only timestamps,
versions, customer ids, artifact records and gate numbers: never settings, credentials or tokens.
See docs/airflow.md.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, get_current_context, setup, task, teardown
from airflow.sdk.exceptions import AirflowFailException

from kwrec import (
    CUSTOMER_INPUT_ERRORS,
    ArtifactStore,
    CustomerEntry,
    CustomerTraining,
    GateDecision,
    KwrecError,
    RunLock,
    Settings,
    TrainingDay,
    build_step,
    deploy_step,
    detect_changes,
    gate_step,
    list_customers,
    load_settings,
    make_version,
    open_data,
    open_store,
    push_step,
    release_owned,
    release_step,
    train_customer_step,
    verify_step,
)

log = logging.getLogger("kwrec.dag")

AIRFLOW = load_settings().run.airflow
RETRY: dict[str, Any] = {
    "retries": AIRFLOW.retries,
    "retry_delay": timedelta(seconds=AIRFLOW.retry_delay_seconds),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(seconds=AIRFLOW.max_retry_delay_seconds),
}


def _open() -> tuple[Settings, ArtifactStore]:
    settings = load_settings()
    return settings, open_store(settings.store, settings.s3)


def _lock_owner() -> str:
    ctx = get_current_context()
    return f"airflow:{ctx['dag'].dag_id}:{ctx['run_id']}"


def _hold_lock(settings: Settings, store: ArtifactStore, release_ts: str) -> None:
    # Re-entrant for this DAG run: renews the expiry, or fails if another chain took the store meanwhile.
    version = make_version(settings.model_name, release_ts)
    RunLock(store, _lock_owner(), version, settings.run.lock_seconds).acquire()


def _step(what: str, fn: Any, *args: Any) -> Any:
    """Run a kwrec step: an error that says a retry cannot help fails the task at once (no hour of
    retries for a typo); any other may be retried by Airflow."""
    try:
        return fn(*args)
    except KwrecError as exc:
        if not exc.retryable:
            raise AirflowFailException(f"{what} failed: {exc}") from exc
        raise RuntimeError(f"{what} failed (will retry if retries remain): {exc}") from exc


def _entries(
    settings: Settings, store: ArtifactStore, release_ts: str, trained: list[list[dict[str, Any]]]
) -> tuple[dict[str, CustomerEntry], dict[str, str], list[str]]:
    """Every customer's entry: from the training tasks, or (unchanged inputs) from the store's index."""
    entries: dict[str, CustomerEntry] = {}
    failed: dict[str, str] = {}
    for item in (CustomerTraining.from_dict(d) for batch in trained for d in batch):
        if item.entry is None:
            failed[item.customer] = str(item.failed)
        else:
            entries[item.customer] = item.entry
    customers, problems = list_customers(open_data(settings))
    day = TrainingDay.read(settings, store)
    for customer in customers:
        if customer not in entries and customer not in failed:
            # Content-addressed: inputs that did not change return their artifact without training.
            reuse = functools.partial(train_customer_step, day=day)
            entries[customer] = _step(
                f"reusing {customer}", reuse, settings, store, customer, release_ts, log.info
            )
    return entries, failed, problems


with DAG(
    dag_id=AIRFLOW.dag_id,
    description="kwrec: train changed customers, gate, release, build, push, deploy and verify",
    schedule=AIRFLOW.schedule or None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=AIRFLOW.max_active_tasks,
    default_args={"owner": AIRFLOW.owner, "queue": AIRFLOW.queue, "retries": 0},
    tags=["kwrec"],
) as dag:

    @task
    def get_current_dag_run_time() -> str:
        """The release timestamp YYMMDDHHMM (UTC) from the run's logical date (manual runs: run_after)."""
        ctx = get_current_context()
        when = ctx.get("logical_date") or ctx["dag_run"].run_after
        release_ts = when.astimezone(UTC).strftime("%y%m%d%H%M")
        log.info("release timestamp %s", release_ts)
        return release_ts

    @setup
    def take_release_lock(release_ts: str) -> str:
        settings, store = _open()
        _step("taking the release-chain lock", _hold_lock, settings, store, release_ts)
        return make_version(settings.model_name, release_ts)

    @task
    def detect_changed_customers(release_ts: str, version: str) -> list[list[str]]:
        settings, store = _open()
        _hold_lock(settings, store, release_ts)
        found = _step("detecting changed customers", detect_changes, settings, store)
        for problem in found.problems:
            log.warning("skipped: %s", problem)
        batches = found.batches(settings)
        log.info(
            "%s: new or changed %s, unchanged %s; %d training task(s)",
            version,
            found.changed,
            found.unchanged,
            len(batches),
        )
        return batches  # the list the training tasks are mapped over

    @task(queue=AIRFLOW.train_queue or AIRFLOW.queue, **{**RETRY, "retries": AIRFLOW.train_retries})
    def train_customer(customers: list[str], release_ts: str) -> list[dict[str, Any]]:
        """Train a batch of customers. A retry finds the ones already trained in the store."""
        log.info("training %d customer(s): %s", len(customers), ", ".join(customers))
        settings, store = _open()
        day = TrainingDay.read(settings, store)
        out = []
        for customer in customers:
            _hold_lock(settings, store, release_ts)
            try:
                entry = train_customer_step(settings, store, customer, release_ts, log.info, day=day)
            except CUSTOMER_INPUT_ERRORS as exc:
                # The customer's own data or config is unusable: the others go on, the release records why.
                log.error("%s: training failed: %s", customer, exc)
                out.append(CustomerTraining(customer, failed=str(exc)).to_dict())
                continue
            log.info("%s: %s artifact %s", customer, entry.status, entry.artifact[:12])
            out.append(CustomerTraining(customer, entry).to_dict())
        return out

    @task(trigger_rule="none_failed")
    def evaluate_and_gate(release_ts: str, trained: list[list[dict[str, Any]]]) -> list[Any]:
        settings, store = _open()
        _hold_lock(settings, store, release_ts)
        entries, _, _ = _entries(settings, store, release_ts, list(trained or []))
        gated = _step("the quality gate", gate_step, settings, store, entries, log.info)
        for d in gated.decisions:
            log.info(d.describe())
        return list(gated.to_dict()["decisions"])

    @task(trigger_rule="none_failed")
    def publish_release(
        release_ts: str,
        trained: list[list[dict[str, Any]]],
        decisions: list[dict[str, Any]],
    ) -> str:
        settings, store = _open()
        _hold_lock(settings, store, release_ts)
        entries, failed, problems = _entries(settings, store, release_ts, list(trained or []))
        gated = [GateDecision(**d) for d in decisions]
        outcome = _step(
            "publishing the release",
            release_step,
            settings,
            store,
            release_ts,
            entries,
            failed,
            problems,
            gated,
            log.info,
        )
        log.info(
            "release %s: trained %s, reused %s, failed %s, held back %s",
            outcome.manifest.version,
            outcome.trained,
            outcome.reused,
            sorted(outcome.failed),
            [d.customer for d in gated if d.held_back],
        )
        return str(outcome.manifest.version)

    @task(**RETRY)
    def build_docker_image(version: str, release_ts: str) -> dict[str, Any]:
        """One image per shard this release changed; the others keep their images."""
        settings, store = _open()
        _hold_lock(settings, store, release_ts)
        built = _step("build_docker_image", build_step, settings, store, version, log.info)
        return dict(built.to_dict())

    @task(**RETRY)
    def push_docker_image(version: str, release_ts: str) -> dict[str, Any]:
        settings, store = _open()
        _hold_lock(settings, store, release_ts)
        pushed = _step("push_docker_image", push_step, settings, store, version, log.info)
        return dict(pushed.to_dict())

    @task(**RETRY)
    def deploy(version: str, release_ts: str) -> dict[str, Any]:
        settings, store = _open()
        _hold_lock(settings, store, release_ts)
        deployed = _step("deploy", deploy_step, settings, store, version, log.info)
        return dict(deployed.to_dict())

    @task
    def verify(version: str, release_ts: str) -> dict[str, Any]:
        settings, store = _open()
        _hold_lock(settings, store, release_ts)
        verified = _step("verify", verify_step, settings, store, version, log.info)
        return dict(verified.to_dict())

    @teardown
    def release_release_lock() -> None:
        _, store = _open()
        freed = release_owned(store, _lock_owner())
        log.info("release-chain lock %s", "released" if freed else "was not held by this run")

    release_ts = get_current_dag_run_time()
    locked = take_release_lock(release_ts)
    detected = detect_changed_customers(release_ts, locked)
    trained = train_customer.partial(release_ts=release_ts).expand(customers=detected)
    decisions = evaluate_and_gate(release_ts, trained)
    version = publish_release(release_ts, trained, decisions)
    built = build_docker_image(version, release_ts)
    pushed = push_docker_image(version, release_ts)
    deployed = deploy(version, release_ts)
    verified = verify(version, release_ts)
    unlock = release_release_lock()
    built >> pushed >> deployed >> verified >> unlock
    locked >> unlock
