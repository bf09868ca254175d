"""`kwrec serve`: the recommendation API. Registered in ``kwrec.cli.main`` as ``app.command()(serve)``.

Every option also comes from the environment (``KWREC_STORE``, ``KWREC_SERVE__PORT``,
``KWREC_SERVE__WORKERS``, ``KWREC_SERVE__MODEL_VERSION``, ...), so a container runs it with no arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kwrec.cli.output import console
from kwrec.errors import KwrecError
from kwrec.ids import validate_version
from kwrec.settings import load_settings


def serve(
    store: Annotated[
        str | None, typer.Option("--store", help="artifact store: a directory or s3://bucket/prefix")
    ] = None,
    model_version: Annotated[
        str | None,
        typer.Option("--model-version", help="release to serve, e.g. gs_2611271500 (default: newest)"),
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="address to listen on (default 127.0.0.1)")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", min=1, max=65535, help="default 8000")] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, max=64, help="worker processes (default 1)")
    ] = None,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="log every request")
    ] = False,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level")] = "info",
    config: Annotated[
        Path | None, typer.Option("--config", help="kwrec.toml (default: $KWREC_CONFIG or ./kwrec.toml)")
    ] = None,
) -> None:
    """Serve the recommendation API (autocomplete, related, popular, trending) for one release."""
    from kwrec.api.server import serve as run_server

    try:
        if model_version is not None:
            validate_version(model_version)
        overrides = {"host": host, "port": port, "workers": workers, "model_version": model_version}
        settings = load_settings(config, store=store)
        serve_settings = settings.serve.model_copy(
            update={k: v for k, v in overrides.items() if v is not None}
        )
        settings = settings.model_copy(update={"serve": serve_settings})
        run_server(settings, config=config, access_log=access_log, log_level=log_level)
    except KwrecError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(exc.exit_code) from None


if __name__ == "__main__":  # `python -m kwrec.cli.serve`, usable before/without the `kwrec` entry point
    typer.run(serve)
