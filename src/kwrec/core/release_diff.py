"""Release review: what changed in each customer's suggestions between two releases (`kwrec diff`).

Everything is computed from what the two releases store: their manifests and their artifacts. No log is
read again, so a diff of any two stored releases can be made at any time, e.g. long after the fact.

"Most-typed prefixes" are derived from the artifacts: every keyword's score counts how many people
searched it (per day, recent days weighted more), and each of those searches was typed through the
keyword's prefixes. A prefix's weight is therefore the sum of the scores of the keywords it begins, in
both releases' models; the ``prefixes`` heaviest ones are compared, plus every golden query either model
recorded. Both models are asked the same prefixes.

A customer whose artifact did not change (same checksum) is ``reused``: stability 1.0, nothing opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from kwrec.core.manifest import CustomerEntry, Manifest, latest_version, list_versions, read_manifest
from kwrec.core.models.customer_model import CustomerModel
from kwrec.core.rules_store import read_history_tail
from kwrec.core.store import ArtifactStore
from kwrec.core.text.normalize import fold
from kwrec.errors import ArtifactError, ReleaseNotFoundError, StoreError, UnknownCustomerError
from kwrec.reporting import Report, silent

Status = Literal["new", "removed", "retrained", "reused"]

K = 10  # suggestions compared per prefix: the API's default limit
LIST_LEN = 10  # popular / trending entries compared
DEFAULT_PREFIXES = 200
MAX_PREFIX_CHARS = 8  # longer prefixes are rarely typed before a suggestion is chosen
KEYWORDS_SCANNED = 2000  # the heaviest keywords whose prefixes are weighed
MOST_CHANGED = 10  # prefixes listed as "changed most" per customer
METRICS = ("mrr@10", "success@1", "success@5")


@dataclass(frozen=True)
class Move:
    keyword: str
    old_rank: int  # 1-based
    new_rank: int

    @property
    def change(self) -> int:
        """Positive: the keyword moved up."""
        return self.old_rank - self.new_rank


@dataclass
class ListChange:
    """How a ranked list changed: keywords that entered, left, and moved (with their rank change)."""

    entered: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    moved: list[Move] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.entered or self.left or self.moved)

    def to_dict(self) -> dict[str, Any]:
        return {
            "entered": self.entered,
            "left": self.left,
            "moved": [{**asdict(m), "change": m.change} for m in self.moved],
        }


def list_change(old: Sequence[str], new: Sequence[str]) -> ListChange:
    old_rank = {k: i for i, k in enumerate(old, 1)}
    new_rank = {k: i for i, k in enumerate(new, 1)}
    return ListChange(
        entered=[k for k in new if k not in old_rank],
        left=[k for k in old if k not in new_rank],
        moved=[Move(k, old_rank[k], r) for k, r in new_rank.items() if k in old_rank and old_rank[k] != r],
    )


def overlap_at_k(old: Sequence[str], new: Sequence[str], k: int = K) -> float:
    """Share of the top ``k`` both answers have in common (1.0: the same set; two empty answers agree)."""
    a, b = set(old[:k]), set(new[:k])
    if not a and not b:
        return 1.0
    return len(a & b) / max(len(a), len(b))


@dataclass
class PrefixChange:
    prefix: str
    overlap: float
    change: ListChange

    def to_dict(self) -> dict[str, Any]:
        return {"prefix": self.prefix, "overlap": round(self.overlap, 4), **self.change.to_dict()}


@dataclass
class CustomerDiff:
    customer: str
    status: Status
    old_artifact: str | None
    new_artifact: str | None
    keywords: tuple[int | None, int | None]
    metrics: dict[str, tuple[float | None, float | None]]
    stability: float | None  # mean overlap@10 over the compared prefixes; None: nothing to compare
    prefixes_compared: int = 0
    popular: ListChange = field(default_factory=ListChange)
    trending: ListChange = field(default_factory=ListChange)
    prefixes: list[PrefixChange] = field(default_factory=list)  # the changed ones, most changed first

    @property
    def changed(self) -> bool:
        return self.status != "reused"

    def to_dict(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "status": self.status,
            "artifact": {"old": self.old_artifact, "new": self.new_artifact},
            "keywords": {"old": self.keywords[0], "new": self.keywords[1]},
            "metrics": {m: {"old": o, "new": n} for m, (o, n) in self.metrics.items()},
            "stability": None if self.stability is None else round(self.stability, 4),
            "prefixes_compared": self.prefixes_compared,
            "popular": self.popular.to_dict(),
            "trending": self.trending.to_dict(),
            "prefixes_changed": [p.to_dict() for p in self.prefixes],
            "most_changed": [p.prefix for p in self.prefixes[:MOST_CHANGED]],
        }

    def summary(self) -> str:
        """One line: what the daily chain prints per changed customer."""
        kw = f"keywords {arrow(*self.keywords)}"
        if self.status in ("new", "removed"):
            return f"{self.customer}: {self.status}, {kw}"
        mrr = f"mrr@10 {arrow(*self.metrics['mrr@10'])}"
        moved = ", ".join(self.prefixes[i].prefix for i in range(min(3, len(self.prefixes))))
        return (
            f"{self.customer}: {self.status}, stability {self.stability:.2f}, {kw}, {mrr}, "
            f"popular +{len(self.popular.entered)}/-{len(self.popular.left)}"
            + (f", changed most: {moved}" if moved else "")
        )


def arrow(old: object, new: object) -> str:
    """``old -> new``, ``-`` for a missing side."""
    return f"{'-' if old is None else old} -> {'-' if new is None else new}"


@dataclass
class ReleaseDiff:
    old: str
    new: str
    prefixes: int
    customers: list[CustomerDiff]
    rules: list[str] = field(default_factory=list)  # live rule changes between the two releases

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "prefixes": self.prefixes,
            "rules": self.rules,
            "customers": [c.to_dict() for c in self.customers],
        }

    def changed(self) -> list[CustomerDiff]:
        return [c for c in self.customers if c.changed]


def metrics_of(entry: CustomerEntry | None) -> dict[str, float | None]:
    """The time-split autocomplete metrics training recorded for the customer (None: not evaluated)."""
    evaluation = (entry.evaluation if entry else None) or {}
    recorded = (evaluation.get("autocomplete") or {}).get("kwrec/all") or {}
    return {m: recorded.get(m) for m in METRICS}


def typed_prefixes(models: Sequence[CustomerModel], count: int) -> list[str]:
    """The ``count`` most-typed prefixes of a customer (module docstring), then its golden queries."""
    weight: dict[str, float] = {}
    for model in models:
        for kw in model.popular_keywords(KEYWORDS_SCANNED):
            norm = fold(kw.keyword)
            for n in range(1, min(len(norm), MAX_PREFIX_CHARS) + 1):
                prefix = norm[:n].rstrip()
                if prefix:
                    weight[prefix] = weight.get(prefix, 0.0) + kw.score
    chosen = [p for p, _ in sorted(weight.items(), key=lambda pw: (-pw[1], pw[0]))[:count]]
    for model in models:
        for case in model.meta.get("golden", []):
            if case.get("kind") == "autocomplete" and case.get("query") not in chosen:
                chosen.append(str(case["query"]))
    return chosen


def _keywords(items: Sequence[Any]) -> list[str]:
    return [s.keyword for s in items]


@dataclass
class Comparison:
    stability: float  # mean overlap@10 over the asked prefixes
    asked: int
    changed: list[PrefixChange]  # the prefixes whose answer changed, most changed first


def compare_models(old: CustomerModel, new: CustomerModel, prefixes: int) -> Comparison:
    """Both models asked the customer's most-typed prefixes (module docstring)."""
    asked = typed_prefixes([old, new], prefixes)
    changes: list[PrefixChange] = []
    total = 0.0
    for prefix in asked:
        a, b = _keywords(old.autocomplete(prefix, K)), _keywords(new.autocomplete(prefix, K))
        overlap = overlap_at_k(a, b)
        total += overlap
        change = list_change(a, b)
        if change.changed:
            changes.append(PrefixChange(prefix, overlap, change))
    changes.sort(key=lambda p: (p.overlap, -len(p.change.moved), p.prefix))
    return Comparison(total / len(asked) if asked else 1.0, len(asked), changes)


