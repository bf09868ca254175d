"""`kwrec diff`: what changed in each customer's suggestions between two releases (docs/diff.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kwrec.adapters.stores import open_store
from kwrec.cli.options import ConfigOpt, JsonOpt, StoreOpt, user_errors
from kwrec.cli.output import print_json, print_table, report, stdout
from kwrec.core.release_diff import DEFAULT_PREFIXES, MOST_CHANGED, ListChange, ReleaseDiff, arrow
from kwrec.core.release_diff_page import render_page
from kwrec.errors import ConfigError
from kwrec.settings import load_settings


def _changes(change: ListChange) -> dict[str, str]:
    return {
        "entered": ", ".join(change.entered),
        "left": ", ".join(change.left),
        "moved": ", ".join(f"{m.keyword} {m.old_rank}->{m.new_rank}" for m in change.moved),
    }


def print_diff(diff: ReleaseDiff) -> None:
    rows = [
        {
            "customer": c.customer,
            "status": c.status,
            "stability": "-" if c.stability is None else f"{c.stability:.3f}",
            "keywords": arrow(*c.keywords),
            "mrr@10": arrow(*c.metrics["mrr@10"]),
            "popular +/-": f"+{len(c.popular.entered)}/-{len(c.popular.left)}",
            "trending +/-": f"+{len(c.trending.entered)}/-{len(c.trending.left)}",
            "changed most": ", ".join(p.prefix for p in c.prefixes[:5]),
        }
        for c in diff.customers
    ]
    print_table(f"diff {diff.old} -> {diff.new}", rows)
    for line in diff.rules:
        stdout.print(f"live rules: {line}", highlight=False, markup=False)
    for c in diff.customers:
        if c.status != "retrained":
            continue
        detail = [{"list": "popular", **_changes(c.popular)}, {"list": "trending", **_changes(c.trending)}]
        detail += [
            {"list": f"prefix {p.prefix!r} (overlap {p.overlap:.2f})", **_changes(p.change)}
            for p in c.prefixes[:MOST_CHANGED]
        ]
        print_table(f"{c.customer}: what entered, left and moved", detail)


@user_errors
def diff(
    old: Annotated[
        str | None, typer.Argument(help="older release (default: the one live before NEW)")
    ] = None,
    new: Annotated[str | None, typer.Argument(help="newer release (default: the newest)")] = None,
    customer: Annotated[
        list[str] | None, typer.Option("--customer", help="only this customer (repeatable)")
    ] = None,
    prefixes: Annotated[
        int, typer.Option("--prefixes", min=1, max=10_000, help="most-typed prefixes compared per customer")
    ] = DEFAULT_PREFIXES,
    html: Annotated[
        Path | None, typer.Option("--html", help="also write a self-contained HTML page with charts")
    ] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """What changed in each customer's suggestions between two releases: table, --json, --html."""
    from kwrec.pipeline.review import compare_releases

    settings = load_settings(config, store=store)
    st = open_store(settings.store, settings.s3)
    result = compare_releases(settings, st, old, new, customers=customer, prefixes=prefixes, report=report)
    if html is not None:
        try:
            html.write_text(render_page(result), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write --html {html}: {exc.strerror}") from None
        report(f"wrote {html}")
    if json_out:
        print_json(result.to_dict())
    else:
        print_diff(result)
