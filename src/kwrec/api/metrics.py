"""Prometheus metrics of the serving API.

With several uvicorn workers, each worker is its own process with its own counters, and a scrape reaches
only one of them. So when ``PROMETHEUS_MULTIPROC_DIR`` is set (``kwrec serve --workers N`` sets it), every
worker writes its samples to memory-mapped files there and ``/metrics`` aggregates all workers' files.
The variable must be set before ``prometheus_client`` is first imported in the worker, which is why the
server sets it in the parent process, before it spawns the workers.

Label values are bounded: ``customer`` is only ever a customer of the served release (anything else is
counted as ``"-"``), and ``endpoint`` is a route template, never a raw path, so a scanner cannot blow up
the number of time series.

Per-answer counts (answers, suggestions, empty answers, cache hits per customer and kind) are on the hot
path, where a prometheus_client ``labels().inc()`` costs a label look-up and a lock per call: they are
plain integers in ``AnswerTally``, moved into the counters below when ``/metrics`` is scraped and, with
several workers, every few seconds by a background thread (a scrape reaches only one worker).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prom_multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kwrec.api import periodic

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
NO_CUSTOMER = "-"

# Autocomplete answers in well under a millisecond; the low buckets are where the interesting changes are.
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0, 2.5)

REQUESTS = Counter(
    "kwrec_http_requests_total",
    "HTTP requests answered, by route template, customer and status code",
    ["endpoint", "customer", "status"],
)
LATENCY = Histogram(
    "kwrec_http_request_duration_seconds",
    "Time from receiving a request to sending the last byte of its answer",
    ["endpoint", "customer"],
    buckets=LATENCY_BUCKETS,
)
ANSWER_CACHE = Counter(
    "kwrec_answer_cache_total",
    "Suggestion answers served from the per-worker cache (hit) or computed (miss)",
    ["customer", "result"],
)
ANSWERS = Counter(
    "kwrec_answers_total", "Suggestion answers (HTTP 200) by customer and kind", ["customer", "kind"]
)
EMPTY_ANSWERS = Counter(
    "kwrec_empty_answers_total",
    "Suggestion answers with zero suggestions, by customer and kind",
    ["customer", "kind"],
)
SUGGESTIONS = Counter(
    "kwrec_suggestions_total",
    "Suggestions returned, summed over answers (divide by kwrec_answers_total: suggestions per answer)",
    ["customer", "kind"],
)
# Info metrics are not supported in multiprocess mode: a gauge fixed at 1 carries the labels instead.
MODEL_INFO = Gauge(
    "kwrec_model_info",
    "The served release (value 1 while it is loaded)",
    ["model_version", "code_version"],
    multiprocess_mode="max",
)
READY = Gauge("kwrec_ready", "1 when every customer's model is loaded and checked", multiprocess_mode="min")
LOAD_SECONDS = Gauge(
    "kwrec_model_load_seconds", "Seconds from worker start to ready", multiprocess_mode="max"
)
MODEL_TRAINED = Gauge(
    "kwrec_model_trained_timestamp_seconds",
    "Unix time of the served release's training run (the YYMMDDHHMM of its version, UTC)",
    multiprocess_mode="min",
)
CUSTOMER_KEYWORDS = Gauge(
    "kwrec_customer_keywords", "Keywords in each customer's model", ["customer"], multiprocess_mode="max"
)

RULES_VERSION = Gauge(
    "kwrec_rules_version", "Version of the live rules this replica applies (0: none)", multiprocess_mode="min"
)
RULES_AGE = Gauge(
    "kwrec_rules_age_seconds",
    "Seconds since this replica last read the rules store successfully (-1: never)",
    multiprocess_mode="max",
)
RULES_ERRORS = Counter("kwrec_rules_poll_errors_total", "Failed reads of the live rules")
RULES_FROM_SNAPSHOT = Gauge(
    "kwrec_rules_from_snapshot",
    "1 when the replica applies the rules baked into its image (the store was not readable at start)",
    multiprocess_mode="max",
)


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def prepare_multiprocess_dir(directory: Path) -> None:
    """Create the directory and remove samples a previous server left there (they would be summed in)."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)


