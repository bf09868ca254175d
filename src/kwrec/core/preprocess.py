"""Step 2 of the release chain: raw events -> clean, attributable search events, all in columns.

A query logged URL-encoded (``%EB%85%B8%ED%8A%B8%EB%B6%81``, from a request line) is decoded first.
A row is counted under the first reason that applies: ``too long`` (more than ``max_query_chars`` after
normalisation), ``empty`` (no letter or digit left: blank, or only punctuation such as "-"; or an
exporter's missing-value marker such as "undefined", ``NULL_MARKERS``), ``pii``, ``banned``, ``bot``
(every row of a user who looks automated), and ``repeat_collapsed`` (a repeated submit). Everything
rejected except collapsed repeats goes to the quarantine (PII only in redacted form, bots as one
summary line per user).

Bot checks and sessions look at every event a user made, rejected or not: a user who keeps searching
is active, whatever we think of the queries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import unquote_to_bytes

import numpy as np
import polars as pl

from kwrec.core.ingest.customer_config import CustomerConfig
from kwrec.core.ingest.formats import first_reason
from kwrec.core.ingest.quarantine import CARD_RE, EMAIL_RE, PHONE_INTL_RE, PHONE_KR_RE, Quarantine
from kwrec.core.ingest.reader import NULL_MARKERS, read_customer_logs
from kwrec.core.ingest.source import CustomerLogs
from kwrec.core.models.typos import typo_targets
from kwrec.core.text.normalize import clean_text_expr
from kwrec.reporting import Report, silent
from kwrec.settings import TrainParams

TOO_LONG: Final = "too long"
EMPTY: Final = "empty"
PII: Final = "pii"
BANNED: Final = "banned"
BOT: Final = "bot"
REPEAT_COLLAPSED: Final = "repeat_collapsed"
REASONS: Final = (TOO_LONG, EMPTY, PII, BANNED, BOT, REPEAT_COLLAPSED)
QUARANTINE_FILE: Final = "(preprocess)"

OUTPUT_SCHEMA: Final = pl.Schema(
    {
        "ts": pl.Datetime("us", "UTC"),
        "user": pl.String(),
        "session": pl.String(),
        "display": pl.String(),
        "norm": pl.String(),
        "seq": pl.Int64(),
        # Search outcomes, null where the customer's logs do not say (training's outcome signals).
        "results": pl.Int64(),
        "clicked": pl.Boolean(),
    }
)

# Digits on either side would make it part of a longer number (a product code, a barcode), not PII.
_NOT_DIGIT_BEFORE: Final = r"(?:^|[^0-9])"
_NOT_DIGIT_AFTER: Final = r"(?:[^0-9]|$)"
PII_RE: Final = "|".join(
    [
        EMAIL_RE,
        f"{_NOT_DIGIT_BEFORE}(?:{PHONE_KR_RE}){_NOT_DIGIT_AFTER}",
        f"(?:{PHONE_INTL_RE}){_NOT_DIGIT_AFTER}",
        f"{_NOT_DIGIT_BEFORE}(?:{CARD_RE}){_NOT_DIGIT_AFTER}",
    ]
)


_NO_RESULTS: Final = pl.lit(None, pl.Int64).alias("results")
_NO_CLICK: Final = pl.lit(None, pl.Boolean).alias("clicked")


@dataclass(frozen=True)
class Preprocessed:
    events: pl.DataFrame
    stats: dict[str, int] = field(default_factory=dict)


def preprocess(
    events: pl.DataFrame, params: TrainParams, config: CustomerConfig, quarantine: Quarantine
) -> Preprocessed:
    """Normalise, filter and sessionise the events read by ``kwrec.core.ingest.read_customer_logs``."""
    stats = {"rows_in": events.height, **dict.fromkeys(REASONS, 0)}
    if not events["seq"].is_sorted():
        events = events.sort("seq")  # input order: the tie-break of every later sort
    df = events.select(
        "ts",
        pl.col("user_id").alias("user"),
        pl.col("user_id").is_not_null().alias("_has_user"),
        "session_id",
        "seq",
        "query",
        pl.col("result_count").alias("results") if "result_count" in events.columns else _NO_RESULTS,
        pl.col("clicked") if "clicked" in events.columns else _NO_CLICK,
    )
    del events  # the caller's frame may still hold it, but this function no longer needs its other columns
    df = _with_query_forms(df, params, config)
    df = df.with_columns(
        # Users and (user, query) pairs are grouped by 64-bit hashes: sorting integers is several times
        # faster than sorting strings. Two different users with the same hash, next to each other in
        # time, could be mistaken for one: a 2**-64 chance. The pair hash combines per-user and
        # per-query hashes (the latter computed once per distinct query) instead of hashing both strings
        # on every row.
        pl.col("user").hash(seed=0).alias("_uid"),
    ).with_columns(pl.struct("_uid", "_nh").hash(seed=0).alias("_pid"))
    by_time = (
        df.select("_uid", "_pid", "ts", "_has_user")
        .with_row_index("_i")
        .sort("ts", maintain_order=True, nulls_last=True)
    )
    by_user = by_time.sort("_uid", maintain_order=True)
    df = df.with_columns(
        _back(by_user, _session_number(params)).alias("_session"),
        _back(by_time.sort("_pid", maintain_order=True), _repeat(params)).alias("_repeat"),
    )
    bots = _bot_users(df, by_user, params, config)
    reason = pl.coalesce(
        pl.col("_reason"),
        pl.when(pl.col("_has_user") & pl.col("_uid").is_in(bots.implode())).then(pl.lit(BOT)),
        pl.when(pl.col("_repeat")).then(pl.lit(REPEAT_COLLAPSED)),
    )
    df = df.with_columns(reason.alias("_reason"))
    df = _ban_misspellings(df, params)
    _record(df, stats, quarantine)
    session = (
        pl.when(pl.col("session_id").is_not_null())
        .then(pl.col("session_id"))
        .when(pl.col("_has_user"))
        .then(pl.format("{}#{}", "user", "_session"))
    )
    out = (
        df.filter(pl.col("_reason").is_null())
        .with_columns(session.alias("session"))
        .select(list(OUTPUT_SCHEMA))
    )
    stats["rows_out"] = out.height
    return Preprocessed(out, stats)


def _with_query_forms(df: pl.DataFrame, params: TrainParams, config: CustomerConfig) -> pl.DataFrame:
    """``df`` with ``display``, ``norm``, ``_nh`` (hash of norm) and ``_reason`` of its ``query``.

    Search logs repeat the same queries over and over: each distinct query is normalised and classified
    once. Rows find their query's forms through a 64-bit hash of the query (joining integers is several
    times cheaper than joining strings); the joined query text is compared with the row's own, so a
    hash collision is detected and handled by the exact string join instead.
    """

    def forms(distinct: pl.DataFrame) -> pl.DataFrame:
        return (
            distinct.with_columns(_display_expr(pl.lit(_url_decoded(distinct["_q"]))).alias("display"))
            # fold(s) is clean_text(s).lower(); reusing the display form halves the normalisation work.
            .with_columns(pl.col("display").str.to_lowercase().alias("norm"))
            .with_columns(
                _reason_expr(params, config).alias("_reason"), pl.col("norm").hash(seed=0).alias("_nh")
            )
        )

    df = df.with_columns(pl.col("query").hash(seed=0).alias("_qh"))
    queries = forms(df.group_by("_qh").agg(pl.col("query").first().alias("_q")))
    joined = df.join(queries, on="_qh", how="left", maintain_order="left")
    if joined.select(pl.col("query").eq_missing(pl.col("_q")).all()).item():
        return joined.drop("_qh", "_q")
    del joined, queries
    by_text = forms(df.select(pl.col("query").unique().alias("_q"))).rename({"_q": "query"})
    return df.drop("_qh").join(by_text, on="query", how="left", maintain_order="left")


# A "%" that does not start an escape: the query is not URL-encoded ("50% 할인").
_BARE_PERCENT: Final = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _url_decoded(queries: pl.Series) -> pl.Series:
    """``queries`` with those logged URL-encoded decoded ("+" is a space there, as a search form sends
    it). Only a query whose every "%" starts an escape, and whose escapes are UTF-8, is one: "50% 할인"
    and "100%EC" stay as they are."""
    candidates = queries.str.contains(r"%[0-9A-Fa-f]{2}").fill_null(False)
    if not candidates.any():
        return queries
    at = candidates.arg_true()
    decoded = [_url_decoded_one(q) for q in queries.gather(at).to_list()]
    return queries.clone().scatter(at, decoded)


def _url_decoded_one(query: str) -> str:
    if _BARE_PERCENT.search(query):
        return query
    try:
        return unquote_to_bytes(query.replace("+", " ")).decode("utf-8")
    except UnicodeDecodeError:
        return query


# Printable ASCII and precomposed Hangul syllables: NFKC, the jamo tables and the invisible-character
# rules leave such a string as it is, so only its spaces need folding. Most queries are like this.
_PLAIN_TEXT: Final = r"^[ -~\uac00-\ud7a3]*$"
# Every PII pattern needs an ASCII digit or an "@": other strings skip the costly PII regex.
_PII_HINT: Final = r"[0-9@]"


def _display_expr(e: pl.Expr) -> pl.Expr:
    """``clean_text_expr(e)``, with the full normalisation run only on strings that can need it (the
    others reach it as null, which costs nothing: ``when/then`` evaluates every branch on every row)."""
    plain = e.str.contains(_PLAIN_TEXT)
    return (
        pl.when(plain)
        .then(e.str.replace_all(" {2,}", " ").str.strip_chars(" "))
        .otherwise(clean_text_expr(pl.when(~plain).then(e)))
    )


def _reason_expr(params: TrainParams, config: CustomerConfig) -> pl.Expr:
    display = pl.col("display")
    rules = [
        (display.str.len_chars() > params.max_query_chars, TOO_LONG),
        # "-", "...", "??": a search box's stray submits; "undefined", "NULL": an exporter's nothing
        (~display.str.contains(r"[\p{L}\p{N}]") | pl.col("norm").is_in(NULL_MARKERS), EMPTY),
        (pl.when(display.str.contains(_PII_HINT)).then(display).str.contains(PII_RE), PII),
    ]
    # Without spaces, so "불법 촬영" cannot slip past a ban on "불법촬영" (nor the other way round); the
    # look-up applies the same bans to the completions it makes up (kwrec.core.models.banned).
    bans = config.banned_text
    squeezed = pl.col("norm").str.replace_all(" ", "", literal=True)
    if bans.contains:
        rules.append((squeezed.str.contains_any(list(bans.contains)), BANNED))
    if bans.exact:
        rules.append((squeezed.is_in(sorted(bans.exact)), BANNED))
    return first_reason(rules)


def _ban_misspellings(df: pl.DataFrame, params: TrainParams) -> pl.DataFrame:
    """Ban the searches that training would count for a banned keyword as its typos (the hobit for a
    banned "the hobbit"): with the keyword gone, they would be suggested on their own instead.

    The same rule as training's merge (one keystroke, far fewer people), measured over every search
    the other rules kept and the banned ones; a search that is banned itself is not looked at again.
    """
    if not params.fuzzy or not df.select((pl.col("_reason") == BANNED).any()).item():
        return df
    # Keywords as training keys them: the normalised text without its spaces.
    df = df.with_columns(pl.col("norm").str.replace_all(" ", "", literal=True).hash(seed=0).alias("_k"))
    candidates = df.filter(pl.col("_reason").is_null() | (pl.col("_reason") == BANNED)).select(
        pl.col("_k").alias("k"),
        pl.col("norm").str.replace_all(" ", "", literal=True).alias("nk"),
        pl.when(pl.col("_has_user"))
        .then(pl.col("_uid"))
        .otherwise(pl.col("seq").cast(pl.UInt64))
        .alias("who"),
        (pl.col("_reason") == BANNED).fill_null(False).alias("banned"),
    )
    banned = set(candidates.filter(pl.col("banned"))["k"].unique().to_list())
    vocab = candidates.select("k", "nk").unique("k")
    # Every target is a banned keyword (into=): what maps to one, and is not banned itself, goes too.
    floor = params.users_floor(df.select(pl.col("_has_user").any()).item())  # as training's
    mapping = typo_targets(candidates.select("k", "who"), vocab, floor, into=banned)
    misspelt = [k for k in mapping if k not in banned]
    hit = pl.col("_reason").is_null() & pl.col("_k").is_in(misspelt)
    return df.with_columns(
        pl.when(hit).then(pl.lit(BANNED)).otherwise(pl.col("_reason")).alias("_reason")
    ).drop("_k")


def _back(sorted_keys: pl.DataFrame, expr: pl.Expr) -> pl.Series:
    """``expr`` (never null) evaluated on key columns in some sorted order, returned in the frame's own
    row order. Scattering by row index is linear; sorting back by it was a second full sort."""
    out = sorted_keys.select("_i", expr.alias("_v"))
    values = out["_v"].to_numpy()
    back = np.empty_like(values)
    back[out["_i"].to_numpy()] = values
    return pl.Series("_v", back)


def _session_number(params: TrainParams) -> pl.Expr:
    """Sorted by (user, time): a new session where the user changes or after a long silence. Numbering
    sessions globally keeps ids unique without a window per user; rows without a time (sorted last)
    stay in the user's current session."""
    uid, ts = pl.col("_uid"), pl.col("ts")
    new = (uid != uid.shift()).fill_null(True) | (
        ts - ts.shift() > pl.duration(minutes=params.session_gap_minutes)
    ).fill_null(False)
    return new.cast(pl.Int64).cum_sum()


