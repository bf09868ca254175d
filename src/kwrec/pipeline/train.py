"""Train a release: every customer under the data directory, reusing unchanged customers' artifacts."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kwrec import ARTIFACT_FORMAT, TRAINING_REVISION, __version__
from kwrec.adapters.sources import open_logs
from kwrec.core.evaluation import evaluate_events, held_out, versus_mpc
from kwrec.core.gate import GateAgainst, candidate_stability, gate_scores
from kwrec.core.ingest import (
    CustomerLogs,
    LogSource,
    fingerprint_inputs,
    list_customers,
    load_customer_config,
)
from kwrec.core.manifest import (
    CustomerEntry,
    Manifest,
    ShardRecord,
    list_versions,
    now_iso,
    read_manifest,
    write_manifest,
)
from kwrec.core.models.customer_model import CustomerModel, verify_artifact
from kwrec.core.models.train import train_customer
from kwrec.core.preprocess import read_and_preprocess
from kwrec.core.rules import NO_BANS, LiveBans
from kwrec.core.rules_store import RuleSet, read_rules
from kwrec.core.shards import ShardPolicy, assign_shards, group_customers, shard_fingerprint
from kwrec.core.store import ArtifactStore
from kwrec.core.store_layout import (
    artifact_key,
    corrupt_artifact_prefix,
    input_index_key,
    input_index_prefix,
    quarantine_key,
)
from kwrec.errors import CUSTOMER_INPUT_ERRORS, ArtifactError, DataError, KwrecError
from kwrec.ids import make_version
from kwrec.reporting import Report, silent
from kwrec.settings import Settings, TrainParams
from kwrec.settings.evaluate import EvaluateSettings


@dataclass
class TrainOutcome:
    manifest: Manifest
    trained: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def input_key(fingerprint: str, params: TrainParams, bans: LiveBans = NO_BANS) -> str:
    """What decides whether an artifact can be reused: inputs, parameters, the artifact format and the
    training revision (how files are read and trained), and the live blocks training leaves out (only
    when there are some)."""
    fields: dict[str, Any] = {
        "inputs": fingerprint,
        "params": params.model_dump(mode="json"),
        "format": ARTIFACT_FORMAT,
        "revision": TRAINING_REVISION,
    }
    if bans.key() is not None:
        fields["live_bans"] = bans.key()
    blob = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def live_rules(settings: Settings, store: ArtifactStore) -> RuleSet:
    """The live rules training honours (``kwrec block``): none when rules are off."""
    return read_rules(store)[0] if settings.rules.enabled else RuleSet()


def open_data(settings: Settings, data_dir: Path | str | None = None) -> LogSource:
    """The customers' logs: ``data_dir`` (a folder or s3://bucket/prefix), else the settings' one.

    A data directory that is not there, or is a file, is the user's mistake: said before any work.
    """
    own = (Path(settings.cache_dir), *(() if "://" in settings.store else (Path(settings.store),)))
    data = open_logs(data_dir if data_dir is not None else settings.data_dir, settings.s3, own)
    if data.exists():
        return data
    local = Path(data.url) if "://" not in data.url else None
    what = "is a file, not a directory" if local is not None and local.is_file() else "does not exist"
    raise DataError(
        f"data directory {data.url} {what}",
        hint="pass --data DIR (or s3://bucket/prefix) holding one folder of logs per customer",
    )


def train_customer_entry(
    store: ArtifactStore,
    customer_dir: CustomerLogs,
    customer: str,
    version: str,
    base: TrainParams,
    evaluate: bool,
    report: Report,
    *,
    cache_dir: Path,
    gate: GateAgainst | None = None,
    bans: LiveBans = NO_BANS,
    protocol: EvaluateSettings | None = None,
) -> CustomerEntry:
    """Train one customer into the store (or reuse its artifact when its inputs are unchanged).

    With ``gate`` (the live model of the customer), the quality gate's comparison is made here too,
    on the events already read: the entry carries the numbers, and the gate step only decides.

    A reused artifact is checked against its checksums first; a corrupt one is moved aside and the
    customer is trained again from its logs (so one damaged file cannot poison every later release).

    Public so that orchestrators can train customers in parallel (one Airflow task each) and then
    call :func:`assemble_release` with the entries.
    """
    config = load_customer_config(customer_dir).with_live_bans(bans)
    params = config.train_params(base)
    banned = config.banned_text
    fingerprint = fingerprint_inputs(customer_dir)
    key = input_key(fingerprint, params, bans)
    previous = reusable_entry(store, customer, key, verify_in=cache_dir, report=report)
    if previous is not None:
        report(f"{customer}: inputs unchanged, reusing artifact {previous.artifact[:12]}")
        return previous
    # Kept after the run (a failed customer's rejected rows are what its owner needs to read); the
    # release stores a copy once the customer trains.
    kept = quarantine_file(cache_dir, version, customer)
    with tempfile.TemporaryDirectory(prefix=f"kwrec-{customer}-") as tmp:
        tmpdir = Path(tmp)
        try:
            pre, quarantine = read_and_preprocess(customer_dir, config, params, kept, report)
            if pre.events.height == 0:
                raise DataError(
                    f"customer {customer}: no usable search event after preprocessing",
                    hint=f"see {kept.resolve()} for why rows were rejected",
                )
        except DataError as exc:
            # The local copy is on whichever worker ran the task: the store is where its owner can read it
            # (a store that is not there yet is left uncreated: a failed first train creates nothing).
            if kept.exists() and store.exists_at_all():
                key = quarantine_key(version, customer)
                store.write_bytes(key, kept.read_bytes())
                exc.hint = "; ".join(filter(None, (exc.hint, f"rejected rows: {store.url}/{key}")))
            raise
        if quarantine.counts:
            report(f"{customer}: {quarantine.summary()}")
            store.write_bytes(quarantine_key(version, customer), kept.read_bytes())
        evaluation, scores = None, None
        protocol = protocol or EvaluateSettings()
        # When evaluation and the gate split the events alike (the default), one held-out model serves both.
        share = evaluate and gate is not None and gate.policy.test_fraction == protocol.test_fraction
        fraction = protocol.test_fraction
        with (
            held_out(pre.events, params, fraction, customer=customer, banned=banned)
            if share
            else nullcontext()
        ) as shared:
            if evaluate:
                report(f"{customer}: evaluating (time split)")
                evaluation = evaluate_events(
                    pre.events, params, customer=customer, protocol=protocol, banned=banned, trained=shared
                )
            if gate is not None:
                scores = gate_scores(
                    store,
                    pre.events,
                    params,
                    customer,
                    gate,
                    cache_dir,
                    report,
                    banned=banned,
                    trained=shared,
                )
        report(f"{customer}: training on {pre.events.height:,} events")
        # Hand the frame over instead of keeping a reference: training turns it into integer codes
        # early, and the string columns can then be freed (peak memory on large customers).
        stats, handover = pre.stats, [pre.events]
        del pre
        meta = train_customer(
            handover.pop(), params, tmpdir / "artifact", customer=customer, report=report, banned=banned
        )
        if warning := nothing_to_suggest(customer, meta["stats"]):
            report(warning)
        if gate is not None and scores is not None and not scores.get("note"):
            # The guardrail's number, while the candidate is at hand (docs/diff.md: stability).
            candidate = CustomerModel(tmpdir / "artifact", meta)
            scores["stability"] = candidate_stability(store, gate, candidate, cache_dir)
        checksum = meta["checksum"]
        akey = artifact_key(customer, checksum)
        if not store.dir_exists(akey):
            store.upload_dir(tmpdir / "artifact", akey)
        size = sum(f.stat().st_size for f in (tmpdir / "artifact").rglob("*") if f.is_file())
    entry = CustomerEntry(
        status="trained",
        input_fingerprint=fingerprint,
        artifact=checksum,
        artifact_key=akey,
        trained_in=version,
        params=params.model_dump(mode="json"),
        stats={**meta["stats"], MODEL_BYTES: size},
        ingest={
            "quarantined": dict(quarantine.counts),
            "preprocess": stats,
            **({"live_bans": bans.key()} if bans.key() is not None else {}),
        },
        evaluation=evaluation,
        gate=scores,
    )
    store.write_bytes(input_index_key(customer, key), entry.model_dump_json().encode())
    return entry


def quarantine_file(cache_dir: Path, run: str, customer: str) -> Path:
    """Where a customer's rejected rows of one run (a release version, or ``evaluate``) are kept."""
    return Path(cache_dir) / "quarantine" / run / f"{customer}.jsonl"


