"""How long-running work tells a person what it is doing: one line at a time.

Every step of the pipeline takes a ``report`` callable; the CLI prints the lines (rich on a terminal),
the Airflow DAG logs them, tests collect them.
"""

from __future__ import annotations

from collections.abc import Callable

Report = Callable[[str], None]


def silent(_line: str) -> None:
    """A report that drops every line (library calls that want no output)."""
