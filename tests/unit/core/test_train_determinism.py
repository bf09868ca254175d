"""Training gives the same model whatever order polars hands rows over in (its group-bys do not keep
order, and at a million keywords the typo caps cut through ties)."""

from __future__ import annotations

import polars as pl
import pytest

from kwrec.core.models import train
from kwrec.core.models import typos as typos_module


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
    monkeypatch.setattr(typos_module, "TYPO_MAX_TARGETS", 3)  # fewer slots than tied keywords
    results = set()
    for seed in range(8):
        events, vocab = _frames(seed)
        merged, typos = train._remap(events, typos_module.typo_targets(events, vocab, min_users=1))
        assert typos.height == 3
        moved = merged.filter(pl.col("dh").is_null())  # a merged typo's event, now under its keyword
        results.add(tuple(sorted(moved["k"].to_list())))
    assert len(results) == 1
    # the tie goes to the three keywords with the smallest codes: each gets its typo's event
    codes = {k: nk for nk, k in _frames(0)[1].select("nk", "k").iter_rows()}
    winners = sorted(k for k in codes if len(codes[k]) == len("galaxyaa"))[:3]
    assert list(results.pop()) == winners