def stability(old: CustomerModel, new: CustomerModel, prefixes: int = DEFAULT_PREFIXES) -> float:
    """How much of the old model's suggestions the new one keeps: the gate's guardrail number."""
    return compare_models(old, new, prefixes).stability


def open_model(store: ArtifactStore, entry: CustomerEntry, cache_dir: Path) -> CustomerModel:
    local = store.fetch_dir(entry.artifact_key, cache_dir)
    return CustomerModel.open(local, expected_checksum=entry.artifact)


def status_of(old: CustomerEntry | None, new: CustomerEntry | None) -> Status:
    if old is None:
        return "new"
    if new is None:
        return "removed"
    return "reused" if old.artifact == new.artifact else "retrained"


def _open_for_diff(
    store: ArtifactStore, customer: str, entry: CustomerEntry, cache_dir: Path
) -> CustomerModel:
    try:
        return open_model(store, entry, cache_dir)
    except (ArtifactError, StoreError) as exc:
        raise ArtifactError(
            f"cannot compare {customer}: its artifact {entry.artifact[:12]} (trained in {entry.trained_in}) "
            f"is unavailable: {exc.message}",
            hint="`kwrec gc` may have deleted it; compare newer releases, or leave it out with --customer",
        ) from None


def diff_customer(
    store: ArtifactStore,
    customer: str,
    old: CustomerEntry | None,
    new: CustomerEntry | None,
    cache_dir: Path,
    prefixes: int,
) -> CustomerDiff:
    metrics = {m: (metrics_of(old)[m], metrics_of(new)[m]) for m in METRICS}
    keywords = (
        old.stats.get("keywords") if old else None,
        new.stats.get("keywords") if new else None,
    )
    status = status_of(old, new)
    diff = CustomerDiff(
        customer,
        status,
        old.artifact if old else None,
        new.artifact if new else None,
        keywords,
        metrics,
        None if status in ("new", "removed") else 1.0,
    )
    if status != "retrained":
        return diff
    assert old is not None and new is not None
    old_model = _open_for_diff(store, customer, old, cache_dir)
    new_model = _open_for_diff(store, customer, new, cache_dir)
    diff.popular = list_change(_keywords(old_model.popular(LIST_LEN)), _keywords(new_model.popular(LIST_LEN)))
    diff.trending = list_change(
        _keywords(old_model.trending(LIST_LEN)), _keywords(new_model.trending(LIST_LEN))
    )
    comparison = compare_models(old_model, new_model, prefixes)
    diff.stability, diff.prefixes_compared = comparison.stability, comparison.asked
    diff.prefixes = comparison.changed
    return diff


