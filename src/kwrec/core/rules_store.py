"""Rules in the artifact store: a versioned current set, and an append-only history that is written first.

  rules/current.json              {"version": N, "rules": [...]}: what replicas poll (one small object)
  rules/history/<N, 10 digits>.json   change N: who, when, what was added or removed

A change N+1 is first created in the history (create-only compare-and-swap: exactly one writer gets
N+1), then ``current.json`` is moved from N to N+1 by compare-and-swap. A writer that died between the
two leaves a history entry ahead of ``current.json``; the next writer (or reader with write access)
applies it first, so a change is either in both or, after that roll-forward, in both. Nothing under
``rules/history/`` is ever rewritten or deleted.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kwrec.core.rules import CustomerRules, LiveBans, Rule, rule_author
from kwrec.core.store import ArtifactStore
from kwrec.core.text.normalize import clean_text, search_key
from kwrec.errors import RuleError, StoreError
from kwrec.ids import validate_customer

RULES_PREFIX = "rules"
CURRENT_KEY = f"{RULES_PREFIX}/current.json"
HISTORY_PREFIX = f"{RULES_PREFIX}/history"
MAX_RULES = 100_000

Action = Literal["block", "unblock", "pin", "unpin"]


def history_key(version: int) -> str:
    return f"{HISTORY_PREFIX}/{version:010d}.json"


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(0, ge=0)
    rules: tuple[Rule, ...] = ()

    def for_customer(self, customer: str, now: datetime) -> CustomerRules:
        return CustomerRules.compile(r for r in self.rules if r.customer == customer and r.active(now))

    def bans(self, customer: str, now: datetime) -> LiveBans:
        """The customer's blocks active now, for training to leave out as well."""
        active = [r for r in self.rules if r.customer == customer and r.kind == "block" and r.active(now)]
        return LiveBans(
            contains=tuple(sorted(r.keyword for r in active if r.match == "contains")),
            exact=tuple(sorted(r.keyword for r in active if r.match == "exact")),
        )

    def in_force(self, now: datetime, customer: str | None = None) -> list[Rule]:
        """Rules active now or scheduled to start (not yet expired), optionally of one customer."""
        return [
            r
            for r in self.rules
            if (customer is None or r.customer == customer) and (r.until is None or now < r.until)
        ]

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def parse(cls, raw: bytes, where: str) -> RuleSet:
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise StoreError(
                f"corrupt rules {where}: {exc.errors()[0]['msg']}",
                hint="restore it from the history (kwrec rules --history) or from a backup",
            ) from None


class Change(BaseModel):
    """One entry of the history."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    action: Action
    at: datetime
    by: str = ""
    rule: Rule | None = None  # what block/pin added
    removed: tuple[Rule, ...] = ()  # what it replaced or removed

    def apply(self, rules: RuleSet) -> RuleSet:
        gone = {r.identity() for r in self.removed}
        kept = [r for r in rules.rules if r.identity() not in gone]
        if self.rule is not None:
            kept.append(self.rule)
        return RuleSet(version=self.version, rules=tuple(kept))


def read_rules(store: ArtifactStore) -> tuple[RuleSet, bytes | None]:
    """The current rules (version 0 and none when nothing was ever set) and their raw bytes."""
    if not store.exists(CURRENT_KEY):
        return RuleSet(), None
    raw = store.read_bytes(CURRENT_KEY)
    return RuleSet.parse(raw, CURRENT_KEY), raw


def read_history(store: ArtifactStore) -> list[Change]:
    out = []
    for key in sorted(store.list_keys(HISTORY_PREFIX)):
        try:
            out.append(Change.model_validate_json(store.read_bytes(key)))
        except ValidationError:
            raise StoreError(f"corrupt rules history entry {key}", hint="restore it from a backup") from None
    return out


def read_history_tail(store: ArtifactStore, version: int, count: int = 1) -> list[Change]:
    """The last ``count`` changes up to ``version`` (without listing the whole history)."""
    out = []
    for v in range(max(1, version - count + 1), version + 1):
        key = history_key(v)
        if store.exists(key):
            out.append(Change.model_validate_json(store.read_bytes(key)))
    return out


def _pending(store: ArtifactStore, rules: RuleSet) -> Change | None:
    key = history_key(rules.version + 1)
    if not store.exists(key):
        return None
    return Change.model_validate_json(store.read_bytes(key))


def change_rules(
    store: ArtifactStore,
    action: Action,
    *,
    rule: Rule | None = None,
    remove: tuple[str, str, str] | None = None,
    match_remove: str | None = None,
    by: str = "",
    now: datetime | None = None,
    attempts: int = 50,
) -> tuple[RuleSet, Change]:
    """Record one change and make it current; returns the new rules and the history entry.

    ``block``/``pin`` add ``rule`` (replacing a rule of the same identity); ``unblock``/``unpin`` remove
    the rule whose identity is ``remove``; a removal that matches nothing is a :class:`RuleError`.
    """
    by = rule_author(by)
    for attempt in range(attempts):
        if attempt:
            # Lost a race: jitter (not security) lets the winner finish.
            time.sleep(random.uniform(0, min(0.5, 0.005 * 2**attempt)))  # noqa: S311
        rules, raw = read_rules(store)
        pending = _pending(store, rules)
        if pending is not None:  # a writer died between its two writes: finish its change first
            store.compare_and_swap(CURRENT_KEY, raw, pending.apply(rules).to_bytes())
            continue
        if rule is not None:
            removed = tuple(r for r in rules.rules if r.identity() == rule.identity())
        else:
            removed = tuple(r for r in rules.rules if r.identity() == remove)
            if not removed:
                raise RuleError(
                    f"no {action.removeprefix('un')} rule for {match_remove!r}",
                    hint="see the rules in force with: kwrec rules CUSTOMER",
                )
        if rule is not None and len(rules.rules) - len(removed) + 1 > MAX_RULES:
            raise RuleError(
                f"the store already holds {MAX_RULES:,} rules", hint="remove expired or old rules"
            )
        entry = Change(
            version=rules.version + 1,
            action=action,
            at=now or datetime.now(UTC),
            by=by,
            rule=rule,
            removed=removed,
        )
        if not store.compare_and_swap(history_key(entry.version), None, entry.model_dump_json().encode()):
            continue  # another writer took this version: read again
        new = entry.apply(rules)
        if (
            store.compare_and_swap(CURRENT_KEY, raw, new.to_bytes())
            or read_rules(store)[0].version >= entry.version
        ):
            return new, entry
    raise StoreError("the rules kept changing under this command", hint="run it again")


def block(store: ArtifactStore, rule: Rule) -> tuple[RuleSet, Change]:
    return change_rules(store, "block", rule=rule, by=rule.by, now=rule.at)


def pin(store: ArtifactStore, rule: Rule) -> tuple[RuleSet, Change]:
    return change_rules(store, "pin", rule=rule, by=rule.by, now=rule.at)


def unblock(store: ArtifactStore, customer: str, keyword: str, *, by: str = "") -> tuple[RuleSet, Change]:
    identity = ("block", validate_customer(customer), search_key(clean_text(keyword)))
    return change_rules(store, "unblock", remove=identity, match_remove=keyword, by=by)


def unpin(
    store: ArtifactStore, customer: str, prefix: str, keyword: str, *, by: str = ""
) -> tuple[RuleSet, Change]:
    key = f"{search_key(clean_text(prefix))}\x00{search_key(clean_text(keyword))}"
    identity = ("pin", validate_customer(customer), key)
    return change_rules(store, "unpin", remove=identity, match_remove=f"{prefix} -> {keyword}", by=by)
