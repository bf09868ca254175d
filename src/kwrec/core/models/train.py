"""Train one customer's model from preprocessed events and write its artifact directory."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from kwrec import ARTIFACT_FORMAT, __version__
from kwrec.core.models import popularity
from kwrec.core.models.autocomplete_build import build_index
from kwrec.core.models.banned import BannedText
from kwrec.core.models.columns import write_column, write_strings
from kwrec.core.models.customer_model import META_FILE, CustomerModel, sha256_file
from kwrec.core.models.keys import MAX_TAIL_WORDS
from kwrec.core.models.layout import ALIAS_PREFIX, VARIANT_PREFIX
from kwrec.core.models.related import RelatedParams, related_pairs, write_related
from kwrec.core.models.typos import typo_targets
from kwrec.core.text.hangul import keystrokes_expr
from kwrec.core.text.keyboard import hangul_from_latin
from kwrec.core.text.normalize import fold
from kwrec.settings import TrainParams

# Suffixes only complete queries nobody typed; the long tail of rare ones costs index size and build
# time for almost no completions.
MAX_TAILS = 500_000
JAMO_ONLY = r"^[\u3131-\u318e ]+$"  # 초성-only or broken syllables: typing artefacts, never suggested
LATIN_ONLY = r"^[a-zA-Z ]+$"
DAY_US = 86_400_000_000
MAX_VARIANTS = 3  # spacing variants kept per keyword
LIST_LEN = 200  # popular / trending entries stored
OUTCOMES = {"results": pl.Int64, "clicked": pl.Boolean}  # optional event columns (preprocess.OUTPUT_SCHEMA)


def _effective_events(
    events: pl.DataFrame, params: TrainParams
) -> tuple[pl.DataFrame, pl.DataFrame, datetime | None, bool]:
    """Events reduced to integer codes, and the vocabulary that gives the codes their text.

    Every later group-by and join runs on 64-bit hashes instead of strings: tens of millions of rows
    carry a handful of distinct texts, so text is looked at once per distinct display form.
    Returns (events: ts, who, session, seq, dh, k), (vocab: dh, display, norm, nk, k), ref, has_users;
    ``dh`` codes the display form, ``k`` the keyword (folded, spaces removed).
    """
    has_ts = events["ts"].null_count() < events.height
    has_users = events["user"].null_count() < events.height
    ref: datetime | None = events["ts"].max() if has_ts else None  # type: ignore[assignment]
    if ref is not None and params.window_days is not None:
        events = events.filter(
            pl.col("ts").is_null() | (pl.col("ts") > ref - timedelta(days=params.window_days))
        )
    if has_users:
        events = events.filter(pl.col("user").is_not_null())
    events = events.with_columns(pl.col("display").hash().alias("dh"))
    vocab = (
        events.select("dh", "display", "norm")
        .unique("dh")
        .with_columns(pl.col("norm").str.replace_all(" ", "", literal=True).alias("nk"))
        .with_columns(pl.col("nk").hash().alias("k"))
    )
    # Without user ids each event stands for one person: there is no better evidence.
    who = pl.col("user").hash() if has_users else pl.col("seq").cast(pl.UInt64)
    coded = events.select(
        "ts",
        who.alias("who"),
        pl.when(pl.col("session").is_not_null()).then(pl.col("session").hash()).alias("session"),
        "seq",
        "dh",
        *(pl.col(c) if c in events.columns else pl.lit(None, t).alias(c) for c, t in OUTCOMES.items()),
    ).join(vocab.select("dh", "k"), on="dh", how="left")
    return coded, vocab, ref, has_users


def _layout_mistakes(vocab: pl.DataFrame) -> dict[int, int]:
    """Latin queries that are Hangul typed on the wrong layout (dkdlvhs) count for their Hangul keyword."""
    # One display per keyword, the same every run whatever polars' row order (sorted on integer codes).
    distinct = vocab.sort("k", "dh").unique("k", keep="first", maintain_order=True)
    latin = distinct.filter(pl.col("nk").str.contains(LATIN_ONLY))
    korean = distinct.filter(pl.col("nk").str.contains(r"[\uac00-\ud7a3]"))
    if latin.height == 0 or korean.height == 0:
        return {}
    known = dict(zip(korean["nk"].to_list(), korean["k"].to_list(), strict=True))
    mapping: dict[int, int] = {}
    for k, display in zip(latin["k"].to_list(), latin["display"].to_list(), strict=True):
        hangul = hangul_from_latin(display)
        if hangul:
            target = known.get(fold(hangul).replace(" ", ""))
            if target is not None:
                mapping[k] = target
    return mapping


def _remap(events: pl.DataFrame, mapping: dict[int, int]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Move events of the mapped keywords to their targets; return the events and the moved ones as they were.

    The moved events lose their display code, so a target keeps its own display form (a typo or a
    layout mistake never becomes the way a keyword is shown).
    """
    if not mapping:
        return events, events.clear()
    moved = pl.col("k").is_in(list(mapping))
    remapped = events.with_columns(
        pl.when(moved).then(None).otherwise(pl.col("dh")).alias("dh"),
        pl.col("k").replace(mapping),
    )
    return remapped, events.filter(moved)


