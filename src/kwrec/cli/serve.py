"""`kwrec serve`: the recommendation API. Registered in ``kwrec.cli.main`` as ``app.command()(serve)``.

Every option also comes from the environment (``KWREC_STORE``, ``KWREC_SERVE__PORT``,
``KWREC_SERVE__WORKERS``, ``KWREC_SERVE__MODEL_VERSION``, ...), so a container runs it with no arguments.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from kwrec.cli.options import ConfigOpt, LogFormatOpt, LogLevelOpt, StoreOpt, load, user_errors
from kwrec.errors import ArtifactError, ConfigError, StoreError
from kwrec.ids import validate_version
from kwrec.settings import Settings


@user_errors
def serve(
    store: StoreOpt = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="release to serve, e.g. gs_2611271500 (default: newest)"),
    ] = None,
    model_version: Annotated[
        str | None, typer.Option("--model-version", hidden=True, help="deprecated spelling of --version")
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="address to listen on (default 127.0.0.1)")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="port to listen on (default 8000)")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, max=64, help="worker processes (default 1)")
    ] = None,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            # Help is rich markup: escaped, or "[log]" vanishes.
            help=escape("log every request (query values as their length unless [log] raw_queries = true)"),
        ),
    ] = False,
    log_level: LogLevelOpt = None,
    log_format: LogFormatOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Serve the recommendation API (autocomplete, related, popular, trending) for one release."""
    from kwrec.api.server import serve as run_server

    if version is not None and model_version is not None and version != model_version:
        raise ConfigError("--version and --model-version disagree", hint="pass --version only")
    chosen = version or model_version
    if chosen is not None:
        validate_version(chosen)
    settings = load(config, store=store, log_level=log_level, log_format=log_format)
    overrides = {"host": host, "port": port, "workers": workers, "model_version": chosen}
    serve_settings = settings.serve.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    settings = settings.model_copy(update={"serve": serve_settings})
    if chosen is not None:
        _must_be_stored(settings, chosen)
    run_server(settings, config=config, access_log=access_log)


def _must_be_stored(settings: Settings, version: str) -> None:
    """A version the store does not have is a mistake to say now (``ReleaseNotFoundError``): a server for
    it would run and never become ready. A store that cannot be asked, or a manifest it cannot read, is
    the server's to report (on /readyz, as in a container)."""
    from kwrec.adapters.stores import open_store
    from kwrec.core.manifest import read_manifest

    try:
        read_manifest(open_store(settings.store, settings.s3), version)
    except (StoreError, ArtifactError):
        return


if __name__ == "__main__":  # `python -m kwrec.cli.serve`, usable before/without the `kwrec` entry point
    typer.run(serve)
