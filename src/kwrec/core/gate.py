"""The quality gate of a release (PRODUCT.md step 4): a customer whose new model is worse than the live
one beyond a tolerance keeps the live model.

Both models are scored on the SAME prefixes of the newest part of the customer's current logs (a time
split). The new model is trained again on the older part only, so it has not seen the test queries;
the live model was trained on yesterday's logs, which normally precede today's test part. (When a
customer's logs did not grow, e.g. only its ban list changed, the live model has seen the test part:
the gate then leans towards keeping the live model, the safe direction.)
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import polars as pl

from kwrec.core.evaluation import (
    FLOORED,
    Accumulator,
    HeldOut,
    K,
    held_out,
    prepared_baselines,
    rank_of,
    test_cases,
    users_floor,
)
from kwrec.core.ingest import load_customer_config
from kwrec.core.ingest.source import CustomerLogs, as_customer_logs
from kwrec.core.manifest import CustomerEntry, Manifest
from kwrec.core.models.banned import BannedText
from kwrec.core.models.customer_model import CustomerModel
from kwrec.core.models.protocol import Suggestion
from kwrec.core.preprocess import read_and_preprocess
from kwrec.core.release_diff import open_model, stability
from kwrec.core.rules import LiveBans
from kwrec.core.store import ArtifactStore
from kwrec.errors import ArtifactError, StoreError
from kwrec.reporting import Report
from kwrec.settings import TrainParams
from kwrec.settings.evaluate import EvaluateSettings

Action = Literal["new", "unchanged", "accepted", "held back"]


class Completer(Protocol):
    def autocomplete(self, query: str, limit: int = 10) -> list[Suggestion]: ...


@dataclass(frozen=True)
class GatePolicy:
    """How the gate compares: ``[run] gate_*`` settings."""

    tolerance: float  # a new MRR@10 below the live one's minus this is held back
    test_fraction: float  # newest share of events tested on
    prefixes_per_query: int
    max_test_queries: int
    # the guardrail: a candidate keeping less than this of the live model's suggestions (stability,
    # mean overlap@10 over the customer's most-typed prefixes) is held back; None: off
    stability_floor: float | None = None

    def protocol(self) -> EvaluateSettings:
        return EvaluateSettings(
            test_fraction=self.test_fraction,
            prefixes=self.prefixes_per_query,
            max_test_queries=self.max_test_queries,
        )


@dataclass
class GateDecision:
    customer: str
    action: Action
    live_version: str | None = None
    new_mrr: float | None = None
    live_mrr: float | None = None
    tolerance: float | None = None
    prefixes: int | None = None
    note: str | None = None
    stability: float | None = None
    stability_floor: float | None = None
    mpc_mrr: float | None = None  # most-popular completion on the same test prefixes
    mpc_floor_mrr: float | None = None  # the same held to the privacy floor (where it acts)

    @property
    def below_mpc(self) -> bool:
        return self.new_mrr is not None and self.mpc_mrr is not None and self.new_mrr < self.mpc_mrr

    @property
    def held_back(self) -> bool:
        return self.action == "held back"

    @property
    def unstable(self) -> bool:
        """Held back by the stability guardrail (not by MRR@10)."""
        return (
            self.stability is not None
            and self.stability_floor is not None
            and self.stability < self.stability_floor
        )

    def describe(self) -> str:
        if self.note:
            return f"{self.customer}: {self.action}: {self.note}"
        if self.action in ("new", "unchanged"):
            return f"{self.customer}: {self.action}, no comparison needed"
        if self.unstable:
            return (
                f"{self.customer}: HELD BACK (keeps the live model): stability {self.stability:.2f} < "
                f"floor {self.stability_floor:.2f} against live {self.live_version}"
            )
        verdict = "HELD BACK (keeps the live model)" if self.held_back else "accepted"
        mpc = "" if self.mpc_mrr is None else f", MPC {self.mpc_mrr}"
        warning = "; BELOW the most-popular-completion baseline" if self.below_mpc else ""
        if warning and self.mpc_floor_mrr is not None:
            # What one person typed MPC shows and kwrec may not: that part of the gap is the floor's.
            warning += f" (held to the privacy floor, MPC {self.mpc_floor_mrr})"
        return (
            f"{self.customer}: {verdict}: new mrr@10 {self.new_mrr} vs live {self.live_mrr} "
            f"({self.live_version}){mpc}, tolerance {self.tolerance}, {self.prefixes} test prefixes"
            + ("" if self.stability is None else f", stability {self.stability:.2f}")
            + warning
        )

    def to_dict(self) -> dict[str, Any]:
        # Fields added later only when set: a decision recorded before them writes back the same.
        data = asdict(self)
        for name in ("stability", "stability_floor", "mpc_mrr", "mpc_floor_mrr"):
            if data[name] is None:
                del data[name]
        return data


def score_model(model: Completer, cases: list[tuple[str, list[str]]]) -> dict[str, float | int]:
    """Autocomplete MRR@10 and success@k of an already-trained model on the given test cases."""
    return score_answers(lambda prefix: [s.keyword.lower() for s in model.autocomplete(prefix, K)], cases)


def score_answers(
    complete: Callable[[str], list[str]], cases: list[tuple[str, list[str]]]
) -> dict[str, float | int]:
    """MRR@10 and success@k of any completer (kwrec's model, the MPC baseline) on the test cases."""
    acc = Accumulator()
    for query, prefixes in cases:
        for prefix in prefixes:
            acc.add(rank_of(complete(prefix), query))
    return acc.report()


@dataclass(frozen=True)
class GateAgainst:
    """What a training task compares its candidate with: the live release's model of the customer."""

    version: str
    entry: CustomerEntry
    policy: GatePolicy
    # The live model once fetched and checked: the MRR comparison and the stability both read it.
    _opened: dict[str, CustomerModel] = field(default_factory=dict, compare=False, repr=False)

    def live_model(self, store: ArtifactStore, cache_dir: Path) -> CustomerModel:
        """The live model of the customer (its files hashed once, however many numbers use it)."""
        if "live" not in self._opened:
            self._opened["live"] = open_model(store, self.entry, cache_dir)
        return self._opened["live"]

    def key(self) -> dict[str, Any]:
        """What the numbers depend on: scores computed against another key are computed again."""
        p = self.policy
        return {
            "live_version": self.version,
            "live_artifact": self.entry.artifact,
            "test_fraction": p.test_fraction,
            "prefixes_per_query": p.prefixes_per_query,
            "max_test_queries": p.max_test_queries,
        }


def gate_scores(
    store: ArtifactStore,
    events: pl.DataFrame,
    params: TrainParams,
    customer: str,
    against: GateAgainst,
    cache_dir: Path,
    report: Report,
    banned: BannedText | None = None,
    trained: HeldOut | None = None,
) -> dict[str, Any]:
    """The gate's numbers for the candidate trained from ``events``: computed where the events already are
    (the customer's training task), so a day's gate runs in parallel with training and reads no log again.

    Both models are scored on the same prefixes of the newest ``test_fraction`` of ``events``; the
    candidate is trained again on the older part only, unless ``trained`` (the evaluation's model, on
    the same split) already is.
    """
    out: dict[str, Any] = against.key()
    policy = against.policy
    try:
        live_model = against.live_model(store, cache_dir)
    except (ArtifactError, StoreError) as exc:
        # A live model this kwrec cannot read (an older artifact format after an upgrade, a damaged
        # store) cannot be compared with; refusing the new model would leave the unreadable one live.
        return {**out, "note": f"live model not comparable ({exc})"}
    fraction = policy.test_fraction
    with held_out(events, params, fraction, customer=customer, banned=banned, reuse=trained) as candidate:
        cases = test_cases(candidate.test, policy.protocol())
        shared = "" if candidate is trained else ", the candidate trained on the older part"
        report(f"{customer}: gate: {len(cases)} test queries{shared}")
        new = score_model(candidate.model, cases)
        old = score_model(live_model, cases)
        train = candidate.train
    baselines = prepared_baselines(train, users_floor(train, params), cases)
    scored = {name: float(score_answers(b.complete, cases)["mrr@10"]) for name, b in baselines.items()}
    return {
        **out,
        "new_mrr": float(new["mrr@10"]),
        "live_mrr": float(old["mrr@10"]),
        "mpc_mrr": scored["mpc"],
        **({"mpc_floor_mrr": scored[FLOORED]} if FLOORED in scored else {}),
        "prefixes": int(new["prefixes"]),
    }


def decide(customer: str, scores: dict[str, Any], policy: GatePolicy) -> GateDecision:
    """Ship or hold back, from a candidate's gate numbers (MRR@10, then the stability guardrail)."""
    version = str(scores["live_version"])
    if scores.get("note"):
        return GateDecision(customer, "accepted", version, note=str(scores["note"]))
    new_mrr, live_mrr = float(scores["new_mrr"]), float(scores["live_mrr"])
    stable = scores.get("stability")
    decision = GateDecision(
        customer,
        "held back" if new_mrr < live_mrr - policy.tolerance else "accepted",
        version,
        new_mrr,
        live_mrr,
        policy.tolerance,
        int(scores["prefixes"]),
        stability=None if stable is None else float(stable),
        stability_floor=policy.stability_floor,
        mpc_mrr=None if scores.get("mpc_mrr") is None else float(scores["mpc_mrr"]),
        mpc_floor_mrr=None if scores.get("mpc_floor_mrr") is None else float(scores["mpc_floor_mrr"]),
    )
    if decision.unstable:
        decision.action = "held back"
    return decision


def candidate_stability(
    store: ArtifactStore, against: GateAgainst, candidate: CustomerModel, cache_dir: Path
) -> float | None:
    """The candidate's stability against the live model of the customer (None: live model unreadable,
    which the MRR comparison already reports)."""
    try:
        live_model = against.live_model(store, cache_dir)
    except (ArtifactError, StoreError):
        return None
    return round(stability(live_model, candidate), 4)


def gate_customer(
    store: ArtifactStore,
    customer_dir: CustomerLogs | Path,
    candidate: CustomerEntry,
    live: Manifest | None,
    policy: GatePolicy,
    cache_dir: Path,
    report: Report,
) -> GateDecision:
    """Compare the candidate with the live release's model of the same customer; decide which ships.

    The numbers its training task computed (``candidate.gate``) decide when they were computed against
    today's live model with today's policy; otherwise (an artifact reused from an earlier day, a live
    release that changed since) the customer's logs are read and the comparison is made here.
    """
    customer_dir = as_customer_logs(customer_dir)
    customer = customer_dir.name
    if live is None or customer not in live.customers:
        return GateDecision(customer, "new")
    live_entry = live.customers[customer]
    if live_entry.artifact == candidate.artifact:
        return GateDecision(customer, "unchanged", live.version)
    against = GateAgainst(live.version, live_entry, policy)
    scores = candidate.gate
    if not scores or {k: scores.get(k) for k in against.key()} != against.key():
        params = TrainParams.model_validate(candidate.params)
        # The live blocks the candidate was trained without (its input key records them).
        bans = LiveBans.from_key(candidate.ingest.get("live_bans"))
        config = load_customer_config(customer_dir).with_live_bans(bans)
        with tempfile.TemporaryDirectory(prefix=f"kwrec-gate-{customer}-") as tmp:
            # The candidate's own quarantine was stored at training time; this one is thrown away.
            pre, _ = read_and_preprocess(customer_dir, config, params, Path(tmp) / "quarantine.jsonl")
            scores = gate_scores(
                store, pre.events, params, customer, against, cache_dir, report, banned=config.banned_text
            )
    if scores.get("stability") is None and not scores.get("note"):
        # Numbers from before the guardrail, or recomputed above: both artifacts are in the store, and
        # the decision is the same as the one the training task's numbers make.
        candidate_model = open_model(store, candidate, cache_dir)
        scores = {**scores, "stability": candidate_stability(store, against, candidate_model, cache_dir)}
    return decide(customer, scores, policy)
