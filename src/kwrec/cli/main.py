"""The `kwrec` command: a thin shell over the library's pipeline functions."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from kwrec import ARTIFACT_FORMAT, TRAINING_REVISION, __version__
from kwrec.adapters.stores import open_store
from kwrec.cli.deploy import deploy, gc, releases, rollback, verify
from kwrec.cli.diff import diff
from kwrec.cli.image import build, push
from kwrec.cli.options import ConfigOpt, JsonOpt, StoreOpt, load, user_errors
from kwrec.cli.output import console, print_json, print_table, report, stdout, step
from kwrec.cli.rules import block, pin, rules, unblock, unpin
from kwrec.cli.run import run
from kwrec.cli.serve import serve
from kwrec.core.answers import KINDS, Kind, answer, query_too_long
from kwrec.core.manifest import open_release
from kwrec.core.rules_store import RuleSet, read_rules
from kwrec.errors import ConfigError, StoreError, StoreNotFound, UnknownCustomerError
from kwrec.ids import timestamp_now, validate_customer, validate_timestamp, validate_version
from kwrec.settings import Settings
from kwrec.settings.evaluate import EvaluateSettings

_EVAL = EvaluateSettings()  # the defaults --help names

app = typer.Typer(
    help="kwrec: search-keyword recommendations, trained and released daily.", no_args_is_help=True
)


def _print_version(value: bool) -> None:
    if value:
        # The same code version /version and every manifest report (the installed package's).
        formats = f"artifact format {ARTIFACT_FORMAT}, training revision {TRAINING_REVISION}"
        stdout.print(f"kwrec {__version__} ({formats})", highlight=False)
        raise typer.Exit()


@app.callback()
def _kwrec(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print kwrec's version and exit"
        ),
    ] = False,
) -> None:
    """kwrec: search-keyword recommendations, trained and released daily."""


def _settings(config: Path | None, **overrides: Any) -> Settings:
    return load(config, **overrides)


@app.command()
@user_errors
def train(
    data: Annotated[
        str | None, typer.Option("--data", help="one folder of logs per customer, or s3://bucket/prefix")
    ] = None,
    store: StoreOpt = None,
    timestamp: Annotated[
        str | None, typer.Option("--timestamp", help="release timestamp YYMMDDHHMM (UTC now)")
    ] = None,
    model_name: Annotated[
        str | None, typer.Option("--model-name", help="the version's name part (default: model_name, gs)")
    ] = None,
    evaluate: Annotated[
        bool, typer.Option("--evaluate/--no-evaluate", help="time-split metrics per customer")
    ] = True,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Train every customer under the data directory into release <model_name>_<timestamp>."""
    from rich.progress import Progress

    from kwrec.pipeline.train import summary_rows, train_release

    settings = _settings(config, store=store, model_name=model_name)
    ts = validate_timestamp(timestamp) if timestamp else timestamp_now()
    st = open_store(settings.store, settings.s3)
    with (
        step(f"train release {settings.model_name}_{ts} into {st.url}"),
        Progress(console=console, disable=not console.is_terminal, transient=True) as bar,
    ):
        task = bar.add_task("customers", total=None)
        outcome = train_release(
            settings,
            st,
            timestamp=ts,
            data_dir=data,
            evaluate=evaluate,
            report=report,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    m = outcome.manifest
    if json_out:
        print_json(
            {
                "version": m.version,
                "trained": outcome.trained,
                "reused": outcome.reused,
                "failed": outcome.failed,
                "seconds": round(outcome.seconds, 2),
                "customers": {c: e.model_dump(mode="json") for c, e in m.customers.items()},
            }
        )
    else:
        print_table(f"release {m.version}", summary_rows(m))
        # Each failure was reported as it happened; the summary only names them.
        failed = f" ({', '.join(outcome.failed)}: see above)" if outcome.failed else ""
        console.print(
            escape(
                f"trained {len(outcome.trained)}, reused {len(outcome.reused)}, "
                f"failed {len(outcome.failed)}{failed} in {outcome.seconds:.1f}s"
            ),
            highlight=False,
        )


def _read_batch(path: Path) -> list[str]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read batch file {path}: {exc.strerror}") from None
    return raw.decode("utf-8", errors="replace").splitlines()


@app.command()
@user_errors
def suggest(
    customer: Annotated[str, typer.Argument(help="customer id")],
    query: Annotated[str | None, typer.Argument(help="what the user typed")] = None,
    kind: Annotated[
        str, typer.Option("--kind", help="autocomplete | related | popular | trending")
    ] = "autocomplete",
    limit: Annotated[int, typer.Option("--limit", min=1, max=50, help="most suggestions to show")] = 10,
    store: StoreOpt = None,
    version: Annotated[
        str | None, typer.Option("--version", help="release version (default: newest)")
    ] = None,
    batch: Annotated[
        Path | None, typer.Option("--batch", help="answer every line of FILE (JSON lines)")
    ] = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Suggestions from a stored release, without a server."""
    if kind not in KINDS:
        raise ConfigError(f"unknown --kind {kind!r}", hint=f"use one of {', '.join(KINDS)}")
    k: Kind = kind
    validate_customer(customer)
    if version:
        validate_version(version)
    needs_query = k in ("autocomplete", "related")
    if needs_query and query is None and batch is None:
        raise ConfigError(f"--kind {k} needs a QUERY argument or --batch FILE")
    too_long = query_too_long(query) if needs_query and query is not None and batch is None else None
    if too_long is not None:
        raise ConfigError(f"QUERY: {too_long}", hint="the API answers 422 to it too; shorten it")
    settings = _settings(config, store=store)
    st = open_store(settings.store, settings.s3, must_exist=True)
    release = open_release(st, version, settings.cache_dir)
    # The live rules in force, as the serving replicas apply them.
    rules = read_rules(st)[0].for_customer(customer, datetime.now(UTC)) if settings.rules.enabled else None
    model = release.models.get(customer)
    if model is None:
        raise UnknownCustomerError(
            f"customer {customer!r} is not in release {release.version}",
            hint=f"customers: {', '.join(sorted(release.models)) or 'none'}",
        )
    if batch is not None:
        for line in _read_batch(batch):
            refused = query_too_long(line) if needs_query else None
            # A line the API would refuse gets the API's 422 body, so a batch still has one line per query.
            print_json(
                {"error": "invalid_request", "message": refused, "query": line}
                if refused is not None
                else answer(model, release.version, k, line, limit, rules)
            )
        return
    body = answer(model, release.version, k, query, limit, rules)
    if json_out:
        print_json(body)
        return
    rows = [
        {"#": i, "keyword": s["keyword"], "score": s["score"]} for i, s in enumerate(body["suggestions"], 1)
    ]
    title = (
        f"{k} {customer} {query!r} ({release.version})"
        if needs_query
        else f"{k} {customer} ({release.version})"
    )
    print_table(title, rows)


@app.command()
@user_errors
def evaluate(
    data: Annotated[
        str | None, typer.Option("--data", help="one folder of logs per customer, or s3://bucket/prefix")
    ] = None,
    customer: Annotated[list[str] | None, typer.Option("--customer", help="only these customers")] = None,
    test_fraction: Annotated[
        float | None,
        typer.Option(
            "--test-fraction",
            min=0.01,
            max=0.9,
            help=escape(f"newest share held out (default: [evaluate] test_fraction, {_EVAL.test_fraction})"),
        ),
    ] = None,
    prefixes_per_query: Annotated[
        int | None,
        typer.Option("--prefixes-per-query", min=1, help="N sampled prefix lengths per test query"),
    ] = None,
    all_prefixes: Annotated[
        bool, typer.Option("--all-prefixes", help="every prefix length 1..len-1 of each test query")
    ] = False,
    max_test_queries: Annotated[
        int | None,
        typer.Option(
            "--max-test-queries",
            min=1,
            help=escape(
                f"test queries sampled (default: [evaluate] max_test_queries, {_EVAL.max_test_queries})"
            ),
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help=escape(f"seed of the samples (default: [evaluate] seed, {_EVAL.seed})")),
    ] = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Time-split evaluation: kwrec vs the most-popular-completion baseline, seen/unseen."""
    from rich.markup import escape
    from rich.progress import Progress

    from kwrec.core.evaluation import FIGURES, FLOORED, describe_plan, evaluate_events, versus_mpc
    from kwrec.core.ingest import list_customers, load_customer_config
    from kwrec.core.preprocess import read_and_preprocess
    from kwrec.pipeline.train import open_data, quarantine_file

    settings = _settings(config)
    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "test_fraction": test_fraction,
            "prefixes": "all" if all_prefixes else prefixes_per_query,
            "max_test_queries": max_test_queries,
            "seed": seed,
        }.items()
        if v is not None
    }
    protocol = settings.evaluate.model_copy(update=overrides)
    root = open_data(settings, data)
    customers, problems = list_customers(root)
    for p in problems:
        report(f"skipped: {p}")
    if customer:
        unknown = sorted(set(customer) - set(customers))
        if unknown:
            raise UnknownCustomerError(f"no customer {', '.join(unknown)} under {root.url}")
        customers = [c for c in customers if c in customer]
    rules = _rules_training_honours(settings)
    now = datetime.now(UTC)
    results = []
    for c in customers:
        bans = rules.bans(c, now)
        cfg = load_customer_config(root.customer(c)).with_live_bans(bans)
        if bans.key() is not None:
            n = len(bans.contains) + len(bans.exact)
            report(f"{c}: leaving out {n} live block(s) of the store, as training does")
        params = cfg.train_params(settings.train)
        kept = quarantine_file(settings.cache_dir, "evaluate", c)
        pre, quarantine = read_and_preprocess(root.customer(c), cfg, params, kept)
        if quarantine.total:
            report(f"{c}: {quarantine.summary()}")
        with Progress(console=console, disable=not console.is_terminal) as progress:
            task = progress.add_task(f"evaluating {c}", total=None)

            def tick(
                done: int, total: int, task: Any = task, progress: Any = progress, name: str = c
            ) -> None:
                progress.update(task, completed=done, total=total)
                if not console.is_terminal:
                    report(f"{name}: {done}/{total} test queries")

            results.append(
                evaluate_events(
                    pre.events, params, customer=c, protocol=protocol, progress=tick, banned=cfg.banned_text
                )
            )
    if json_out:
        print_json(results)
        return
    same = "the same as" if not overrides else "NOT the same as (options given)"
    stdout.print(
        escape(
            f"protocol: {describe_plan(protocol.prefixes)}, test fraction {protocol.test_fraction}, "
            f"at most {protocol.max_test_queries or 'all'} test queries, seed {protocol.seed}: {same} "
            "the evaluation `kwrec train` stores ([evaluate] in kwrec.toml)"
        ),
        highlight=False,
    )
    for r in results:
        share = f"{r['test_queries']} test queries, {r['unseen_share']:.0%} unseen"
        for figure, title in FIGURES.items():
            rows = [{"system/part": key, **vals} for key, vals in r[figure].items()]
            print_table(f"{r['customer']}: autocomplete, {title} ({share})", rows)
        for figure, title in FIGURES.items():
            ratio = versus_mpc(r, figure)
            if not r["test_queries"]:
                verdict = "no test query: too few events to hold out a test part"
            elif not r[figure]["kwrec/seen"]["prefixes"]:
                verdict = "no test query was seen in training: nothing to compare on seen queries"
            elif (ratio["seen"] or 1) < 1:
                verdict = "BELOW the most-popular-completion baseline"
            else:
                verdict = "at or above MPC"
            shown = {part: "n/a" if v is None else v for part, v in ratio.items()}
            line = f"{r['customer']}: kwrec / MPC mrr@10 ({title}): all {shown['all']}, seen {shown['seen']}"
            stdout.print(escape(f"{line} ({verdict})"), highlight=False)
            floored = versus_mpc(r, figure, FLOORED)
            if floored["seen"] is not None:
                # MPC lists what one person typed, which kwrec never may: this line tells the floor's
                # share of a gap from the ranking's.
                stdout.print(
                    escape(
                        f"{r['customer']}: kwrec / MPC held to the same privacy floor (queries "
                        f"{r['min_users']}+ people typed) ({title}): all {floored['all']}, "
                        f"seen {floored['seen']}"
                    ),
                    highlight=False,
                )
        rel = r["related"]
        stdout.print(f"{r['customer']}: related hit rate@10 = {rel['hit_rate@10']} over {rel['pairs']} pairs")


def _rules_training_honours(settings: Settings) -> RuleSet:
    """The store's live rules, whose blocks training leaves out: none when there is no store yet, or
    when it cannot be read (said: evaluation is offline work and goes on without them)."""
    from kwrec.pipeline.train import live_rules

    try:
        return live_rules(settings, open_store(settings.store, settings.s3, must_exist=True))
    except StoreNotFound:
        return RuleSet()
    except StoreError as exc:
        report(f"live rules not read ({exc}): evaluating without their blocks")
        return RuleSet()


@app.command("sample-data")
@user_errors
def sample_data(out: Annotated[Path, typer.Argument(help="output directory")] = Path("data/sample")) -> None:
    """Regenerate the bundled synthetic sample logs (deterministic)."""
    from kwrec.core.sample_data import generate

    counts = generate(out)
    print_table(f"sample data in {out}", [{"customer": c, "rows": n} for c, n in counts.items()])


app.command()(serve)
app.command()(build)
app.command()(push)
app.command()(deploy)
app.command()(verify)
app.command()(rollback)
app.command()(releases)
app.command()(gc)
app.command()(run)
app.command()(diff)
for _rule_command in (block, unblock, pin, unpin, rules):
    app.command()(_rule_command)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
