"""Rejected input, kept for people to look at: one JSON line per rejected row or file.

Quarantine files are shared with whoever debugs a customer's data, so nothing personal may reach them:
every ``raw`` value goes through :func:`redact_expr` (phone numbers, e-mails, card-like numbers) before it
is written, and is cut to :data:`MAX_RAW_CHARS` after redaction (cutting first could leave a partial
number that no pattern recognises any more).
"""

from __future__ import annotations

import io
from pathlib import Path
from types import TracebackType
from typing import Final

import polars as pl

MAX_RAW_CHARS: Final = 500

# Patterns are written in the common subset of Python ``re`` and Rust ``regex`` syntax.
EMAIL_RE: Final = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
# Korean numbers written domestically: 010-1234-5678, 01012345678, 02 123 4567.
PHONE_KR_RE: Final = r"0\d{1,2}[ .\-]?\d{3,4}[ .\-]?\d{4}"
# International form: +82 10-1234-5678, +82 (0)10 1234 5678, +1 (555) 123-4567.
PHONE_INTL_RE: Final = r"\+\d{1,3}[ .\-]?(?:\(0\)[ .\-]?)?\(?\d{1,4}\)?(?:[ .\-]?\d{2,4}){2,4}"
# Card-like: 13 to 19 digits, optionally grouped with spaces or dashes.
CARD_RE: Final = r"\d(?:[ \-]?\d){12,18}"

_REDACTIONS: Final = (
    (EMAIL_RE, "<email>"),
    (CARD_RE, "<card>"),
    (PHONE_INTL_RE, "<phone>"),
    (PHONE_KR_RE, "<phone>"),
)

QUARANTINE_SCHEMA: Final = {"file": pl.String, "line": pl.Int64, "reason": pl.String, "raw": pl.String}


def redact_expr(e: pl.Expr) -> pl.Expr:
    """Replace anything that looks like personal data with a placeholder. Deliberately greedier than the
    preprocessing filter (no digit boundaries): over-redacting a quarantined line costs nothing."""
    for pattern, placeholder in _REDACTIONS:
        e = e.str.replace_all(pattern, placeholder)
    return e


class Quarantine:
    """Collects rejected rows of one run into ``path`` (JSONL; an older file there is replaced).

    The file (and its directory) appear with the first rejected row: clean input leaves nothing behind.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.counts: dict[str, int] = {}
        #: What to change when the rejections say the input's form, not a few rows, is wrong.
        self.advice: str | None = None
        path.unlink(missing_ok=True)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        """``12 rows quarantined (3 missing query, 9 pii), kept in /abs/path.jsonl``."""
        reasons = ", ".join(f"{n:,} {reason}" for reason, n in sorted(self.counts.items()))
        rows = f"{self.total:,} row{'' if self.total == 1 else 's'}"
        advice = f"; {self.advice}" if self.advice else ""
        return f"{rows} quarantined ({reasons}), kept in {self.path.resolve()}{advice}"

    def add(self, file: str, line: int, reason: str, raw: str = "") -> None:
        """One rejected row or file (``line`` 0 for a whole file)."""
        self.add_frame(pl.DataFrame({"line": [line], "reason": [reason], "raw": [raw]}), file=file)

    def add_frame(self, rows: pl.DataFrame, *, file: str | None = None) -> int:
        """Rejected rows with columns ``line``, ``reason``, ``raw`` (and ``file`` unless given)."""
        if rows.height == 0:
            return 0
        if file is not None:
            rows = rows.with_columns(pl.lit(file).alias("file"))
        out = rows.select(
            pl.col("file").cast(pl.String),
            pl.col("line").cast(pl.Int64),
            pl.col("reason").cast(pl.String),
            redact_expr(pl.col("raw").cast(pl.String).fill_null("")).str.slice(0, MAX_RAW_CHARS),
        )
        buf = io.BytesIO()
        out.write_ndjson(buf)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as fh:
            fh.write(buf.getvalue())
        for reason, n in out.group_by("reason").len().iter_rows():
            self.counts[reason] = self.counts.get(reason, 0) + n
        return out.height

    def close(self) -> None:
        """Nothing is held open between writes; kept so the object works as a context manager."""

    def __enter__(self) -> Quarantine:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