def reusable_entry(
    store: ArtifactStore,
    customer: str,
    key: str,
    *,
    verify_in: Path | None = None,
    report: Report = silent,
) -> CustomerEntry | None:
    """The artifact already trained from exactly these inputs and parameters, if it is still stored.

    With ``verify_in`` (a cache directory) its files are checked against their checksums too, and a
    corrupt artifact is moved aside (:func:`quarantine_artifact`) and not reused.
    """
    index_key = input_index_key(customer, key)
    if not store.exists(index_key):
        return None
    previous = json.loads(store.read_bytes(index_key))
    if not store.dir_exists(previous["artifact_key"]):
        return None
    entry = CustomerEntry(**{**previous, "status": "reused"})
    if verify_in is not None:
        local = store.fetch_dir(entry.artifact_key, verify_in)
        try:
            verify_artifact(local, entry.artifact)
        except ArtifactError as exc:
            aside = quarantine_artifact(store, customer, entry, exc.message, local)
            report(
                f"{customer}: the stored artifact {entry.artifact[:12]} is corrupt ({exc.message}); "
                f"moved it aside to {aside} and training again from the logs"
            )
            return None
    return entry


def quarantine_artifact(
    store: ArtifactStore, customer: str, entry: CustomerEntry, reason: str, local: Path
) -> str:
    """Move a corrupt artifact aside (with why, when, and which release trained it); drop its pointers.

    ``local`` is the artifact's files as fetched from the store (the damaged bytes are kept).
    """
    when = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    aside = corrupt_artifact_prefix(customer, entry.artifact, when)
    with tempfile.TemporaryDirectory(prefix=f"kwrec-corrupt-{customer}-") as tmp:
        copy = Path(tmp) / "aside"
        shutil.copytree(local, copy, ignore=shutil.ignore_patterns(".*"))  # the store's own markers stay
        record = {"artifact_key": entry.artifact_key, "trained_in": entry.trained_in, "reason": reason}
        (copy / "reason.json").write_text(json.dumps({**record, "moved": when}, indent=1, sort_keys=True))
        store.upload_dir(copy, aside)
    store.delete_prefix(entry.artifact_key)
    drop_input_pointers(store, entry.artifact_key)
    return aside


