"""`kwrec deploy`, `verify`, `rollback`, `releases` and `gc` (pipeline in ``kwrec.pipeline.deploy``).

Registered in ``kwrec.cli.main`` with ``app.command()(deploy)`` etc.; ``releases`` replaces the
simple table there.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from kwrec.adapters.stores import ArtifactStore, open_store
from kwrec.cli.options import ConfigOpt, JsonOpt, StoreOpt, TargetOpt, load, user_errors
from kwrec.cli.output import console, print_json, print_table, report, stdout
from kwrec.ids import validate_version
from kwrec.settings import Settings

if TYPE_CHECKING:  # the release extra (docker, httpx) only when a command needs it
    from kwrec.pipeline.deploy import DeployOutcome


def _open(config: Path | None, store: str | None) -> tuple[Settings, ArtifactStore]:
    settings = load(config, store=store)
    # Every command here reads releases that must already be stored: no store is an error, not a new one.
    return settings, open_store(settings.store, settings.s3, must_exist=True)


@user_errors
def deploy(
    version: Annotated[str | None, typer.Option("--version", help="release (default: newest)")] = None,
    target: TargetOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Deploy a release, verify it live, and roll back automatically when anything fails."""
    from kwrec.core.manifest import latest_version
    from kwrec.pipeline.deploy import deploy_release

    settings, st = _open(config, store)
    v = validate_version(version) if version else latest_version(st)
    _print_outcome(deploy_release(settings, st, v, report, target=target), json_out)


def _print_outcome(outcome: DeployOutcome, json_out: bool) -> None:
    """What a deploy or rollback made live: JSON, or one line on stdout (the progress was on stderr)."""
    if json_out:
        print_json(
            {
                "target": outcome.target,
                "version": outcome.version,
                "previous": outcome.previous,
                "url": outcome.url,
                "verification": [r.to_dict() for r in outcome.reports],
            }
        )
    else:
        stdout.print(
            escape(f"{outcome.version} is live on {outcome.target} at {outcome.url}"), highlight=False
        )


@user_errors
def verify(
    version: Annotated[str | None, typer.Option("--version", help="expected release (default: live)")] = None,
    target: TargetOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Check the live API against a release: version, golden queries, latency, demo page, metrics."""
    from kwrec.pipeline.deploy import verify_live

    settings, st = _open(config, store)
    result = verify_live(settings, st, report, target=target, version=version)
    if json_out:
        print_json(result.to_dict())
    else:
        # The verdict is the command's output (stdout); the progress lines went to stderr.
        for check in result.checks:
            if not check.ok:
                stdout.print(escape(check.line()), highlight=False)
        stdout.print(escape(result.summary()), highlight=False)
    if not result.ok:
        raise typer.Exit(1)


@user_errors
def rollback(
    to: Annotated[str | None, typer.Option("--to", help="release (default: the previous live one)")] = None,
    target: TargetOpt = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Make the previous live release (or --to VERSION) live again, then verify it."""
    from kwrec.pipeline.deploy import rollback as do_rollback

    settings, st = _open(config, store)
    outcome = do_rollback(settings, st, report, target=target, to=validate_version(to) if to else None)
    _print_outcome(outcome, json_out)


@user_errors
def releases(
    target: Annotated[str | None, typer.Option("--target", help="only where live on this target")] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Stored releases, oldest first: customers trained vs reused, metrics, image digest, where live."""
    from kwrec.pipeline.deploy import releases_rows
    from kwrec.pipeline.records import list_aliases

    _, st = _open(config, store)
    rows = releases_rows(st, target)
    aliases = list_aliases(st)
    if json_out:
        print_json({"releases": rows, "targets": [a.model_dump(mode="json") for a in aliases]})
        return
    table = [
        {
            "version": r["version"],
            "created": r["created"],
            "trained": ", ".join(r["trained"]) or "-",
            "reused": ", ".join(r["reused"]) or "-",
            "mrr@10 (MPC)": _metrics_cell(r) or "-",
            "image": (r["image"] or "-")[:19],
            "rules": f"v{r['rules_version']}" if r["rules_version"] else "-",
            "shards": _shards_cell(r["version"], r["shards"]),
            "live": ", ".join(r["live"]) or "-",
            "last deploy": r["last_deploy"] or "-",
        }
        for r in rows
    ]
    print_table(f"releases in {st.url}", table)
    for r in rows:
        if r["below_mpc"]:
            below = ", ".join(_below(r, c) for c in r["below_mpc"])
            stdout.print(
                escape(f"{r['version']}: below the most-popular-completion baseline: {below}"),
                highlight=False,
            )
    for a in aliases:
        busy = f"; BUSY: {a.lease.describe()}" if a.lease else ""
        console.print(
            escape(f"target {a.target} ({a.kind}): live {a.live or '-'}, previous {a.previous or '-'}{busy}"),
            highlight=False,
        )


def _below(row: dict[str, Any], customer: str) -> str:
    """``books-en (0.5 < 0.7; held to the privacy floor, MPC 0.69)``."""
    floor = row.get("mpc_floor_mrr@10", {}).get(customer)
    held = "" if floor is None else f"; held to the privacy floor, MPC {floor}"
    return f"{customer} ({row['mrr@10'][customer]} < {row['mpc_mrr@10'][customer]}{held})"


def _metrics_cell(row: dict[str, Any]) -> str:
    """``shop-kr=0.70 (0.75) BELOW MPC``: each customer's MRR@10 and the baseline's on the same prefixes."""
    mpc = row["mpc_mrr@10"]
    cells = []
    for c, m in row["mrr@10"].items():
        cell = f"{c}={m}" + (f" ({mpc[c]})" if c in mpc else "")
        cells.append(cell + (" BELOW MPC" if c in row["below_mpc"] else ""))
    return " ".join(cells)


def _shards_cell(version: str, shards: dict[str, dict[str, object]]) -> str:
    """``3: s000 (120) s001 (97, from gs_2612050900) ...``: each shard, its customers, whose build."""
    parts = [
        f"{s} ({d['customers']}{'' if d['built_in'] == version else ', from ' + str(d['built_in'])})"
        for s, d in shards.items()
    ]
    return f"{len(parts)}: " + " ".join(parts) if len(parts) > 1 else (parts[0] if parts else "-")


@user_errors
def gc(
    keep: Annotated[int, typer.Option("--keep", min=1, help="newest releases to keep")] = 7,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only say what would be deleted")] = False,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Delete old releases, their unshared artifacts and registry images (never live or rollback ones)."""
    from kwrec.pipeline.deploy import gc as do_gc

    settings, st = _open(config, store)
    result = do_gc(settings, st, keep, report, dry_run=dry_run)
    if json_out:
        print_json(dataclasses.asdict(result))
    else:
        console.print(
            f"kept {len(result.kept)}, deleted {len(result.deleted)} releases, "
            f"{len(result.artifacts)} artifacts, {len(result.images)} images, "
            f"{len(result.unfinished)} folders of unfinished runs" + (" (dry run)" if dry_run else ""),
            highlight=False,
        )
