"""Related keywords from session co-occurrence, scored by a support-weighted PMI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from kwrec.core.models.columns import write_column

PAIR_WINDOW = 5  # searches apart within a session


@dataclass(frozen=True)
class RelatedParams:
    min_support: int
    max_per_keyword: int
    max_session_keywords: int


def related_pairs(sessions: pl.DataFrame, n_keywords: int, p: RelatedParams) -> pl.DataFrame:
    """``sessions`` has columns ``session`` and ``id`` (a keyword id, one row per search).

    Returns columns ``a``, ``b``, ``score`` (sorted by a, then score descending), at most
    ``max_per_keyword`` rows per ``a``. PMI alone favours rare pairs, so it is multiplied by
    log(1 + shared sessions): a pair seen in many sessions beats a coincidence.
    """
    empty = pl.DataFrame(schema={"a": pl.Int64, "b": pl.Int64, "score": pl.Float64})
    if sessions.height == 0:
        return empty
    # Sessions as 64-bit hashes, grouped by one stable sort (searches keep their order inside a
    # session); neighbours are then plain shifts, with no string joins or window group-bys.
    per_session = (
        sessions.select(pl.col("session").hash().alias("s"), "id")
        .sort("s", maintain_order=True)
        .unique(["s", "id"], keep="first", maintain_order=True)
        .with_row_index("i")
    )
    first = (pl.col("s") != pl.col("s").shift(1)).fill_null(True)
    per_session = per_session.filter(
        pl.col("i") - pl.when(first).then(pl.col("i")).forward_fill() < p.max_session_keywords
    ).select("s", "id")
    n_sessions = per_session["s"].n_unique()
    counts = per_session.group_by("id").agg(pl.len().alias("c"))
    # Pairs within a window of nearby searches, not all pairs of a session: linear in the number of
    # searches (a scraper's 1,000-query session must not cost a million pairs), and nearby searches
    # are the related ones anyway.
    hops = []
    for d in range(1, PAIR_WINDOW + 1):
        hop = (
            per_session.select(
                "id",
                pl.col("id").shift(-d).alias("id_b"),
                (pl.col("s") == pl.col("s").shift(-d)).alias("same"),
            )
            .filter(pl.col("same"))
            .select("id", "id_b")
        )
        hops += [hop, hop.select(pl.col("id_b").alias("id"), pl.col("id").alias("id_b"))]
    pairs = (
        pl.concat(hops)
        .group_by("id", "id_b")
        .agg(pl.len().alias("cab"))
        .filter(pl.col("cab") >= p.min_support)
    )
    if pairs.height == 0:
        return empty
    scored = (
        pairs.join(counts, on="id")
        .join(counts.rename({"id": "id_b", "c": "cb"}), on="id_b")
        .with_columns(
            (
                (pl.col("cab") * n_sessions / (pl.col("c") * pl.col("cb"))).log() * (1 + pl.col("cab")).log()
            ).alias("score")
        )
        .filter(pl.col("score") > 0)
        .sort(["id", "score", "id_b"], descending=[False, True, False])
        .with_columns(pl.int_range(pl.len()).over("id").alias("rank"))
        .filter(pl.col("rank") < p.max_per_keyword)
    )
    return scored.select(pl.col("id").alias("a"), pl.col("id_b").alias("b"), "score")


def write_related(out_dir: Path, pairs: pl.DataFrame, n_keywords: int) -> int:
    """CSR layout: ``rel.off`` (n+1 offsets), ``rel.ids``, ``rel.score``."""
    a = pairs["a"].to_numpy()
    counts = np.bincount(a, minlength=n_keywords) if len(a) else np.zeros(n_keywords, dtype=np.int64)
    offsets = np.zeros(n_keywords + 1, dtype=np.uint64)
    np.cumsum(counts, out=offsets[1:])
    write_column(out_dir / "rel.off", offsets, "u64")
    write_column(out_dir / "rel.ids", pairs["b"].to_numpy(), "u32")
    write_column(out_dir / "rel.score", pairs["score"].to_numpy(), "score")
    return pairs.height
