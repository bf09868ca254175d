"""Verify a running API against the release it should serve: the proof a release is allowed to stay live.

Checks (each named in the report): ``/readyz`` is 200; ``/version`` reports the release and all its
customers; every golden query recorded at training time answers as expected (from the build of its shard: an
unchanged shard answers with the version of the release that built it), within the latency budget
(an answer over it is asked once more and fails only when slow again); the demo page ``/`` and
``/metrics`` answer.

"As expected" for a golden query with recorded top keywords ``e1..en`` (n <= 3) means: the answer's first
suggestion is ``e1``, and every ``ei`` is among the answer's first ``n + 2`` suggestions. The best answer
must not change, but two lower keywords with near-equal scores may swap or be pushed down by one newcomer,
which does not make a release wrong. (The server's own readiness check is stricter: the same artifacts
must reproduce the recorded list exactly.)
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from kwrec.core.manifest import Manifest, answering_versions, release_shards, shard_view
from kwrec.core.models.customer_model import META_FILE
from kwrec.core.models.protocol import Suggestion
from kwrec.core.rules import CustomerRules
from kwrec.core.rules_store import RuleSet, read_history_tail, read_rules
from kwrec.core.store import ArtifactStore

SLACK = 2  # how far down the answer a recorded keyword other than the first may move
_LIMIT = 10


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""
    ms: float | None = None

    def line(self) -> str:
        took = f" [{self.ms:.0f} ms]" if self.ms is not None else ""
        return f"{'ok  ' if self.ok else 'FAIL'} {self.name}{took}{': ' + self.detail if self.detail else ''}"


@dataclass
class VerifyReport:
    base_url: str
    version: str
    budget_ms: float
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def slowest_ms(self) -> float:
        return max((c.ms for c in self.checks if c.ms is not None), default=0.0)

    def summary(self) -> str:
        if self.ok:
            return (
                f"{self.base_url} serves {self.version}: {len(self.checks)} checks passed "
                f"(slowest answer {self.slowest_ms:.0f} ms, budget {self.budget_ms:.0f} ms)"
            )
        failed = self.failures
        shown = "; ".join(f"{c.name}: {c.detail}" for c in failed[:5])
        more = f" (+{len(failed) - 5} more)" if len(failed) > 5 else ""
        return f"{len(failed)} of {len(self.checks)} checks failed at {self.base_url}: {shown}{more}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "version": self.version,
            "ok": self.ok,
            "budget_ms": self.budget_ms,
            "checks": [c.__dict__ for c in self.checks],
        }


def golden_cases(store: ArtifactStore, manifest: Manifest) -> dict[str, list[dict[str, Any]]]:
    """Each customer's golden queries, read from its artifact's meta.json in the store."""
    cases: dict[str, list[dict[str, Any]]] = {}
    for customer, entry in sorted(manifest.customers.items()):
        meta = json.loads(store.read_bytes(f"{entry.artifact_key}/{META_FILE}"))
        cases[customer] = [c for c in meta.get("golden", []) if isinstance(c, dict)]
    return cases


def golden_problem(expected: list[str], got: list[str]) -> str | None:
    """Why ``got`` does not satisfy the rule in the module docstring, or None when it does."""
    if not expected:
        return None
    if not got:
        return f"no suggestions, expected {expected}"
    if got[0] != expected[0]:
        return f"first suggestion {got[0]!r}, expected {expected[0]!r} (answer {got[:5]})"
    window = got[: len(expected) + SLACK]
    missing = [e for e in expected if e not in window]
    if missing:
        return f"{missing} not in the first {len(window)} suggestions {window}"
    return None


class _Probe:
    def __init__(self, client: httpx.Client, report: VerifyReport) -> None:
        self.client = client
        self.report = report
        self.last_ms = 0.0  # the latency that counted for the last answer of get()

    def get(
        self,
        name: str,
        path: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response | None:
        """GET ``path``; a non-200 or no answer fails the check, and so does an answer over the latency
        budget that is slow again when asked a second time (one pause of a busy machine is not a slow
        release; a release that is slow stays slow)."""
        timed = self._timed(name, path, params, headers)
        if timed is None:
            return None
        response, ms = timed
        if ms > self.report.budget_ms:
            again = self._timed(name, path, params, headers)
            if again is None:
                return None
            response, ms = min((response, ms), again, key=lambda pair: pair[1])
        self.last_ms = ms
        if ms > self.report.budget_ms:
            self.report.checks.append(
                Check(f"latency {name}", False, f"{ms:.0f} ms > budget {self.report.budget_ms:.0f} ms", ms)
            )
        return response

    def _timed(
        self, name: str, path: str, params: dict[str, Any] | None, headers: dict[str, str] | None
    ) -> tuple[httpx.Response, float] | None:
        started = time.perf_counter()
        try:
            response = self.client.get(path, params=params, headers=headers)
        except httpx.HTTPError as exc:
            self.report.checks.append(Check(name, False, f"no answer: {type(exc).__name__}: {exc}"))
            return None
        ms = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            self.report.checks.append(Check(name, False, f"HTTP {response.status_code}", ms))
            return None
        return response, ms

    def add(self, name: str, ok: bool, detail: str = "", ms: float | None = None) -> None:
        self.report.checks.append(Check(name, ok, detail, ms))


def verify(
    base_url: str,
    manifest: Manifest,
    store: ArtifactStore,
    budget_ms: float = 200.0,
    *,
    timeout: float = 10.0,
    shard_header: str | None = None,
    rules_settle_seconds: float = 35.0,
) -> VerifyReport:
    """Run every check against ``base_url``; never raises for a failing check (see the report).

    With ``shard_header`` (an endpoint that routes each customer to its shard, and each shard's own
    /version to a request carrying that header) a sharded release is checked shard by shard.
    """
    report = VerifyReport(base_url=base_url.rstrip("/"), version=manifest.version, budget_ms=budget_ms)
    cases = golden_cases(store, manifest)
    rules = settled_rules(store, rules_settle_seconds)
    with httpx.Client(base_url=report.base_url, timeout=timeout) as client:
        probe = _Probe(client, report)
        shards = release_shards(manifest)
        if shard_header and len(shards) > 1:
            # An endpoint that routes by customer (ECS behind an ALB): each shard answers for itself.
            for shard in shards:
                _check_served(probe, shard_view(manifest, shard), f" {shard}", {shard_header: shard})
        elif not _check_served(probe, manifest, "", None):
            return report  # nothing else can be judged against an API that does not say what it serves
        answering = answering_versions(manifest)
        for customer, golden in cases.items():
            customer_rules = rules.for_customer(customer, datetime.now(UTC))
            _check_customer(
                probe, customer, golden, answering.get(customer, manifest.version), customer_rules
            )
        page = probe.get("demo page", "/")
        if page is not None:
            html = "html" in page.headers.get("content-type", "")
            probe.add("demo page", html, "" if html else f"content-type {page.headers.get('content-type')}")
        metrics = probe.get("metrics", "/metrics")
        if metrics is not None:
            probe.add(
                "metrics", "# TYPE" in metrics.text, "" if "# TYPE" in metrics.text else "not Prometheus"
            )
    return report


def _check_served(probe: _Probe, manifest: Manifest, suffix: str, headers: dict[str, str] | None) -> bool:
    """/readyz, and /version naming ``manifest``'s version and customers; False when /version is silent."""
    if probe.get(f"readyz{suffix}", "/readyz", headers=headers) is not None:
        probe.add(f"readyz{suffix}", True)
    version = probe.get(f"version{suffix}", "/version", headers=headers)
    if version is None:
        return False
    body = version.json()
    served = body.get("model_version")
    probe.add(
        f"version{suffix}",
        served == manifest.version,
        "" if served == manifest.version else f"serves {served!r}, expected {manifest.version!r}",
    )
    missing = sorted(set(manifest.customers) - set(body.get("customers") or []))
    probe.add(f"customers{suffix}", not missing, f"missing {missing}" if missing else "")
    return True


