"""A serving replica's copy of the live rules: polled from the store, compiled per customer.

Every ``poll_seconds`` the feed makes one conditional read of ``rules/current.json`` (unchanged: no body
is transferred). A new version replaces the compiled rules whole, so a request sees the old set or the
new one, never a mix. When the store cannot be reached the replica keeps its last rules and says so in
``/metrics`` (version, age, errors); it does not become unready for it.

Windows (``--from``/``--until``) are applied here: the compiled rules are rebuilt when the clock passes
the next start or end of any rule, so a rule expires without another command.

The rules a replica starts with: the store's, read before it reports ready; if the store cannot be
read then, the snapshot baked into the release image at build time (possibly older, and reported so).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kwrec.api import metrics, periodic
from kwrec.core.rules import CustomerRules
from kwrec.core.rules_store import CURRENT_KEY, RuleSet
from kwrec.core.store import ArtifactStore
from kwrec.errors import KwrecError, StoreNotFound

log = logging.getLogger("kwrec.api")


@dataclass(frozen=True)
class _Compiled:
    """One rules version as requests see it; replaced whole, so a request never mixes two versions."""

    rules: RuleSet
    generation: int
    next_boundary: datetime | None  # the next --from or --until of any rule: compile again then
    by_customer: dict[str, CustomerRules]


def _compile(rules: RuleSet, generation: int) -> _Compiled:
    now = datetime.now(UTC)
    times = [t for r in rules.rules for t in (r.starts, r.until) if t is not None and t > now]
    return _Compiled(rules, generation, min(times) if times else None, {})


@dataclass
class RulesFeed:
    """What the request path reads (``for_customer``, ``generation``) and what the poller updates."""

    open_store: Callable[[], ArtifactStore] | None  # None: live rules are off
    fallback: ArtifactStore | None = None  # the release's own store (the image's snapshot)
    store: ArtifactStore | None = None
    source: str = "none"  # "store", "snapshot" or "none"
    tag: str | None = None
    last_ok: float | None = None  # monotonic time of the last successful poll
    _current: _Compiled = field(default_factory=lambda: _compile(RuleSet(), 0))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def rules(self) -> RuleSet:
        return self._current.rules

    def _now_compiled(self) -> _Compiled:
        """The current rules, compiled again first when a rule's window opened or closed."""
        current = self._current
        if current.next_boundary is not None and datetime.now(UTC) >= current.next_boundary:
            self._swap(current.rules, current)
        return self._current

    @property
    def generation(self) -> int:
        """Changes whenever answers may change: part of the answer cache's key."""
        return self._now_compiled().generation

    # -- the request path ------------------------------------------------------------------------

    def for_customer(self, customer: str) -> CustomerRules:
        current = self._now_compiled()
        compiled = current.by_customer.get(customer)
        if compiled is None:
            compiled = current.rules.for_customer(customer, datetime.now(UTC))
            current.by_customer[customer] = compiled
        return compiled

    def age_seconds(self) -> float | None:
        return None if self.last_ok is None else time.monotonic() - self.last_ok

    # -- updates ---------------------------------------------------------------------------------

    def _swap(self, rules: RuleSet, seen: _Compiled) -> None:
        with self._lock:
            if self._current is seen:  # nobody swapped meanwhile
                self._current = _compile(rules, seen.generation + 1)

    def _install(self, rules: RuleSet, source: str) -> None:
        with self._lock:
            current = self._current
            if rules.version == current.rules.version and source == self.source:
                return
            self.source = source
            self._current = _compile(rules, current.generation + 1)
        log.info("kwrec: rules version %d from the %s (%d rules)", rules.version, source, len(rules.rules))

    def poll(self) -> bool:
        """One conditional read; True when the store answered (changed or not)."""
        ok = self._read()
        if not ok:
            metrics.RULES_ERRORS.inc()
        self._report()
        return ok

    def _report(self) -> None:
        age = self.age_seconds()
        metrics.RULES_AGE.set(-1 if age is None else age)
        metrics.RULES_VERSION.set(self.rules.version)
        metrics.RULES_FROM_SNAPSHOT.set(1 if self.source == "snapshot" else 0)

    def _read(self) -> bool:
        if self.open_store is None:
            return False
        try:
            if self.store is None:
                self.store = self.open_store()
            data, tag = self.store.read_if_changed(CURRENT_KEY, self.tag)
        except StoreNotFound:
            data, tag = RuleSet().to_bytes(), None  # no rule was ever set
        except (KwrecError, OSError) as exc:
            log.warning("kwrec: cannot read the rules (keeping version %d): %s", self.rules.version, exc)
            return False
        self.last_ok = time.monotonic()
        if data is None:
            return True
        try:
            rules = RuleSet.parse(data, CURRENT_KEY)
        except KwrecError as exc:  # a corrupt object is refused; the last good rules stay
            log.error("kwrec: %s", exc)
            return False
        self.tag = tag
        self._install(rules, "store")
        return True

    def load_initial(self) -> None:
        """Before the replica reports ready: the store's rules, else the image's snapshot."""
        if self.open_store is None or self.poll():
            return
        if self.fallback is not None:
            try:
                raw = self.fallback.read_bytes(CURRENT_KEY)
                self._install(RuleSet.parse(raw, f"the image's {CURRENT_KEY}"), "snapshot")
            except StoreNotFound:
                pass
            except KwrecError as exc:
                log.error("kwrec: the image's rules snapshot is unusable: %s", exc)
            self._report()

    def start(self, interval: float) -> threading.Thread:
        return periodic.every(interval, self.poll, "kwrec-rules-poll")