def _repeat(params: TrainParams) -> pl.Expr:
    """Sorted by ((user, query), time): the previous row is that user's previous submit of the same query.
    Within ``repeat_collapse_seconds`` of it, this row is a repeat. Rows without a user or a time are
    never repeats: they cannot be compared."""
    pid, ts = pl.col("_pid"), pl.col("ts")
    return (
        pl.col("_has_user")
        & (pid == pid.shift())
        & (ts - ts.shift() <= pl.duration(seconds=params.repeat_collapse_seconds))
    ).fill_null(False)


def _bot_users(
    df: pl.DataFrame, by_user: pl.DataFrame, params: TrainParams, config: CustomerConfig
) -> pl.Series:
    """``_uid`` of every user with more than ``bot_max_events_per_day`` events on a day (in the customer's
    time zone) or more than ``bot_max_distinct_per_minute`` distinct queries within 60 seconds."""
    uid, ts = pl.col("_uid"), pl.col("ts")
    # Sorted by (user, time), a user has more than N events on one day exactly when some row has the
    # same user and day as the row N places earlier; the same shift finds more than ``limit`` events
    # within 60 s. Rows without a time sort last and count as one day of their own.
    n_day, limit = params.bot_max_events_per_day, params.bot_max_distinct_per_minute
    # Time zone conversion is costly per row, and only rows with the same user N places away (a user
    # with more than N events at all) can be part of a flood: every other row reaches it as null.
    paired = (uid == uid.shift(n_day)).fill_null(False) | (uid == uid.shift(-n_day)).fill_null(False)
    day = pl.when(paired).then(ts).dt.convert_time_zone(config.timezone).dt.date()
    flood = (uid == uid.shift(n_day)) & day.eq_missing(day.shift(n_day))
    crowded = (uid == uid.shift(limit)) & (ts - ts.shift(limit) < pl.duration(seconds=60))
    flags = by_user.filter(pl.col("_has_user")).select(
        "_uid", flood.fill_null(False).alias("flood"), crowded.fill_null(False).alias("crowded")
    )
    flooders = flags.filter(pl.col("flood")).select("_uid").unique()
    candidates = flags.filter(pl.col("crowded")).select("_uid").unique()
    # More than ``limit`` distinct queries needs more than ``limit`` events: only those users get the
    # exact (costly) count over a sliding window (t - 60 s, t], so a burst across a clock minute counts.
    per_minute = (
        df.filter(pl.col("_has_user") & pl.col("_uid").is_in(candidates["_uid"].implode()) & ts.is_not_null())
        .sort("_uid", "ts")
        .rolling(index_column="ts", period="60s", group_by="_uid")
        .agg(pl.col("norm").n_unique().alias("distinct"))
        .filter(pl.col("distinct") > limit)
        .select("_uid")
    )
    return pl.concat([flooders, per_minute]).unique()["_uid"]


