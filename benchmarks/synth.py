"""Synthetic search logs at benchmark scale (millions of rows), Korean and Latin, deterministic.

Every distinct query is typed by at least two different users (so it survives ``min_users``), the
rest of the rows follow a Zipf-like popularity, as real query logs do.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl

_SYLLABLES = list(
    "가나다라마바사아자차카타파하고노도로모보소오조초코토포호"
    "구누두루무부수우주추쿠투푸후기니디리미비시이지치키티피히"
)
_SYLLABLES += list("강남동서울삼성전자폰케이스노트북가방운동화신발패딩니트원피스청바지모자향수크림선물세트")
_LATIN = [
    "apple",
    "galaxy",
    "iphone",
    "nike",
    "adidas",
    "case",
    "pro",
    "max",
    "mini",
    "air",
    "buds",
    "watch",
    "book",
    "cook",
    "light",
    "black",
    "white",
    "red",
    "blue",
    "shoes",
    "bag",
    "cream",
    "phone",
    "laptop",
    "mouse",
    "keyboard",
    "monitor",
    "chair",
    "desk",
    "lamp",
    "coffee",
    "tea",
    "water",
    "juice",
]


def _vocabulary(distinct: int, rng: np.random.Generator) -> list[str]:
    words_ko = {
        "".join(rng.choice(_SYLLABLES, size=int(n))) for n in rng.integers(2, 5, size=distinct // 2 + 5000)
    }
    words = sorted(words_ko) + _LATIN + [f"{w}{i}" for w in _LATIN for i in range(1, 60)]
    pool = np.array(words)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < distinct:
        n = distinct - len(out)
        lengths = rng.integers(1, 4, size=n + n // 4)
        picks = rng.integers(0, len(pool), size=(len(lengths), 3))
        for length, row in zip(lengths, picks, strict=True):
            q = " ".join(pool[row[:length]])
            if q not in seen:
                seen.add(q)
                out.append(q)
                if len(out) == distinct:
                    break
    return out


def write_synthetic_logs(out_dir: Path, rows: int, distinct: int, seed: int = 0, days: int = 14) -> Path:
    """Write ``customer-dir/events.csv`` (header timestamp,user_id,session_id,query) and return the dir."""
    rng = np.random.default_rng(seed)
    vocab = np.array(_vocabulary(distinct, rng))
    base = np.repeat(np.arange(distinct), 2)[:rows]  # two users per query where rows allow
    rest = rows - len(base)
    zipf = (rng.pareto(1.1, size=max(rest, 0)) * distinct / 50).astype(np.int64) % distinct
    idx = np.concatenate([base, zipf])
    rng.shuffle(idx)
    users = rng.integers(0, max(rows // 20, 100), size=rows)
    seconds = np.sort(rng.integers(0, days * 86400, size=rows))
    ts = (np.datetime64("2026-11-01T00:00:00") + seconds.astype("timedelta64[s]")).astype("datetime64[us]")
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = pl.DataFrame(
        {
            "timestamp": pl.Series(ts).dt.replace_time_zone("UTC").dt.to_string("%Y-%m-%dT%H:%M:%SZ"),
            "user_id": pl.Series(users).cast(pl.String).str.pad_start(7, "0"),
            "query": pl.Series(vocab[idx]),
        }
    )
    frame.write_csv(out_dir / "events.csv")
    return out_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out_dir", type=Path, help="customer directory to write (e.g. var/bench/data/big)")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--distinct", type=int, default=300_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    write_synthetic_logs(args.out_dir, args.rows, args.distinct, args.seed)
    print(f"wrote {args.rows:,} rows ({args.distinct:,} distinct queries) to {args.out_dir}")


if __name__ == "__main__":
    main()