def drop_input_pointers(store: ArtifactStore, artifact_key: str) -> None:
    """Delete the by-input pointers to an artifact that is gone (gc'd or moved aside as corrupt)."""
    customer = artifact_key.split("/")[1]
    for key in store.list_keys(input_index_prefix(customer)):
        try:
            if json.loads(store.read_bytes(key)).get("artifact_key") == artifact_key:
                store.delete_prefix(key)
        except (ValueError, AttributeError):
            continue


def train_release(
    settings: Settings,
    store: ArtifactStore,
    *,
    timestamp: str,
    data_dir: Path | str | None = None,
    evaluate: bool = True,
    report: Report = silent,
    progress: Callable[[int, int], None] = lambda _done, _total: None,
) -> TrainOutcome:
    """Train every customer under the data directory into release ``<model_name>_<timestamp>``.

    ``progress(done, total)`` is called after each customer (for a progress bar).

    One customer's failure (no data, unreadable config) is recorded and the others go on. Re-running
    with the same timestamp and unchanged inputs rewrites an identical manifest.
    """
    started = time.monotonic()
    version = make_version(settings.model_name, timestamp)
    data = open_data(settings, data_dir)
    customers, problems = list_customers(data)
    for p in problems:
        report(f"skipped: {p}")
    entries: dict[str, CustomerEntry] = {}
    failed: dict[str, str] = {}
    rules = live_rules(settings, store)
    progress(0, len(customers))
    for done, customer in enumerate(customers, 1):
        try:
            entries[customer] = train_customer_entry(
                store,
                data.customer(customer),
                customer,
                version,
                settings.train,
                evaluate,
                report,
                cache_dir=settings.cache_dir,
                bans=rules.bans(customer, datetime.now(UTC)),
                protocol=settings.evaluate,
            )
        except CUSTOMER_INPUT_ERRORS as exc:
            failed[customer] = str(exc)
            report(f"{customer}: FAILED: {exc}")
        progress(done, len(customers))
    outcome = assemble_release(
        settings, store, timestamp=timestamp, entries=entries, failed=failed, problems=problems, data=data
    )
    outcome.seconds = time.monotonic() - started
    return outcome


def assemble_release(
    settings: Settings,
    store: ArtifactStore,
    *,
    timestamp: str,
    entries: dict[str, CustomerEntry],
    failed: dict[str, str],
    problems: list[str],
    data: LogSource,
) -> TrainOutcome:
    """Write release ``<model_name>_<timestamp>``'s manifest from per-customer entries (idempotent)."""
    version = make_version(settings.model_name, timestamp)
    existing: Manifest | None = None
    try:
        existing = read_manifest(store, version)
    except KwrecError:
        existing = None
    outcome_entries: dict[str, CustomerEntry] = {}
    trained: list[str] = []
    reused: list[str] = []
    for customer, entry in sorted(entries.items()):
        if (
            existing
            and customer in existing.customers
            and existing.customers[customer].artifact == entry.artifact
        ):
            entry = existing.customers[customer]  # a re-run of this timestamp: keep the record as it was
        (trained if entry.status == "trained" and entry.trained_in == version else reused).append(customer)
        outcome_entries[customer] = entry
    if not outcome_entries:
        raise DataError(
            f"no customer could be trained from {data.url}",
            # The reasons were reported one by one as each customer failed: name the customers only.
            hint=f"every customer failed: {', '.join(failed)} (reasons above)"
            if failed
            else "add one folder of logs per customer",
        )
    manifest = Manifest(
        version=version,
        model_name=settings.model_name,
        timestamp=timestamp,
        created=existing.created if existing else now_iso(),
        code_version=__version__,
        customers=outcome_entries,
        failed=failed,
        problems=problems,
        image=existing.image if existing else None,
        deployments=existing.deployments if existing else [],
        rules_version=live_rules(settings, store).version or None,
    )
    manifest.shards = plan_shards(settings, store, manifest, existing)
    if existing is None or existing.to_bytes() != manifest.to_bytes():
        write_manifest(store, manifest)
    return TrainOutcome(manifest, trained, reused, dict(failed))