def _outcomes(events: pl.DataFrame) -> pl.DataFrame:
    """Per keyword: the share of its searches that found nothing, and its click-through rate.

    Both only over searches whose logs say so (null when none do), and only over the keyword's own
    typed forms: a typo merged into it brings its popularity, not its failed searches.
    """
    own = events.filter(pl.col("dh").is_not_null())

    def share(hits: pl.Expr, of: str) -> pl.Expr:
        known = pl.col(of).count()
        return pl.when(known > 0).then(hits.sum() / known)

    return own.group_by("k").agg(
        share(pl.col("results") == 0, "results").alias("zero_share"),
        share(pl.col("clicked"), "clicked").alias("ctr"),
    )


def _suggestable(params: TrainParams) -> pl.Expr:
    """Keywords whose searches mostly return nothing are never suggested (a suggestion must find hits)."""
    return pl.col("zero_share").is_null() | (pl.col("zero_share") <= params.zero_result_max_share)


def _scores(events: pl.DataFrame, ref: datetime | None, params: TrainParams) -> pl.DataFrame:
    """Per ``k``: its score, its distinct users and the share of its searches that found nothing.

    score = sum over distinct (user, day) of (1 + ln n) * 0.5 ** (age / half-life), n being that
    person's searches of the keyword that day: a person who comes back to a search counts a little more,
    never as much as n different people (preprocessing has already collapsed rapid repeats and bots);
    recent days count more, and age is measured from the newest event, not from today. Clicks raise
    it: times 1 + click_weight * click-through rate.
    """
    if ref is not None:
        age_days = (pl.lit(ref) - pl.col("ts")).dt.total_microseconds() / DAY_US
        weighted = events.select(
            "k",
            "who",
            pl.when(pl.col("ts").is_null())
            .then(1.0)
            .otherwise((0.5) ** (age_days / params.half_life_days))
            .alias("w"),
            pl.col("ts").dt.date().alias("day"),
        )
    else:
        weighted = events.select("k", "who", pl.lit(1.0).alias("w"), pl.lit(None, pl.Date).alias("day"))
    return (
        weighted.group_by("k", "who", "day")
        .agg(pl.col("w").max() * (1.0 + pl.len().log()))
        .group_by("k")
        .agg(pl.col("w").sum().alias("score"), pl.col("who").n_unique().alias("users"))
        .join(_outcomes(events), on="k", how="left")
        .with_columns(pl.col("score") * (1.0 + params.click_weight * pl.col("ctr").fill_null(0.0)))
        .drop("ctr")
    )


def _keyword_table(
    events: pl.DataFrame, vocab: pl.DataFrame, ref: datetime | None, params: TrainParams, min_users: int
) -> tuple[pl.DataFrame, dict[str, int]]:
    """One row per keyword (spacing-insensitive), in descending score order (``_scores``): id = row number;
    and how many queries the privacy floor and the zero-result rule kept out (the artifact's stats)."""
    scored = _scores(events, ref, params)
    popular = scored.filter(pl.col("users") >= min_users)
    score = popular.filter(_suggestable(params))
    dropped = {
        "below_min_users": scored.height - popular.height,
        "mostly_zero_results": popular.height - score.height,
    }
    # The display form is the one typed most often (ties: the smallest string, for determinism).
    display = (
        events.filter(pl.col("dh").is_not_null())
        .group_by("k", "dh")
        .agg(pl.len().alias("n"))
        .join(score.select("k"), on="k", how="semi")
        .join(vocab.select("dh", "display", "norm", "nk"), on="dh")
        .sort(["k", "n", "display"], descending=[False, True, False])
        .unique("k", keep="first", maintain_order=True)
        .select("k", "display", "norm", "nk", pl.col("n").alias("typed_as_shown"))
    )
    # Equal scores (common in logs without user ids or times) go to the keyword whose shown form was
    # itself typed more, rather than one that owes its score to merged typos and spellings.
    table = (
        score.join(display, on="k")
        .filter(~pl.col("norm").str.contains(JAMO_ONLY))
        .sort(["score", "typed_as_shown", "nk"], descending=[True, True, False])
        .drop("typed_as_shown")
        .with_row_index("id")
        .with_columns(pl.col("id").cast(pl.Int64))
    )
    return table, dropped


