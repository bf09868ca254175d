"""Popular and trending keyword lists, from distinct users per time window.

Windows are measured back from the newest event in the training data, never from the wall clock,
so that training on historical logs gives the same answer as training on yesterday's.
Trending needs a minimum of distinct users (a handful of accounts must not be able to push a
keyword onto the list) and ranks by the lift of the daily user rate over the previous window.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

LIFT_SMOOTHING = 1.0  # users per day added to both rates: small counts cannot make huge lifts


def popular(events: pl.DataFrame, ref: datetime | None, days: float, limit: int) -> pl.DataFrame:
    """``events``: columns ``id``, ``who``, ``ts`` (ids in score order). Returns ``id``, ``score``."""
    recent = events if ref is None else events.filter(pl.col("ts") > ref - timedelta(days=days))
    return (
        recent.group_by("id")
        .agg(pl.col("who").n_unique().cast(pl.Float64).alias("score"))
        .sort(["score", "id"], descending=[True, False])
        .head(limit)
    )


def trending(
    events: pl.DataFrame,
    ref: datetime | None,
    recent_days: float,
    previous_days: float,
    min_users: int,
    limit: int,
) -> pl.DataFrame:
    empty = pl.DataFrame(schema={"id": pl.Int64, "score": pl.Float64})
    if ref is None:
        return empty  # without timestamps there is no "before" to compare with
    split = ref - timedelta(days=recent_days)
    start = split - timedelta(days=previous_days)
    windowed = events.filter(pl.col("ts") > start).with_columns((pl.col("ts") > split).alias("recent"))
    counts = windowed.group_by("id").agg(
        pl.col("who").filter(pl.col("recent")).n_unique().alias("ur"),
        pl.col("who").filter(~pl.col("recent")).n_unique().alias("up"),
    )
    return (
        counts.filter(pl.col("ur") >= min_users)
        .with_columns(
            (
                (pl.col("ur") / recent_days + LIFT_SMOOTHING)
                / (pl.col("up") / previous_days + LIFT_SMOOTHING)
            ).alias("score")
        )
        .filter(pl.col("score") > 1.0)
        .sort(["score", "ur", "id"], descending=[True, True, False])
        .head(limit)
        .select("id", "score")
    )