def settled_rules(store: ArtifactStore, settle_seconds: float) -> RuleSet:
    """The live rules, once every replica has had time to poll the newest change (replicas apply a
    change within their poll interval, so a golden answer checked sooner may still show the old rules)."""
    rules, _ = read_rules(store)
    if rules.version == 0 or settle_seconds <= 0:
        return rules
    newest = max((c.at for c in read_history_tail(store, rules.version)), default=None)
    if newest is not None:
        wait = settle_seconds - (datetime.now(UTC) - newest).total_seconds()
        if wait > 0:
            time.sleep(wait)
            rules, _ = read_rules(store)
    return rules


def expected_under_rules(
    expected: list[str], rules: CustomerRules, kind: str, query: str | None
) -> list[str]:
    """A golden answer as a replica serves it under the live rules: blocked keywords left out, pins in."""
    if rules.empty:
        return expected
    recorded = [Suggestion(k, 0.0) for k in expected]
    applied = rules.apply(lambda n: recorded[:n], len(expected), query if kind == "autocomplete" else None)
    return [s.keyword for s in applied]


def _check_customer(
    probe: _Probe, customer: str, golden: list[dict[str, Any]], version: str, rules: CustomerRules
) -> None:
    if not golden:
        probe.add(f"{customer} golden", False, "the artifact records no golden queries")
        return
    for case in golden:
        kind, query = str(case.get("kind")), case.get("query")
        expected = expected_under_rules([str(k) for k in case.get("expected") or []], rules, kind, query)
        name = f"{customer} {kind}" + (f" {query!r}" if query is not None else "")
        params: dict[str, Any] = {"limit": _LIMIT}
        if query is not None:
            params["q"] = query
        response = probe.get(name, f"/v1/{customer}/{kind}", params)
        ms = probe.last_ms
        if response is None:
            continue
        body = response.json()
        if body.get("model_version") != version:
            probe.add(name, False, f"answered by {body.get('model_version')!r}, expected {version!r}", ms)
            continue
        got = [str(s.get("keyword")) for s in body.get("suggestions") or []]
        problem = golden_problem(expected, got)
        probe.add(name, problem is None, problem or "", ms)