def _spacing_variants(
    events: pl.DataFrame, vocab: pl.DataFrame, keywords: pl.DataFrame, min_users: int
) -> pl.DataFrame:
    """Other spacings people typed of a keyword ("dishnetwork" for "dish network"), most typed first.

    A keyword is one thing whatever its spacing, but the spacing a user types shows which form they
    mean: the look-up shows the form that keeps the user's spacing (``Autocompleter._literal_first``;
    outside Hangul such forms also go first).
    """
    typed = (
        events.filter(pl.col("dh").is_not_null())
        .join(vocab.select("dh", "display", "norm"), on="dh")
        .join(keywords.select("k", "id", pl.col("norm").alias("kw_norm")), on="k")
        .filter(pl.col("norm") != pl.col("kw_norm"))
    )
    if typed.height == 0:
        return pl.DataFrame(schema={"id": pl.Int64, "display": pl.String})
    forms = (
        typed.group_by("id", "norm")
        .agg(
            pl.len().alias("n"),
            pl.col("who").n_unique().alias("u"),
            # The form typed most often, ties to the smallest string (deterministic).
            pl.col("display").mode().sort().first().alias("display"),
        )
        .filter(pl.col("u") >= min_users)
        .sort(["id", "n", "norm"], descending=[False, True, False])
    )
    return forms.group_by("id", maintain_order=True).head(MAX_VARIANTS).select("id", "display")


def _merged_keys(vocab: pl.DataFrame, keywords: pl.DataFrame, merged: dict[int, int]) -> pl.DataFrame:
    """The whole keys of merged-away queries (typos, layout mistakes) -> the keyword they count for.

    Indexed in their own namespace (``keys.MERGED``): a whole query is looked up there
    (``related("샴성")`` answers for 삼성), and so is a prefix that completes nothing better ("goggl",
    "capitol o" find google and capital one, after any keyword that keeps what the user typed).
    """
    if not merged:
        return pl.DataFrame(schema={"key": pl.String, "id": pl.Int64, "k": pl.UInt64})
    pairs = pl.DataFrame(
        {"k": list(merged), "k_t": list(merged.values())}, schema={"k": pl.UInt64, "k_t": pl.UInt64}
    )
    return (
        pairs.join(vocab.select("k", "nk").unique("k"), on="k")
        .join(keywords.select(pl.col("k").alias("k_t"), "id"), on="k_t")
        .select(keystrokes_expr(pl.col("nk")).alias("key"), "id", "k")
        .sort("key", "id", "k")
        .unique("key", keep="first", maintain_order=True)
    )


def _aliases(
    merged_keys: pl.DataFrame,
    moved: pl.DataFrame,
    vocab: pl.DataFrame,
    ref: datetime | None,
    params: TrainParams,
) -> pl.DataFrame:
    """Each merged query (``merged_keys``, one per key) as an alias of its keyword, best first by its own
    searches (``moved``: its events before they were merged): alias id = row number.

    A typo people often make then ranks among the literal completions of a prefix where its own
    searches put it, as most-popular-completion ranks it (`capitol` -> capital one, from the searches
    of "capitol one"), instead of after all of them. It is always shown as its keyword: a spelling
    merged away is never suggested, so a block of the keyword (``kwrec.core.rules``) hides it too.
    Columns: key, id, kid (the keyword's id), score (its own), typed (its most typed spelling, which
    the look-up matches against what the user typed).
    """
    if merged_keys.height == 0:
        return pl.DataFrame(
            schema={
                "key": pl.String,
                "id": pl.Int64,
                "kid": pl.Int64,
                "score": pl.Float64,
                "typed": pl.String,
            }
        )
    typed = (  # ties: the smallest spelling, for determinism
        moved.group_by("k", "dh")
        .agg(pl.len().alias("n"))
        .join(vocab.select("dh", "display"), on="dh")
        .sort(["k", "n", "display"], descending=[False, True, False])
        .unique("k", keep="first", maintain_order=True)
        .select("k", pl.col("display").alias("typed"))
    )
    return (
        merged_keys.rename({"id": "kid"})
        .join(_scores(moved, ref, params).select("k", "score"), on="k")
        .join(typed, on="k")
        .sort(["score", "key"], descending=[True, False])
        .with_row_index("id")
        .select("key", pl.col("id").cast(pl.Int64), "kid", "score", "typed")
    )


