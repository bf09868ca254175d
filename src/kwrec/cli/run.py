"""`kwrec run`: the whole daily release chain on one machine (pipeline in ``kwrec.pipeline.runner``).

Registered in ``kwrec.cli.main`` with ``app.command()(run)``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from kwrec.cli.options import ConfigOpt, JsonOpt, StoreOpt, fail, load
from kwrec.cli.output import print_json, print_table, report
from kwrec.errors import KwrecError
from kwrec.ids import timestamp_now, validate_timestamp


def run(
    timestamp: Annotated[
        str | None,
        typer.Option("--timestamp", help="release timestamp YYMMDDHHMM (default: UTC now); repeat to resume"),
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", help="one folder of logs per customer, or s3://bucket/prefix")
    ] = None,
    store: StoreOpt = None,
    config: ConfigOpt = None,
    rebalance: Annotated[
        bool,
        typer.Option("--rebalance", help="recompute every customer's shard (otherwise each keeps its own)"),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Train, gate, release, build, push, deploy and verify: the daily release in one command."""
    from kwrec.errors import ChainStepError
    from kwrec.pipeline.runner import ChainOutcome, run_chain

    outcome: ChainOutcome | None = None
    try:
        settings = load(config, store=store, data_dir=data)
        if rebalance:
            settings.release.rebalance = True
        ts = validate_timestamp(timestamp) if timestamp else timestamp_now()
        report(f"release chain {settings.model_name}_{ts}: store {settings.store}, data {settings.data_dir}")
        outcome = run_chain(settings, ts, report)
    except KwrecError as exc:
        # A step failure names the step; its hint says what keeps serving and how to resume.
        if json_out:
            step, cause = (exc.step, exc.cause) if isinstance(exc, ChainStepError) else (None, exc.message)
            print_json({"ok": False, "failed_step": step, "error": cause, "hint": exc.hint})
        raise fail(exc) from None
    if json_out:
        print_json({"ok": True, **outcome.to_dict()})
        return
    print_table(
        f"release chain {outcome.version}",
        [
            {"step": s.name, "status": s.status, "seconds": s.seconds, "detail": s.detail}
            for s in outcome.steps
        ],
    )
    held = ", ".join(
        f"{c} (new {d.get('new_mrr')} < live {d.get('live_mrr')})" for c, d in outcome.held_back.items()
    )
    print_table(
        "summary",
        [
            {"": "version", "value": outcome.version},
            {"": "trained", "value": ", ".join(outcome.trained) or "-"},
            {"": "reused", "value": ", ".join(outcome.reused) or "-"},
            {"": "held back by the gate", "value": held or "-"},
            {"": "failed customers", "value": ", ".join(outcome.failed) or "-"},
            {"": "image digest", "value": outcome.reference or outcome.digest or "-"},
            {"": "shards rebuilt", "value": ", ".join(outcome.shards_built) or "-"},
            {
                "": "shards reused",
                "value": ", ".join(f"{s} (from {v})" for s, v in outcome.shards_reused.items()) or "-",
            },
            {"": "shards redeployed", "value": ", ".join(outcome.shards_redeployed) or "-"},
            {"": "target", "value": f"{outcome.target} at {outcome.url}" if outcome.target else "-"},
            {"": "previous release", "value": outcome.previous or "-"},
            {"": "verification", "value": outcome.verification or "-"},
            {"": "resumed from", "value": outcome.resumed_from or "-"},
            {"": "total time", "value": f"{outcome.seconds:.1f}s"},
        ],
    )


if __name__ == "__main__":  # pragma: no cover - `python -m kwrec.cli.run`, with or without `kwrec run`
    typer.run(run)
