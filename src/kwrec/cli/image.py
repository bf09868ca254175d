"""`kwrec build` and `kwrec push`: the release image commands (pipeline in ``kwrec.pipeline.image``).

Registered in ``kwrec.cli.main`` with ``app.command()(build)`` and ``app.command()(push)``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from kwrec.adapters.stores import open_store
from kwrec.cli.options import ConfigOpt, JsonOpt, StoreOpt, VersionOpt, load, user_errors
from kwrec.cli.output import console, print_json, report

_STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)")


ShardOpt = Annotated[
    str | None,
    typer.Option("--shard", help="only this shard (sNNN; default: every shard this release built)"),
]


@user_errors
def build(
    version: VersionOpt = None,
    store: StoreOpt = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="rebuild every layer")] = False,
    shard: ShardOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Build a stored release's images (each shard it built itself) through the Docker Engine API."""
    from kwrec.pipeline.image import own_shards

    settings = load(config, store=store)
    st = open_store(settings.store, settings.s3, must_exist=True)
    results = {}
    for one in [shard] if shard else own_shards(st, version):
        results[one] = _build_one(settings, st, version, one, no_cache)
    if json_out:
        print_json(next(iter(results.values())) if len(results) == 1 else {"shards": results})


def _build_one(settings: Any, st: Any, version: str | None, shard: str, no_cache: bool) -> dict[str, Any]:
    from kwrec.pipeline.image import build_release_image

    if console.is_terminal:
        # A live bar over the Dockerfile steps; the step lines still scroll above it.
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("build", total=None)

            def sink(line: str) -> None:
                m = _STEP_RE.match(line)
                if m:
                    progress.update(task, completed=int(m[1]) - 1, total=int(m[2]), description=m[3][:60])
                progress.console.print(line, highlight=False, markup=False)

            result = build_release_image(settings, st, version, sink, shard=shard, nocache=no_cache)
    else:
        result = build_release_image(settings, st, version, _plain, shard=shard, nocache=no_cache)
    return result.to_dict()


@user_errors
def push(
    version: VersionOpt = None,
    store: StoreOpt = None,
    force: Annotated[bool, typer.Option("--force", help="replace a tag that has another digest")] = False,
    shard: ShardOpt = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Push a release's shard images to the configured registry (v2 or ECR); confirm their digests."""
    from kwrec.pipeline.image import own_shards, push_release_image

    settings = load(config, store=store)
    st = open_store(settings.store, settings.s3, must_exist=True)
    pushed = {
        one: push_release_image(settings, st, version, report, shard=one, force=force).dump()
        for one in ([shard] if shard else own_shards(st, version))
    }
    if json_out:
        print_json(next(iter(pushed.values())) if len(pushed) == 1 else {"shards": pushed})


def _plain(line: str) -> None:
    # Not a terminal (CI, Airflow logs): one plain line per build log line, no markup.
    console.print(line, highlight=False, markup=False, soft_wrap=True)