def _record(df: pl.DataFrame, stats: dict[str, int], quarantine: Quarantine) -> None:
    """Count every dropped row under its reason and quarantine all but collapsed repeats."""
    dropped = df.filter(pl.col("_reason").is_not_null())
    for reason, n in dropped.group_by("_reason").len().iter_rows():
        stats[reason] += n
    rows = dropped.filter(~pl.col("_reason").is_in([BOT, REPEAT_COLLAPSED]))
    # The quarantine redacts ``raw`` itself; the raw query is what a person debugging needs to see.
    quarantine.add_frame(
        rows.select(
            pl.col("seq").alias("line"), pl.col("_reason").alias("reason"), pl.col("query").alias("raw")
        ),
        file=QUARANTINE_FILE,
    )
    bots = (
        dropped.filter(pl.col("_reason") == BOT)
        .group_by("user")
        .agg(pl.len().alias("n"), pl.col("seq").min().alias("line"))
        .sort("line")
    )
    quarantine.add_frame(
        bots.select(
            "line",
            pl.lit(BOT).alias("reason"),
            pl.format("user {}: {} events dropped as automated traffic", "user", "n").alias("raw"),
        ),
        file=QUARANTINE_FILE,
    )


def read_and_preprocess(
    customer_dir: CustomerLogs | Path,
    config: CustomerConfig,
    params: TrainParams,
    quarantine_file: Path,
    report: Report = silent,
) -> tuple[Preprocessed, Quarantine]:
    """Steps 1 and 2 for one customer: read its logs, then preprocess them.

    Rejected rows go to ``quarantine_file`` with their reasons; the quarantine is closed on return and
    keeps its counts. The raw frame is freed as soon as it is preprocessed (peak memory).
    """
    name = customer_dir.name
    with Quarantine(quarantine_file) as quarantine:
        report(f"{name}: reading logs")
        raw = read_customer_logs(customer_dir, config, quarantine, params=params)
        report(f"{name}: preprocessing {raw.height:,} rows")
        return preprocess(raw, params, config, quarantine), quarantine