def _tail_table(keywords: pl.DataFrame) -> pl.DataFrame:
    """Word-level suffixes (up to three words) of suggestable keywords, best first.

    A suffix is ranked by how many different words precede it in the keywords it ends (the
    continuation count of Kneser-Ney smoothing): "md" after bethesda, baltimore and annapolis is a
    better guess for the end of a query nobody typed than a suffix that ends one very popular query.
    Ties go to the sum of the square roots of those keywords' scores; the stored score is the count
    plus that sum's share of one, so that it orders the same way. Measured on AOL (docs/benchmarks.md),
    unseen-query MRR@10: plain score sums 0.0861, square roots 0.0875, continuation counts 0.0972
    (with the look-up changes of the same round: 0.0958 with square roots).
    """
    words = keywords.select(pl.col("norm").str.split(" ").alias("w"), "score")
    parts = [
        words.filter(pl.col("w").list.len() >= k).select(
            pl.col("w").list.slice(-k, k).list.join(" ").alias("tail"),
            pl.col("w").list.get(-k - 1, null_on_oob=True).alias("before"),
            "score",
        )
        for k in range(1, MAX_TAIL_WORDS + 1)
    ]
    ranked = (
        pl.concat(parts)
        .group_by("tail")
        .agg(pl.col("before").drop_nulls().n_unique().alias("continuations"), pl.col("score").sqrt().sum())
        .with_columns(pl.col("continuations") + pl.col("score") / (1.0 + pl.col("score")))
    )
    return (
        ranked.sort(["continuations", "score", "tail"], descending=[True, True, False])
        .head(MAX_TAILS)
        .select("tail", pl.col("continuations").alias("score"))
    )


def _golden(model: CustomerModel, keywords: pl.DataFrame, per_kind: int) -> list[dict[str, Any]]:
    """Queries and the answers this model gives, chosen from the customer's own top keywords.

    Release verification replays them against the live API: the answer must start the same way.
    """
    golden: list[dict[str, Any]] = []
    top = keywords.head(max(per_kind * 5, 10))["display"].to_list()
    seen_prefixes: set[str] = set()
    for kw in top:
        prefix = kw[: max(1, min(len(kw) - 1, 2))]
        if prefix in seen_prefixes:
            continue
        answer = [s.keyword for s in model.autocomplete(prefix, 10)]
        if answer:
            seen_prefixes.add(prefix)
            golden.append({"kind": "autocomplete", "query": prefix, "expected": answer[:3]})
        if len(seen_prefixes) >= per_kind:
            break
    related = 0
    for kw in top:
        answer = [s.keyword for s in model.related(kw, 10)]
        if answer:
            golden.append({"kind": "related", "query": kw, "expected": answer[:3]})
            related += 1
            if related >= per_kind:
                break
    for kind, fn in (("popular", model.popular), ("trending", model.trending)):
        answer = [s.keyword for s in fn(10)]
        if answer:
            golden.append({"kind": kind, "query": None, "expected": answer[:3]})
    return golden


class _StepTimes:
    """Wall time per training step, for one progress line ("shop-kr: keywords 1.2s, index 3.4s, ...").

    Timing a step costs one clock read, so it is always on; only the report is optional.
    """

    def __init__(self) -> None:
        self.steps: list[tuple[str, float]] = []
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.steps.append((name, now - self._last))
        self._last = now

    def summary(self, customer: str) -> str:
        total = sum(s for _, s in self.steps)
        parts = ", ".join(f"{name} {s:.1f}s" for name, s in self.steps)
        return f"{customer}: {parts} (training {total:.1f}s)"


