"""Small builders shared by tests (kept tiny: real data goes through the real pipeline)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from kwrec.core.models.customer_model import CustomerModel
from kwrec.core.models.train import train_customer
from kwrec.core.text.normalize import clean_text, fold
from kwrec.settings import TrainParams

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def events_frame(rows: Iterable[tuple[float, str | None, str | None, str]]) -> pl.DataFrame:
    """Preprocessed events from (hours after T0, user, session, query) tuples."""
    data = list(rows)
    return pl.DataFrame(
        {
            "ts": [T0 + timedelta(hours=h) for h, _, _, _ in data],
            "user": [u for _, u, _, _ in data],
            "session": [s for _, _, s, _ in data],
            "display": [clean_text(q) for _, _, _, q in data],
            "norm": [fold(q) for _, _, _, q in data],
            "seq": list(range(len(data))),
        },
        schema={
            "ts": pl.Datetime("us", "UTC"),
            "user": pl.String,
            "session": pl.String,
            "display": pl.String,
            "norm": pl.String,
            "seq": pl.Int64,
        },
    )


def popular_by(
    query: str, users: int, *, hour: float = 0.0, prefix: str = "u"
) -> list[tuple[float, str, str, str]]:
    """``users`` distinct users each searching ``query`` once."""
    return [(hour, f"{prefix}{i}", f"{prefix}{i}-s", query) for i in range(users)]


def searched(counts: dict[str, int]) -> list[tuple[float, str, str, str]]:
    """Each query searched once by its count of people, nobody searching two of them."""
    return [
        row for n, (q, users) in enumerate(counts.items()) for row in popular_by(q, users, prefix=f"p{n}-")
    ]


def train_model(
    tmp: Path, rows: Iterable[tuple[float, str | None, str | None, str]], **params: object
) -> CustomerModel:
    meta = train_customer(events_frame(rows), TrainParams(**params), tmp, customer="t")  # type: ignore[arg-type]
    return CustomerModel.open(tmp, expected_checksum=meta["checksum"])


def words(model: CustomerModel, q: str, limit: int = 10) -> list[str]:
    """The keywords ``model`` suggests for ``q``, best first."""
    return [s.keyword for s in model.autocomplete(q, limit)]
