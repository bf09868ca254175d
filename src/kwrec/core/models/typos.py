"""Which searches are one keystroke from a far more popular keyword, and so count for it (샴성 -> 삼성).

Training merges them into their keyword; preprocessing bans those of a banned keyword with it (a ban on
"the hobbit" must not leave "the hobit" to be suggested instead).
"""

from __future__ import annotations

import re
from collections.abc import Collection

import polars as pl
from rapidfuzz.distance import OSA

from kwrec.core.text.hangul import keystrokes_expr

TYPO_MIN_KEY = 4  # keystrokes: shorter keywords are too close to each other to call one a typo
TYPO_MAX_KEY = 24
TYPO_MIN_TARGET_USERS = 5
TYPO_POPULARITY_RATIO = 5  # the corrected keyword must have this many times the users
TYPO_MAX_TARGETS = 20_000
TYPO_MAX_SOURCES = 200_000
_DIGITS = re.compile(r"\D")


def _deletions(frame: pl.DataFrame, max_len: int) -> pl.DataFrame:
    """``frame`` (k, key) -> (k, v): the key itself and every one-character deletion of it."""
    parts = [frame.select("k", pl.col("key").alias("v"))]
    for p in range(max_len):
        parts.append(
            frame.filter(pl.col("key").str.len_chars() > p).select(
                "k", (pl.col("key").str.slice(0, p) + pl.col("key").str.slice(p + 1)).alias("v")
            )
        )
    return pl.concat(parts)


def typo_targets(
    events: pl.DataFrame, vocab: pl.DataFrame, min_users: int, into: Collection[int] | None = None
) -> dict[int, int]:
    """Searches one keystroke away from a far more popular keyword count for that keyword (샴성 -> 삼성).

    Candidates meet on a shared one-deletion variant (symmetric deletes), then the exact distance is
    checked with rapidfuzz (optimal string alignment, so a swap counts as one). Digits must agree:
    "아이폰 16" is not a typo of "아이폰 15".

    A typo counts whoever typed it, even one person: it is never shown, only counted for its keyword
    (as a layout mistake is). The keyword must pass the ``min_users`` floor on its own, so a typo's
    searches never lift a keyword over it.

    ``into``: only these keywords as targets (the banned ones, for preprocessing), and only the sources
    that could be their typos are compared (same first keystroke, few enough people).
    """
    users = events.group_by("k").agg(pl.col("who").n_unique().alias("u"))
    keyed = (
        users.join(vocab.select("k", "nk").unique("k"), on="k")
        .with_columns(keystrokes_expr(pl.col("nk")).alias("key"))
        .filter(pl.col("key").str.len_chars().is_between(TYPO_MIN_KEY, TYPO_MAX_KEY))
    )
    # Ties in user counts are broken by the keyword's code (an integer sort, unlike its text), so that
    # the caps cut at the same place every run.
    by_users = keyed.sort(["u", "k"], descending=[True, False])
    targets = by_users.filter(pl.col("u") >= max(TYPO_MIN_TARGET_USERS, min_users))
    if into is not None:
        targets = targets.filter(pl.col("k").is_in(list(into)))
    targets = targets.head(TYPO_MAX_TARGETS)
    sources = by_users.head(TYPO_MAX_SOURCES)
    if into is not None and targets.height:
        starts = targets["key"].str.slice(0, 1).unique().implode()
        sources = sources.filter(
            pl.col("key").str.slice(0, 1).is_in(starts)
            & (TYPO_POPULARITY_RATIO * pl.col("u") <= targets["u"].max())
        )
    if targets.height == 0 or sources.height == 0:
        return {}
    pairs = (
        _deletions(sources.select("k", "key"), TYPO_MAX_KEY)
        .join(_deletions(targets.select("k", "key"), TYPO_MAX_KEY), on="v", suffix="_t")
        .filter(pl.col("k") != pl.col("k_t"))
        .unique(["k", "k_t"])
        .join(keyed.select("k", "nk", "key", "u"), on="k")
        .join(
            keyed.select(
                pl.col("k").alias("k_t"),
                pl.col("nk").alias("nk_t"),
                pl.col("key").alias("key_t"),
                pl.col("u").alias("u_t"),
            ),
            on="k_t",
        )
        .filter(pl.col("u_t") >= TYPO_POPULARITY_RATIO * pl.col("u"))
        .sort(["nk", "u_t", "nk_t"], descending=[False, True, False])
    )
    mapping: dict[int, int] = {}
    for k, key, k_t, key_t in pairs.select("k", "key", "k_t", "key_t").iter_rows():
        if k in mapping or k in mapping.values():
            continue
        # The first keystroke must agree: a different first letter is most often another word (mavis,
        # avis); such a typo is still corrected when typed, by the look-up's typo tier.
        same_start = key[0] == key_t[0]
        if same_start and _DIGITS.sub("", key) == _DIGITS.sub("", key_t) and OSA.distance(key, key_t) == 1:
            mapping[k] = k_t
    # A chain (a -> b -> c) resolves to its end, so nothing is merged into a keyword that itself merges.
    return {a: mapping.get(b, b) for a, b in mapping.items()}
