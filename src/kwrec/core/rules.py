"""Live suggestion rules: blocks and pins an operator sets without retraining (issue 14).

A **block** removes a keyword from every answer of one customer (autocomplete, related, popular,
trending). ``exact`` matches the keyword in any spelling that has the same spacing-insensitive
keystroke key (``아이폰 16`` = ``아이폰16``), or whose 한/영 conversion has it (``dkdlvhs`` = ``아이폰``);
``contains`` matches every suggestion whose key contains the term's key (a person's name). Matching is
on the answers, not on what was typed, so 초성 and 한/영 look-ups that would have produced a blocked
keyword lose it too. A **pin** puts a keyword at a position of the autocomplete answer for one prefix
(in any spelling of the prefix with the same key, or typed in the wrong layout).

Rules have an optional window (``starts``, ``until``) that the serving replicas honour themselves.

This module only knows rules, their validation and how they change an answer; where they are stored is
:mod:`kwrec.core.rules_store`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kwrec.core.models.protocol import Suggestion
from kwrec.core.text.keyboard import hangul_from_latin
from kwrec.core.text.normalize import clean_text, search_key
from kwrec.errors import RuleError
from kwrec.ids import validate_customer

Reason = Literal[
    "privacy",
    "defamation",
    "copyright",
    "illegal",
    "court-order",
    "profanity",
    "commercial",
    "election",
    "other",
]
REASONS: tuple[str, ...] = Reason.__args__  # type: ignore[attr-defined]
Match = Literal["exact", "contains"]
MAX_KEYWORD_CHARS = 100  # the API's own limit on a query
MAX_NOTE_CHARS = 500
MAX_AUTHOR_CHARS = 200
MAX_POSITION = 50  # the API's largest limit
VERDICT_CACHE = 65_536  # keywords whose block verdict a compiled rule set remembers


@dataclass(frozen=True)
class LiveBans:
    """Keywords an operator blocked live, for training to leave out too (``contains`` and ``exact``)."""

    contains: tuple[str, ...] = ()
    exact: tuple[str, ...] = ()

    def key(self) -> dict[str, list[str]] | None:
        """What the artifact's input key records of them (None when there are none)."""
        if not self.contains and not self.exact:
            return None
        return {"contains": sorted(self.contains), "exact": sorted(self.exact)}

    @classmethod
    def from_key(cls, key: dict[str, list[str]] | None) -> LiveBans:
        """The bans an artifact's input key recorded (:meth:`key`), none when it recorded none."""
        return cls(tuple(key.get("contains", ())), tuple(key.get("exact", ()))) if key else NO_BANS


NO_BANS = LiveBans()


@functools.lru_cache(maxsize=65_536)
def keys_of(text: str) -> frozenset[str]:
    """Every matching key of a keyword: its own, and that of its 한/영 conversion when it is Latin typed
    on a Korean layout."""
    keys = {search_key(text)}
    converted = hangul_from_latin(text) if text.isascii() else None
    if converted:
        keys.add(search_key(converted))
    keys.discard("")
    return frozenset(keys)


def parse_time(value: str, what: str) -> datetime:
    """An ISO-8601 time with its offset (``2026-12-24T00:00+09:00``, ``...Z``); a date alone is refused."""
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise RuleError(
            f"{what} {value!r} is not a time", hint="use ISO 8601 with an offset, e.g. 2026-12-24T00:00+09:00"
        ) from None
    if when.tzinfo is None:
        raise RuleError(
            f"{what} {value!r} has no time zone", hint="add one, e.g. +09:00 for KST or Z for UTC"
        )
    return when.astimezone(UTC)


def _display(value: str, what: str) -> str:
    text = clean_text(value)
    if not text or not search_key(text):
        raise RuleError(f"{what} {value!r} is empty after normalisation", hint="give a keyword with letters")
    if len(text) > MAX_KEYWORD_CHARS:
        raise RuleError(f"{what} is {len(text)} characters long", hint=f"at most {MAX_KEYWORD_CHARS}")
    return text


