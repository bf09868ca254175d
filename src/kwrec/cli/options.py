"""Options and error handling shared by every `kwrec` command."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from pydantic import ValidationError
from rich.markup import escape

from kwrec.cli.output import console, json_logs, use_json_logs
from kwrec.errors import ConfigError, KwrecError
from kwrec.reporting import configure_logging
from kwrec.settings import Settings, load_settings
from kwrec.settings.log import LogSettings
from kwrec.settings.problems import invalid

_log = logging.getLogger("kwrec.cli")

StoreOpt = Annotated[
    str | None, typer.Option("--store", help="artifact store: a directory or s3://bucket/prefix")
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="kwrec.toml (default: $KWREC_CONFIG or ./kwrec.toml)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")]
VersionOpt = Annotated[
    str | None, typer.Option("--version", help="release version, e.g. gs_2611270900 (default: newest)")
]
LogLevelOpt = Annotated[
    str | None,
    typer.Option(
        "--log-level", help=escape("debug | info | warning | error | critical (default: [log] level, info)")
    ),
]
LogFormatOpt = Annotated[
    str | None, typer.Option("--log-format", help=escape("text | json (default: [log] format, text)"))
]
TargetOpt = Annotated[
    str | None, typer.Option("--target", help="docker | ecs (default: KWREC_DEPLOY__TARGET, docker)")
]


def load(
    config: Path | None, *, log_level: str | None = None, log_format: str | None = None, **overrides: Any
) -> Settings:
    """The command's settings, with kwrec's and uvicorn's logging set up from ``[log]`` (text or JSON)."""
    use_json_logs(False)  # until the settings say otherwise (a bad [log] section is reported as text)
    settings = load_settings(config, **overrides)
    picked = {"level": log_level, "format": log_format}
    if any(v is not None for v in picked.values()):
        try:
            log = LogSettings.model_validate(
                {**settings.log.model_dump(), **{k: v for k, v in picked.items() if v is not None}}
            )
        except ValidationError as exc:
            raise invalid("options", exc, LogSettings, under=("log",)) from None
        settings = settings.model_copy(update={"log": log})
    configure_logging(settings.log.format, settings.log.level, raw_queries=settings.log.raw_queries)
    use_json_logs(settings.log.format == "json")
    return settings


def fail(exc: KwrecError) -> typer.Exit:
    """A user's mistake: one clear line on stderr and the error's exit code, never a traceback."""
    if json_logs():
        _log.error(str(exc), extra={"error": type(exc).__name__, "exit_code": exc.exit_code})
        return typer.Exit(exc.exit_code)
    # Messages quote URLs, build logs and registry paths like [127.0.0.1:5000/...]: never markup.
    console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return typer.Exit(exc.exit_code)


#: The extra that brings each package the base (serving) install leaves out (pyproject.toml).
EXTRA_OF = {
    **dict.fromkeys(("polars", "duckdb", "pyarrow", "rapidfuzz"), "train"),
    **dict.fromkeys(("boto3", "botocore", "docker", "httpx"), "release"),
}

P = ParamSpec("P")
R = TypeVar("R")


def user_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Wrap a command: a user's mistake prints one clear line and a non-zero exit, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except KwrecError as exc:
            raise fail(exc) from None
        except ModuleNotFoundError as exc:
            extra = EXTRA_OF.get((exc.name or "").split(".")[0])
            if extra is None:
                raise
            raise fail(
                ConfigError(
                    f"this command needs {exc.name}, which the serving-only install of kwrec leaves out",
                    hint=f"pip install 'kwrec[{extra}]', or 'kwrec[all]' for the whole release chain",
                )
            ) from None

    return wrapper
