"""Options and error handling shared by every `kwrec` command."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.markup import escape

from kwrec.cli.output import console
from kwrec.errors import ConfigError, KwrecError

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
TargetOpt = Annotated[
    str | None, typer.Option("--target", help="docker | ecs (default: KWREC_DEPLOY__TARGET, docker)")
]


def fail(exc: KwrecError) -> typer.Exit:
    """A user's mistake: one clear line on stderr and the error's exit code, never a traceback."""
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