class Rule(BaseModel):
    """One rule in force (or scheduled). ``keyword`` and ``prefix`` are stored in display form."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["block", "pin"]
    customer: str
    keyword: str
    match: Match = "exact"  # blocks only
    reason: Reason | None = None  # blocks only
    prefix: str | None = None  # pins only
    position: int = Field(1, ge=1, le=MAX_POSITION)  # pins only
    starts: datetime | None = None
    until: datetime | None = None
    note: str = Field("", max_length=MAX_NOTE_CHARS)
    by: str = Field("", max_length=MAX_AUTHOR_CHARS)
    at: datetime

    @field_validator("customer")
    @classmethod
    def _customer(cls, v: str) -> str:
        return validate_customer(v)

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.kind == "block" and self.reason is None:
            raise ValueError("a block needs a reason")
        if self.kind == "pin" and not self.prefix:
            raise ValueError("a pin needs a prefix")
        if self.starts and self.until and self.until <= self.starts:
            raise ValueError("until must be after from")
        return self

    def identity(self) -> tuple[str, str, str]:
        """Two rules with the same identity are the same rule (the newer replaces the older)."""
        if self.kind == "block":
            return ("block", self.customer, search_key(self.keyword))
        return ("pin", self.customer, f"{search_key(self.prefix or '')}\x00{search_key(self.keyword)}")

    def active(self, now: datetime) -> bool:
        return (self.starts is None or self.starts <= now) and (self.until is None or now < self.until)

    def describe(self) -> str:
        window = ""
        if self.starts or self.until:
            window = f" from {self.starts.isoformat() if self.starts else 'now'}"
            window += f" until {self.until.isoformat()}" if self.until else ""
        if self.kind == "block":
            return f"block {self.keyword!r} ({self.match}, {self.reason}){window}"
        return f"pin {self.keyword!r} at {self.position} for {self.prefix!r}{window}"


def make_block(
    customer: str,
    keyword: str,
    reason: str,
    *,
    match: str = "exact",
    starts: str | None = None,
    until: str | None = None,
    note: str = "",
    by: str = "",
    now: datetime | None = None,
) -> Rule:
    """A validated block rule from command-line input; :class:`RuleError` names what is wrong."""
    if reason not in REASONS:
        raise RuleError(f"unknown reason {reason!r}", hint="use one of: " + ", ".join(REASONS))
    if match not in ("exact", "contains"):
        raise RuleError(f"unknown match {match!r}", hint="use exact or contains")
    return _rule(
        kind="block",
        customer=customer,
        keyword=_display(keyword, "keyword"),
        match=match,
        reason=reason,
        starts=starts,
        until=until,
        note=note,
        by=by,
        now=now,
    )


def make_pin(
    customer: str,
    prefix: str,
    keyword: str,
    *,
    position: int = 1,
    starts: str | None = None,
    until: str | None = None,
    note: str = "",
    by: str = "",
    now: datetime | None = None,
) -> Rule:
    if not 1 <= position <= MAX_POSITION:
        raise RuleError(f"position {position} is out of range", hint=f"use 1 to {MAX_POSITION}")
    return _rule(
        kind="pin",
        customer=customer,
        keyword=_display(keyword, "keyword"),
        prefix=_display(prefix, "prefix"),
        position=position,
        starts=starts,
        until=until,
        note=note,
        by=by,
        now=now,
    )


def rule_author(by: str) -> str:
    """Who made a change, as the audit trail keeps it: one line of visible text (a newline in ``--by``
    would forge a second line of ``kwrec rules --history``)."""
    author = clean_text(by)
    if len(author) > MAX_AUTHOR_CHARS:
        raise RuleError(f"--by is {len(author)} characters long", hint=f"at most {MAX_AUTHOR_CHARS}")
    return author


def _rule(
    *, starts: str | None, until: str | None, note: str, by: str, now: datetime | None, **fields: object
) -> Rule:
    validate_customer(str(fields["customer"]))
    by = rule_author(by)
    if len(note) > MAX_NOTE_CHARS:
        raise RuleError(f"the note is {len(note)} characters long", hint=f"at most {MAX_NOTE_CHARS}")
    begin = parse_time(starts, "--from") if starts else None
    end = parse_time(until, "--until") if until else None
    at = now or datetime.now(UTC)
    if begin and end and end <= begin:
        raise RuleError("--until is not after --from", hint="give a window that ends after it starts")
    if end and end <= at:
        raise RuleError(f"--until {until} is already past", hint="give a time in the future")
    return Rule.model_validate(
        {**fields, "starts": begin, "until": end, "note": clean_text(note), "by": by, "at": at}
    )


@dataclass(frozen=True)
class CustomerRules:
    """The rules of one customer in force at one moment, compiled for the request path."""

    exact: frozenset[str]
    contains: frozenset[str]
    contains_lengths: tuple[int, ...]
    pins: dict[str, tuple[tuple[int, str], ...]]  # prefix key -> (position, keyword), by position
    # Verdicts per keyword: a model answers from a bounded vocabulary, so after a warm-up a check is a
    # dict look-up. Cleared when it grows past VERDICT_CACHE (a new compile starts empty anyway).
    _verdicts: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def compile(cls, rules: Iterable[Rule]) -> CustomerRules:
        exact: set[str] = set()
        contains: set[str] = set()
        pins: dict[str, list[tuple[int, str]]] = {}
        for r in rules:
            if r.kind == "block":
                (exact if r.match == "exact" else contains).update(keys_of(r.keyword))
            else:
                for key in keys_of(r.prefix or ""):
                    pins.setdefault(key, []).append((r.position, r.keyword))
        return cls(
            frozenset(exact),
            frozenset(contains),
            tuple(sorted({len(t) for t in contains})),
            {k: tuple(sorted(v)) for k, v in pins.items()},
        )

    @property
    def empty(self) -> bool:
        return not (self.exact or self.contains or self.pins)

    def blocked(self, keyword: str) -> bool:
        verdict = self._verdicts.get(keyword)
        if verdict is None:
            verdict = self._blocked(keyword)
            if len(self._verdicts) >= VERDICT_CACHE:
                self._verdicts.clear()
            self._verdicts[keyword] = verdict
        return verdict

    def _blocked(self, keyword: str) -> bool:
        keys = keys_of(keyword)
        if self.exact and not self.exact.isdisjoint(keys):
            return True
        if self.contains:
            terms = self.contains
            # One window per term length: cheaper than testing every term when there are many.
            for key in keys:
                for n in self.contains_lengths:
                    if n > len(key):
                        break
                    if any(key[i : i + n] in terms for i in range(len(key) - n + 1)):
                        return True
        return False

    def apply(
        self, fetch: Callable[[int], list[Suggestion]], limit: int, prefix: str | None = None
    ) -> list[Suggestion]:
        """The answer with blocked keywords left out (asking ``fetch`` for more to fill the gaps) and, for
        a prefix, its pins put in place."""
        want = limit
        while True:
            got = fetch(want)
            kept = [s for s in got if not self.blocked(s.keyword)]
            if len(kept) >= limit or len(got) < want or want >= 8 * limit + 64:
                break
            want = want * 2 + 8
        pinned: tuple[tuple[int, str], ...] = ()
        if prefix is not None and self.pins:
            pinned = next((self.pins[k] for k in keys_of(prefix) if k in self.pins), ())
        if not pinned:
            return kept[:limit]
        pinned = tuple((p, k) for p, k in pinned if not self.blocked(k))  # a block wins over a pin
        pin_keys = {search_key(k) for _, k in pinned}
        rest = [s for s in kept if search_key(s.keyword) not in pin_keys]
        top = rest[0].score if rest else 1.0
        for position, keyword in pinned:
            rest.insert(min(position - 1, len(rest)), Suggestion(keyword, top))
        return rest[:limit]


EMPTY = CustomerRules(frozenset(), frozenset(), (), {})