def version_trained_at(version: str) -> float:
    """Unix time of a release version's ``YYMMDDHHMM`` (UTC)."""
    stamp = version.rsplit("_", 1)[1]
    return datetime.strptime(stamp, "%y%m%d%H%M").replace(tzinfo=UTC).timestamp()


class ModelAge(Collector):
    """``kwrec_model_age_seconds``, computed when scraped (a gauge set once would stop ageing)."""

    def __init__(self) -> None:
        self.trained_at: float | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.trained_at is not None:
            yield GaugeMetricFamily(
                "kwrec_model_age_seconds",
                "Seconds since the served release's training run; above ~36 h a daily release was missed",
                value=time.time() - self.trained_at,
            )


MODEL_AGE = ModelAge()
REGISTRY.register(MODEL_AGE)


def set_release(version: str) -> None:
    trained_at = version_trained_at(version)
    MODEL_TRAINED.set(trained_at)
    MODEL_AGE.trained_at = trained_at


class AnswerTally:
    """Per (customer, kind): answers, suggestions, empty answers, cache hits, as plain integers.

    ``count`` runs on the event loop for every answer; ``flush`` (any thread) adds what was counted since
    the last flush to the prometheus counters. The totals only grow and ``flush`` remembers what it has
    already added, so a count that lands while a flush runs is picked up by the next one, never lost.
    """

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], list[int]] = {}
        self._flushed: dict[tuple[str, str], tuple[int, int, int, int]] = {}
        self._lock = threading.Lock()  # flushes only; the hot path never takes it

    def count(self, customer: str, kind: str, suggestions: int, hit: bool) -> None:
        c = self._counts.get((customer, kind))
        if c is None:
            c = self._counts.setdefault((customer, kind), [0, 0, 0, 0])
        c[0] += 1
        c[1] += suggestions
        c[2] += suggestions == 0
        c[3] += hit

    def flush(self) -> None:
        with self._lock:
            for key, c in list(self._counts.items()):
                now = (c[0], c[1], c[2], c[3])
                before = self._flushed.get(key, (0, 0, 0, 0))
                if now == before:
                    continue
                customer, kind = key
                answers, suggestions, empty, hits = (n - b for n, b in zip(now, before, strict=True))
                ANSWERS.labels(customer, kind).inc(answers)
                SUGGESTIONS.labels(customer, kind).inc(suggestions)
                EMPTY_ANSWERS.labels(customer, kind).inc(empty)
                ANSWER_CACHE.labels(customer, "hit").inc(hits)
                ANSWER_CACHE.labels(customer, "miss").inc(answers - hits)
                self._flushed[key] = now


TALLY = AnswerTally()
FLUSH_SECONDS = 5.0


_flusher: threading.Thread | None = None


def start_flushing(every: float = FLUSH_SECONDS) -> threading.Thread:
    """With several workers, move this worker's counts into the shared files every few seconds (one
    thread per process, however many apps it creates)."""
    global _flusher
    if _flusher is not None:
        return _flusher

    _flusher = periodic.every(every, TALLY.flush, "kwrec-metrics-flush")
    return _flusher


def render() -> tuple[bytes, str]:
    """The exposition text: every worker's samples in multiprocess mode, this process's otherwise."""
    TALLY.flush()
    if multiprocess_dir() is not None:
        registry = CollectorRegistry()
        prom_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(MODEL_AGE)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI middleware (no per-request task or body buffering, unlike ``BaseHTTPMiddleware``).

    It reads the matched route from the scope after the app ran: Starlette's router writes ``route`` and
    ``path_params`` into the same scope dict, so the label is the template, e.g. ``/v1/{customer}/related``.
    """

    def __init__(self, app: ASGIApp, known_customers: Callable[[], frozenset[str]]) -> None:
        self.app = app
        self.known_customers = known_customers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            customer = scope.get("path_params", {}).get("customer", NO_CUSTOMER)
            if customer not in self.known_customers():
                customer = NO_CUSTOMER
            REQUESTS.labels(endpoint, customer, str(status)).inc()
            LATENCY.labels(endpoint, customer).observe(time.perf_counter() - started)
