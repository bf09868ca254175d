"""Training gives the same model whatever order polars hands rows over in (its group-bys do not keep
order, and at a million keywords the typo caps cut through ties)."""

from __future__ import annotations

import polars as pl
import pytest

from kwrec.models import train


def _frames(seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows: list[tuple[str, str]] = []
    for letter in "abcdef":  # six equally popular keywords, each with a one-user typo (a deletion)
        rows += [(f"galaxy{letter}{letter}", f"user{n}") for n in range(10)]
        rows.append((f"galaxy{letter}", "typist"))
    events = (
        pl.DataFrame(rows, schema=["nk", "who"], orient="row")
        .with_columns(pl.col("nk").hash().alias("k"), pl.col("nk").hash().alias("dh"))
        .sample(fraction=1.0, shuffle=True, seed=seed)
    )
    vocab = events.select("k", "nk").unique().sample(fraction=1.0, shuffle=True, seed=seed + 1)
    return events, vocab


def test_typo_caps_cut_ties_by_keyword_not_by_row_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train, "TYPO_MAX_TARGETS", 3)  # fewer slots than tied keywords
    results = set()
    for seed in range(8):
        events, vocab = _frames(seed)
        merged, count = train._merge_typos(events, vocab, min_users=1)
        assert count == 3
        results.add(tuple(sorted(merged.filter(pl.col("dh").is_null())["k"].to_list())))
    assert len(results) == 1
    # the three smallest keywords win the tie: their typos merge into them
    want = pl.Series(["galaxyaa", "galaxybb", "galaxycc"]).hash().sort().to_list()
    assert list(results.pop()) == want