def rules_changes(store: ArtifactStore, old: Manifest, new: Manifest, customers: set[str]) -> list[str]:
    """The live rule changes (block, pin, ...) between the rules each release was trained under."""
    a, b = old.rules_version or 0, new.rules_version or 0
    if a == b:
        return []
    lo, hi = sorted((a, b))
    lines = [f"rules version {a} -> {b}"]
    for change in read_history_tail(store, hi, hi - lo):
        rule = change.rule or (change.removed[0] if change.removed else None)
        if rule is None or rule.customer not in customers:
            continue
        what = rule.keyword if rule.kind == "block" else f"{rule.prefix} -> {rule.keyword}"
        lines.append(f"{rule.customer}: {change.action} {what!r} (rules v{change.version})")
    return lines


def diff_releases(
    store: ArtifactStore,
    old: Manifest,
    new: Manifest,
    cache_dir: Path,
    *,
    prefixes: int = DEFAULT_PREFIXES,
    customers: Sequence[str] | None = None,
    report: Report = silent,
) -> ReleaseDiff:
    """What changed for every customer (or the given ones) from release ``old`` to release ``new``."""
    everyone = sorted(set(old.customers) | set(new.customers))
    chosen = list(customers) if customers else everyone
    unknown = [c for c in chosen if c not in everyone]
    if unknown:
        raise UnknownCustomerError(
            f"customer {unknown[0]} is in neither {old.version} nor {new.version}",
            hint=f"customers: {', '.join(everyone)}",
        )
    out = []
    for i, customer in enumerate(chosen, 1):
        diff = diff_customer(
            store, customer, old.customers.get(customer), new.customers.get(customer), cache_dir, prefixes
        )
        if diff.changed:  # a fleet is mostly reused customers: one line each would bury the rest
            report(f"diff {i}/{len(chosen)}: {diff.summary()}")
        out.append(diff)
    report(
        f"diff {old.version} -> {new.version}: {len(out)} customers, {sum(c.changed for c in out)} changed"
    )
    return ReleaseDiff(old.version, new.version, prefixes, out, rules_changes(store, old, new, set(chosen)))


def was_live(manifest: Manifest) -> bool:
    return any(d.outcome in ("live", "retired") for d in manifest.deployments)


def default_pair(store: ArtifactStore, old: str | None, new: str | None) -> tuple[Manifest, Manifest]:
    """NEW defaults to the newest release; OLD to the newest earlier release that was ever live
    (deployed), else simply the release before NEW."""
    versions = list_versions(store)
    new_m = read_manifest(store, new or latest_version(store))
    if old is not None:
        return read_manifest(store, old), new_m
    key = new_m.timestamp
    earlier = [v for v in versions if v.rsplit("_", 1)[1] < key]
    if not earlier:
        raise ReleaseNotFoundError(
            f"no release before {new_m.version} in {store.url} to compare with",
            hint="pass OLD explicitly (`kwrec releases` lists the stored versions)",
        )
    manifests = [read_manifest(store, v) for v in reversed(earlier)]
    return next((m for m in manifests if was_live(m)), manifests[0]), new_m
