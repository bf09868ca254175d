"""How long-running work tells a person what it is doing: one line at a time.

Every step of the pipeline takes a ``report`` callable; the CLI prints the lines (rich on a terminal),
the Airflow DAG logs them, tests collect them.
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote

Report = Callable[[str], None]


def silent(_line: str) -> None:
    """A report that drops every line (library calls that want no output)."""


# ---- log lines: text or JSON, the same for every command and the server ---------------------------

#: Attributes every LogRecord has; anything else on a record is a structured field (``extra=...``).
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Query parameters whose values say nothing about a person (kept in a redacted access log).
SAFE_PARAMS = frozenset({"limit"})


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``ts``, ``level``, ``logger``, ``message`` and the record's own fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def redact_query(path: str) -> str:
    """``/v1/c/autocomplete?q=010-1234-5678&limit=5`` -> ``...?q=<13 chars>&limit=5``."""
    base, sep, query = path.partition("?")
    if not sep:
        return path
    parts = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        parts.append(f"{quote(name)}={quote(value) if name in SAFE_PARAMS else f'<{len(value)} chars>'}")
    return f"{base}?{'&'.join(parts)}"


class AccessFields(logging.Filter):
    """uvicorn's access lines as structured fields, with the typed queries redacted unless ``raw``.

    uvicorn logs ``'%s - "%s %s HTTP/%s" %d'`` with (client, method, path with query, http version,
    status) as the record's args; the path is rewritten there, so the text and JSON forms agree.
    """

    def __init__(self, raw: bool = False) -> None:
        super().__init__()
        self.raw = raw

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            client, method, path, http, status = args
            path = str(path) if self.raw else redact_query(str(path))
            record.args = (client, method, path, http, status)
            record.__dict__.update(client=client, method=method, path=path, status=status)
        return True


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of the line (test runners and daemons swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def logging_config(format: str = "text", level: str = "info", *, raw_queries: bool = False) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for kwrec and uvicorn (uvicorn takes it as ``log_config``)."""
    formatter = {"()": f"{__name__}.JsonFormatter"} if format == "json" else {"format": TEXT_FORMAT}
    handler = {"()": f"{__name__}.StderrHandler", "formatter": "kwrec"}
    lvl = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"access": {"()": f"{__name__}.AccessFields", "raw": raw_queries}},
        "formatters": {"kwrec": formatter},
        "handlers": {
            "stderr": handler,
            "access": {**handler, "filters": ["access"]},
        },
        "loggers": {
            "kwrec": {"handlers": ["stderr"], "level": lvl, "propagate": False},
            "uvicorn": {"handlers": ["stderr"], "level": lvl, "propagate": False},
            "uvicorn.error": {"level": lvl},
            "uvicorn.access": {"handlers": ["access"], "level": lvl, "propagate": False},
        },
    }


def configure_logging(format: str = "text", level: str = "info", *, raw_queries: bool = False) -> None:
    logging.config.dictConfig(logging_config(format, level, raw_queries=raw_queries))