def train_customer(
    events: pl.DataFrame,
    params: TrainParams,
    out_dir: Path,
    *,
    customer: str,
    extra_meta: dict[str, Any] | None = None,
    report: Callable[[str], None] | None = None,
    banned: BannedText | None = None,
) -> dict[str, Any]:
    """Train from preprocessed events (``kwrec.core.preprocess``) into ``out_dir``; return the artifact meta.

    ``report``, when given, receives one line with the time each training step took. ``banned``: the
    customer's bans, which the events no longer contain, recorded for the look-up's made-up completions.
    """
    timer = _StepTimes()
    out_dir.mkdir(parents=True, exist_ok=True)
    events, vocab, ref, has_users = _effective_events(events, params)
    layout = _layout_mistakes(vocab)
    events, layout_moved = _remap(events, layout)
    timer.lap("events")
    min_users = params.users_floor(has_users)
    typo_map = typo_targets(events, vocab, min_users) if params.fuzzy else {}
    events, typo_moved = _remap(events, typo_map)
    timer.lap("typos")
    keywords, dropped = _keyword_table(events, vocab, ref, params, min_users)
    timer.lap("keywords")
    tails = (
        _tail_table(keywords)
        if params.synthesize and keywords.height
        else pl.DataFrame(schema={"tail": pl.String, "score": pl.Float64})
    )
    timer.lap("tails")

    write_strings(out_dir / "kw", keywords["display"])
    write_column(out_dir / "kw.score", keywords["score"].to_numpy(), "score")
    write_column(out_dir / "kw.users", keywords["users"].to_numpy(), "u32")
    variants = _spacing_variants(events, vocab, keywords, min_users)
    write_strings(out_dir / VARIANT_PREFIX, variants["display"])
    write_column(out_dir / f"{VARIANT_PREFIX}.ids", variants["id"].to_numpy(), "u32")
    merged_keys = _merged_keys(vocab, keywords, {**layout, **typo_map})
    aliases = _aliases(merged_keys, pl.concat([layout_moved, typo_moved]), vocab, ref, params)
    write_strings(out_dir / ALIAS_PREFIX, aliases["typed"])
    write_column(out_dir / f"{ALIAS_PREFIX}.ids", aliases["kid"].to_numpy(), "u32")
    write_column(out_dir / f"{ALIAS_PREFIX}.score", aliases["score"].to_numpy(), "score")
    write_strings(out_dir / "tail", tails["tail"])
    write_column(out_dir / "tail.score", tails["score"].to_numpy(), "score")
    index = build_index(
        out_dir,
        keywords["norm"],
        tails["tail"],
        threshold=params.heavy_prefix_threshold,
        topk=params.topk,
        merged=merged_keys,
        aliases=aliases,
    )
    timer.lap("index")

    ids = events.select("ts", "who", "session", "seq", "k").join(keywords.select("k", "id"), on="k")
    sessions = ids.filter(pl.col("session").is_not_null()).sort("seq").select("session", "id")
    pairs = related_pairs(
        sessions,
        keywords.height,
        RelatedParams(
            params.related_min_support, params.related_max_per_keyword, params.related_max_session_keywords
        ),
    )
    n_related = write_related(out_dir, pairs, keywords.height)
    timer.lap("related")
    pop = popularity.popular(ids, ref, params.popular_days, LIST_LEN)
    trend = popularity.trending(
        ids,
        ref,
        params.trending_recent_days,
        params.trending_previous_days,
        params.trending_min_users,
        LIST_LEN,
    )
    for name, frame in (("pop", pop), ("trend", trend)):
        write_column(out_dir / f"{name}.ids", frame["id"].to_numpy(), "u32")
        write_column(out_dir / f"{name}.score", frame["score"].to_numpy(), "score")
    timer.lap("popular")

    meta: dict[str, Any] = {
        "format": ARTIFACT_FORMAT,
        "customer": customer,
        "code_version": __version__,
        "params": params.model_dump(mode="json"),
        "options": {"infix": params.infix, "synthesize": params.synthesize, "fuzzy": params.fuzzy},
        "ref_time": ref.isoformat() if ref else None,
        "has_users": has_users,
        "stats": {
            "events": events.height,
            "layout_mistakes_merged": layout_moved.height,
            "typos_merged": typo_moved.height,
            "min_users_effective": min_users,
            "keywords": keywords.height,
            **dropped,
            "tails": tails.height,
            "spacing_variants": variants.height,
            "merged_keys": merged_keys.height,
            "index_entries": index.entries,
            "index_keys": index.keys,
            "heavy_prefixes": index.heavy_prefixes,
            "related_pairs": n_related,
            "popular": pop.height,
            "trending": trend.height,
        },
        **(extra_meta or {}),
    }
    if banned:
        meta["banned"] = banned.to_meta()
    meta["golden"] = (
        _golden(CustomerModel(out_dir, meta), keywords, params.golden_per_kind) if keywords.height else []
    )
    meta["files"] = {p.name: sha256_file(p) for p in sorted(out_dir.iterdir()) if p.name != META_FILE}
    data = json.dumps(meta, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8")
    (out_dir / META_FILE).write_bytes(data)
    meta["checksum"] = hashlib.sha256(data).hexdigest()
    timer.lap("golden+checksums")
    if report is not None:
        report(timer.summary(customer))
    return meta
