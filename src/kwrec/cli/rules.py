"""`kwrec block`, `unblock`, `pin`, `unpin` and `rules`: live rules in the artifact store (docs/rules.md)."""

from __future__ import annotations

import getpass
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from kwrec.adapters.stores import open_store
from kwrec.cli.options import ConfigOpt, JsonOpt, StoreOpt, load, user_errors
from kwrec.cli.output import console, print_json, print_table
from kwrec.core.rules import REASONS, Rule, make_block, make_pin
from kwrec.core.rules_store import Change, RuleSet, read_history, read_rules
from kwrec.core.rules_store import block as store_block
from kwrec.core.rules_store import pin as store_pin
from kwrec.core.rules_store import unblock as store_unblock
from kwrec.core.rules_store import unpin as store_unpin
from kwrec.core.store import ArtifactStore
from kwrec.ids import validate_customer
from kwrec.pipeline.records import rule_reach_problem

CustomerArg = Annotated[str, typer.Argument(help="customer id")]
KeywordArg = Annotated[str, typer.Argument(help="the keyword, as users see it")]
PrefixArg = Annotated[str, typer.Argument(help="what the user has typed")]
FromOpt = Annotated[
    str | None, typer.Option("--from", help="start, ISO 8601 with offset (2026-12-24T00:00+09:00)")
]
UntilOpt = Annotated[str | None, typer.Option("--until", help="end, ISO 8601 with offset; expires by itself")]
NoteOpt = Annotated[str, typer.Option("--note", help="why, for the audit trail (at most 500 characters)")]
ByOpt = Annotated[str | None, typer.Option("--by", help="who makes the change (default: user@host)")]


def _who(by: str | None) -> str:
    return by if by else f"{getpass.getuser()}@{socket.gethostname()}"


def _store(store: str | None, config: Path | None, *, must_exist: bool = False) -> ArtifactStore:
    settings = load(config, store=store)
    return open_store(settings.store, settings.s3, must_exist=must_exist)


def _row(r: Rule) -> dict[str, Any]:
    return {
        "customer": r.customer,
        "rule": r.kind,
        "keyword": r.keyword,
        "prefix / match": r.prefix if r.kind == "pin" else r.match,
        "reason / position": r.reason if r.kind == "block" else r.position,
        "from": r.starts.isoformat() if r.starts else "",
        "until": r.until.isoformat() if r.until else "",
        "by": r.by,
        "note": r.note,
    }


def _warn_reach(st: ArtifactStore, customer: str) -> None:
    problem = rule_reach_problem(st, customer)
    if problem:
        console.print(f"warning: {problem}", highlight=False, soft_wrap=True)


def _done(rules: RuleSet, change: Change, json_out: bool) -> None:
    if json_out:
        print_json({"version": rules.version, "change": change.model_dump(mode="json")})
        return
    if change.rule is not None:
        what = change.rule.describe()
        if change.removed:  # the same keyword in another spelling, or the same rule changed
            what += " (replaces " + "; ".join(r.describe() for r in change.removed) + ")"
    else:
        what = "removed " + "; ".join(r.describe() for r in change.removed)
    console.print(
        f"rules version {rules.version}: {what}. Serving replicas apply it at their next poll.",
        highlight=False,
    )


@user_errors
def block(
    customer: CustomerArg,
    keyword: KeywordArg,
    reason: Annotated[str, typer.Option("--reason", help="one of: " + ", ".join(REASONS))],
    match: Annotated[
        str,
        typer.Option("--match", help="exact: the keyword in any spelling; contains: any suggestion with it"),
    ] = "exact",
    starts: FromOpt = None,
    until: UntilOpt = None,
    note: NoteOpt = "",
    by: ByOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Take a keyword out of every answer of a customer, live (no retraining)."""
    rule = make_block(
        customer, keyword, reason, match=match, starts=starts, until=until, note=note, by=_who(by)
    )
    st = _store(store, config)
    _done(*store_block(st, rule), json_out)
    _warn_reach(st, rule.customer)


@user_errors
def unblock(
    customer: CustomerArg,
    keyword: KeywordArg,
    by: ByOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Remove a customer's block of a keyword (the history keeps it)."""
    _done(*store_unblock(_store(store, config), customer, keyword, by=_who(by)), json_out)


@user_errors
def pin(
    customer: CustomerArg,
    prefix: PrefixArg,
    keyword: KeywordArg,
    position: Annotated[int, typer.Option("--position", help="1 = first suggestion")] = 1,
    starts: FromOpt = None,
    until: UntilOpt = None,
    note: NoteOpt = "",
    by: ByOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show a keyword at a position of the autocomplete answer for a prefix, live."""
    rule = make_pin(
        customer, prefix, keyword, position=position, starts=starts, until=until, note=note, by=_who(by)
    )
    st = _store(store, config)
    _done(*store_pin(st, rule), json_out)
    _warn_reach(st, rule.customer)


@user_errors
def unpin(
    customer: CustomerArg,
    prefix: PrefixArg,
    keyword: KeywordArg,
    by: ByOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Remove a pin (the history keeps it)."""
    _done(*store_unpin(_store(store, config), customer, prefix, keyword, by=_who(by)), json_out)


@user_errors
def rules(
    customer: Annotated[str | None, typer.Argument(help="only this customer's rules")] = None,
    history: Annotated[bool, typer.Option("--history", help="every change ever made, oldest first")] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The rules in force (and scheduled), or with --history every change with who, when, why."""
    if customer is not None:
        validate_customer(customer)
    st = _store(store, config, must_exist=True)
    if history:
        changes = [
            c
            for c in read_history(st)
            if customer is None or any(r.customer == customer for r in (c.rule, *c.removed) if r is not None)
        ]
        if json_out:
            print_json([c.model_dump(mode="json") for c in changes])
            return
        rows = [
            {
                "version": c.version,
                "at": c.at.isoformat(timespec="seconds"),
                "by": c.by,
                "action": c.action,
                "rule": (c.rule or c.removed[0]).describe() if (c.rule or c.removed) else "",
                "customer": (c.rule or c.removed[0]).customer if (c.rule or c.removed) else "",
                "note": (c.rule or c.removed[0]).note if (c.rule or c.removed) else "",
            }
            for c in changes
        ]
        print_table(f"rules history ({len(rows)} changes)", rows)
        return
    current, _ = read_rules(st)
    now = datetime.now(UTC)
    in_force = current.in_force(now, customer)
    if json_out:
        print_json(
            {
                "version": current.version,
                "rules": [{**r.model_dump(mode="json"), "active": r.active(now)} for r in in_force],
            }
        )
        return
    print_table(f"rules in force (version {current.version})", [_row(r) for r in in_force])
