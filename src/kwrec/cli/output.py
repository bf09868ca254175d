"""Console output for the CLI: rich tables on a terminal, plain lines in logs, JSON for machines."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# Not a terminal (CI logs, pipes): a wide fixed width, so tables are not folded into 80 columns.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS).decode() + "\n")


def print_table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> None:
    if not rows and not columns:
        # rich draws nothing for a table without columns: say so instead of printing a blank
        stdout.print(f"{escape(title)}: none", highlight=False)
        return
    cols = list(columns or rows[0].keys())
    table = Table(title=title, show_lines=False)
    for c in cols:
        table.add_column(c, overflow="fold")
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in cols))
    stdout.print(table)


_progress_log = logging.getLogger("kwrec.progress")
_json_logs = {"on": False}


def use_json_logs(on: bool) -> None:
    """``[log] format = "json"``: progress lines become JSON log lines like every other log line."""
    _json_logs["on"] = on


def json_logs() -> bool:
    return _json_logs["on"]


def report(message: str, *, bold: bool = False) -> None:
    """A progress line: timestamped, so that logs of long runs read well."""
    if _json_logs["on"]:
        _progress_log.info(message)
        return
    # Lines quote config sections ([train]) and paths: plain text, never markup.
    text = f"[bold]{escape(message)}[/bold]" if bold else escape(message)
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {text}", highlight=False, soft_wrap=True)


@contextmanager
def step(name: str) -> Iterator[None]:
    started = time.monotonic()
    report(f"{name} ...", bold=True)
    yield
    report(f"{name} done in {time.monotonic() - started:.1f}s", bold=True)