MODEL_BYTES = "model_bytes"  # in CustomerEntry.stats: the artifact's size, what shards are balanced by


def model_bytes(store: ArtifactStore, entry: CustomerEntry, cache_dir: Path) -> int:
    """Bytes of a customer's artifact files (recorded at training; older entries: measured once)."""
    recorded = entry.stats.get(MODEL_BYTES)
    if isinstance(recorded, int):
        return recorded
    local = store.fetch_dir(entry.artifact_key, cache_dir)
    return sum(f.stat().st_size for f in local.rglob("*") if f.is_file() and not f.name.startswith("."))


def _previous_sharded(store: ArtifactStore, version: str) -> Manifest | None:
    """The newest release before ``version`` that records shards (whose assignment a new one keeps)."""
    ts = version.rsplit("_", 1)[1]
    for v in reversed([v for v in list_versions(store) if v.rsplit("_", 1)[1] < ts]):
        try:
            m = read_manifest(store, v)
        except KwrecError:
            continue
        if m.shards:
            return m
    return None


def plan_shards(
    settings: Settings, store: ArtifactStore, manifest: Manifest, existing: Manifest | None
) -> dict[str, ShardRecord]:
    """The release's shards: yesterday's assignment kept, new customers placed, unchanged shards reused.

    A shard whose customers all kept their artifacts (same fingerprint as in the previous release, or
    in an earlier attempt of this one) keeps the image built for it there.
    """
    cfg = settings.release
    previous = _previous_sharded(store, manifest.version)
    base = existing if existing is not None and existing.shards else previous
    sticky = {c: s for s, rec in (base.shards.items() if base else []) for c in rec.customers}
    sizes = {c: model_bytes(store, e, settings.cache_dir) for c, e in manifest.customers.items()}
    assignment = assign_shards(
        sizes,
        sticky,
        ShardPolicy(cfg.shards, cfg.max_customers_per_shard, cfg.max_model_bytes_per_shard),
        rebalance=cfg.rebalance,
    )
    shards: dict[str, ShardRecord] = {}
    for shard in sorted(set(assignment.values())):
        customers = group_customers(assignment, shard)
        fingerprint = shard_fingerprint(
            {c: manifest.customers[c].artifact for c in customers}, __version__, settings.image.base_image
        )
        for earlier in (existing, previous):
            rec = earlier.shards.get(shard) if earlier is not None else None
            if (
                rec is not None
                and rec.fingerprint == fingerprint
                and (rec.built_in == manifest.version or (rec.image is not None and rec.image.id))
            ):
                shards[shard] = rec
                break
        else:
            shards[shard] = ShardRecord(
                customers=customers, fingerprint=fingerprint, built_in=manifest.version
            )
    return shards


def _queries(n: int) -> str:
    return f"{n} query" if n == 1 else f"{n} queries"


def nothing_to_suggest(customer: str, stats: dict[str, Any]) -> str | None:
    """A warning when ``customer``'s model (its artifact ``stats``) suggests nothing, naming the rule
    that kept its queries out; None when it has keywords."""
    if stats.get("keywords") != 0:
        return None
    why = []
    if below := stats.get("below_min_users"):
        floor = stats.get("min_users_effective")
        why.append(f"{_queries(below)} typed by fewer than [train] min_users = {floor} people")
    if zero := stats.get("mostly_zero_results"):
        why.append(f"{_queries(zero)} whose searches mostly found nothing ([train] zero_result_max_share)")
    reason = "; ".join(why) or "no query left after preprocessing"
    return f"warning: {customer}: nothing to suggest: {reason}"


def summary_rows(manifest: Manifest) -> list[dict[str, Any]]:
    rows = []
    for customer, e in sorted(manifest.customers.items()):
        ev = (e.evaluation or {}).get("autocomplete", {})
        rows.append(
            {
                "customer": customer,
                "status": e.status,
                "keywords": e.stats.get("keywords"),
                "events": e.stats.get("events"),
                "quarantined": sum(e.ingest.get("quarantined", {}).values()),
                "mrr@10": ev.get("kwrec/all", {}).get("mrr@10"),
                "mpc mrr@10": ev.get("mpc/all", {}).get("mrr@10"),
                "seen x mpc": versus_mpc(e.evaluation)["seen"] if e.evaluation else None,
                "artifact": e.artifact[:12],
            }
        )
    return rows
