"""Loading the release a server answers from, off the event loop, so /healthz answers at once.

Readiness means more than "the files opened": every customer's model must reproduce the golden answers
recorded in its artifact at training time. A model that opens but answers differently (a wrong artifact,
a code change that broke look-ups) keeps the server out of the load balancer instead of serving nonsense.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from kwrec import __version__
from kwrec.adapters.stores import open_store
from kwrec.api.rules_feed import RulesFeed
from kwrec.core.answers import KINDS, Kind, answer
from kwrec.core.manifest import OpenedRelease, open_release
from kwrec.core.models.customer_model import CustomerModel
from kwrec.core.store import ArtifactStore
from kwrec.errors import KwrecError
from kwrec.settings import Settings

log = logging.getLogger("kwrec.api")

Status = Literal["loading", "ready", "failed"]


@dataclass
class ServingState:
    """What the request handlers read. Fields are replaced whole, so readers never see a half-loaded set."""

    status: Status = "loading"
    models: dict[str, CustomerModel] = field(default_factory=dict)
    customers: frozenset[str] = frozenset()
    model_version: str | None = None
    code_version: str = __version__
    release_code_version: str | None = None
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    load_seconds: float | None = None
    rules: RulesFeed = field(default_factory=lambda: RulesFeed(open_store=None))

    def known_customers(self) -> frozenset[str]:
        return self.customers


def readiness_problems(model: CustomerModel, version: str) -> list[str]:
    """The readiness self-check: golden queries whose answer is no longer exactly the recorded one."""
    problems: list[str] = []
    for case in model.meta.get("golden", []):
        kind = case.get("kind")
        if kind not in KINDS:
            problems.append(f"{model.customer}: unknown golden kind {kind!r}")
            continue
        k: Kind = kind
        expected = list(case.get("expected", []))
        body = answer(model, version, k, case.get("query"), max(10, len(expected)))
        got = [s["keyword"] for s in body["suggestions"]][: len(expected)]
        if got != expected:
            problems.append(f"{model.customer}: {k} {case.get('query')!r} gave {got}, expected {expected}")
    return problems


def load_release(settings: Settings) -> OpenedRelease:
    """Open the configured release (newest when none is set), checksums checked; run the readiness check."""
    store = open_store(settings.store, settings.s3)
    release = open_release(store, settings.serve.model_version, settings.cache_dir)
    problems: list[str] = []
    for model in release.models.values():
        problems.extend(readiness_problems(model, release.version))
    if problems:
        raise KwrecError(
            f"release {release.version} fails its golden queries: " + "; ".join(problems[:5]),
            hint="the artifacts do not answer as they did at training time; retrain or roll back",
        )
    return release


def rules_feed(settings: Settings) -> RulesFeed:
    """The replica's live rules: from ``[rules] store`` (default: the store), the image's snapshot as
    the fallback when that cannot be read at start."""
    if not settings.rules.enabled:
        return RulesFeed(open_store=None)
    source = settings.rules.store or settings.store

    def fallback() -> ArtifactStore | None:
        try:
            return open_store(settings.store, settings.s3) if source != settings.store else None
        except KwrecError:
            return None

    return RulesFeed(open_store=lambda: open_store(source, settings.s3), fallback=fallback())


def start_loading(
    state: ServingState, settings: Settings, on_ready: Callable[[ServingState], None] | None = None
) -> threading.Thread:
    """Load in a daemon thread; on success publish the models, on failure record why (never ready)."""

    def run() -> None:
        try:
            release = load_release(settings)
        except KwrecError as exc:
            state.error = str(exc)
            state.status = "failed"
            log.error("kwrec: not ready: %s", exc)
            return
        except Exception as exc:  # a bug or an unreadable store must not kill the process silently
            state.error = f"{type(exc).__name__}: {exc}"
            state.status = "failed"
            log.exception("kwrec: loading the release failed")
            return
        # The live rules before ready: a replica never answers without the blocks in force.
        feed = rules_feed(settings)
        feed.load_initial()
        if feed.open_store is not None:
            feed.start(settings.rules.poll_seconds)
        state.rules = feed
        state.models = dict(release.models)
        state.customers = frozenset(release.models)
        state.model_version = release.version
        state.release_code_version = release.manifest.code_version
        state.load_seconds = time.monotonic() - state.started
        state.status = "ready"
        log.info(
            "kwrec: release %s ready in %.2fs (%d customers)",
            release.version,
            state.load_seconds,
            len(release.models),
        )
        if on_ready is not None:
            on_ready(state)

    thread = threading.Thread(target=run, name="kwrec-load-release", daemon=True)
    thread.start()
    return thread
