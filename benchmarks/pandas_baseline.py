"""The same preprocessing and keyword scoring as ``kwrec train``, written the straightforward pandas way.

It is the yardstick for ``bench_train``: what a competent engineer would write in an afternoon with
pandas, row-wise text normalisation included. It is not a re-implementation of every kwrec rule
(no quarantine file, no ban list, no 초성/keystroke index, no related or trending lists), so it does
strictly less work than kwrec; the parameters are kwrec's defaults.

Simplification: the "more than 30 distinct queries a minute" bot rule counts per clock minute
(``groupby`` on the floored minute); kwrec uses a sliding 60 s window.
"""

from __future__ import annotations

import argparse
import json
import time
import unicodedata
from pathlib import Path

import pandas as pd

from kwrec.core.preprocess import PII_RE

MAX_QUERY_CHARS = 100
REPEAT_SECONDS = 60
BOT_EVENTS_PER_DAY = 2000
BOT_DISTINCT_PER_MINUTE = 30
HALF_LIFE_DAYS = 14.0
MIN_USERS = 2


def _clean(s: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", s).split())


def keyword_table(path: Path) -> tuple[pd.DataFrame, dict[str, float]]:
    steps: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        steps[name] = round(now - t, 2)
        t = now

    df = pd.read_csv(path, usecols=["timestamp", "user_id", "query"], dtype=str, keep_default_na=False)
    df["ts"] = pd.to_datetime(df["timestamp"], utc=True, format="ISO8601")
    df = df.drop(columns="timestamp")
    lap("read")

    df["display"] = df["query"].map(_clean)
    df["norm"] = df["display"].str.lower()
    df = df.drop(columns="query")
    lap("normalise")

    keep = (df["display"].str.len() <= MAX_QUERY_CHARS) & (df["display"] != "")
    keep &= ~df["display"].str.contains(PII_RE, regex=True)
    df = df[keep]
    lap("filter")

    # A repeated submit: same user, same query, within 60 s of that user's previous submit of it.
    df = df.sort_values(["user_id", "norm", "ts"], kind="stable")
    gap = df.groupby(["user_id", "norm"], sort=False)["ts"].diff()
    df = df[~(gap <= pd.Timedelta(seconds=REPEAT_SECONDS))]
    lap("repeats")

    day = df["ts"].dt.floor("D")
    per_day = df.groupby(["user_id", day]).size()
    minute = df["ts"].dt.floor("min")
    per_minute = df.groupby(["user_id", minute])["norm"].nunique()
    bots = set(per_day[per_day > BOT_EVENTS_PER_DAY].index.get_level_values(0))
    bots |= set(per_minute[per_minute > BOT_DISTINCT_PER_MINUTE].index.get_level_values(0))
    df = df[~df["user_id"].isin(bots)]
    lap("bots")

    ref = df["ts"].max()
    df = df.assign(
        nk=df["norm"].str.replace(" ", "", regex=False),
        day=df["ts"].dt.floor("D"),
        w=0.5 ** (((ref - df["ts"]).dt.total_seconds() / 86400.0) / HALF_LIFE_DAYS),
    )
    # Each person counts once a day, at their most recent search of that day.
    daily = df.groupby(["nk", "user_id", "day"], sort=False)["w"].max().reset_index()
    scores = daily.groupby("nk").agg(score=("w", "sum"), users=("user_id", "nunique"))
    display = (
        df.groupby(["nk", "display"]).size().rename("n").reset_index()
        .sort_values(["nk", "n", "display"], ascending=[True, False, True])
        .drop_duplicates("nk")
        .set_index("nk")["display"]
    )  # fmt: skip
    table = scores[scores["users"] >= MIN_USERS].join(display).sort_values("score", ascending=False)
    lap("keywords")
    return table, steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("csv", type=Path, help="events.csv written by benchmarks.synth")
    args = ap.parse_args()
    table, steps = keyword_table(args.csv)
    print(json.dumps({"keywords": len(table), "steps": steps}))


if __name__ == "__main__":
    main()
