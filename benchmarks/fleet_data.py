"""A fleet of customers' search logs: many customers with Zipf-distributed log sizes, deterministic.

Customer ``i`` (0-based) gets about ``largest / (i + 1) ** exponent`` events (at least ``smallest``): a
few large customers and a long tail of small ones, as a hosting provider's client sites are. Each
customer has its own vocabulary (Korean product words and Latin brand names), and every query is typed
by several users, so each customer trains a model with golden queries. ``change`` rewrites a few
customers' logs as a next day's export would (new rows appended), the rest stay byte-identical.

    python -m benchmarks.fleet_data DEST --customers 1000 --largest 200000
"""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.synth import _LATIN

_WORDS = [
    "노트북",
    "가방",
    "케이스",
    "아이폰",
    "갤럭시",
    "운동화",
    "패딩",
    "니트",
    "원피스",
    "청바지",
    "모자",
    "향수",
    "크림",
    "선물",
    "세트",
    "가습기",
    "청소기",
    "냉장고",
    "세탁기",
    "이어폰",
    "충전기",
    "키보드",
    "마우스",
    "모니터",
    "의자",
    "책상",
    "텀블러",
    "우산",
    "양말",
]


def customer_name(i: int) -> str:
    return f"c{i:04d}"


def events_of(i: int, largest: int, smallest: int, exponent: float) -> int:
    return max(smallest, int(largest / (i + 1) ** exponent))


def _rows(i: int, n: int, day: int, seed: int) -> list[str]:
    rng = random.Random(seed * 1_000_003 + i * 7919 + day)
    vocab_rng = random.Random(seed * 31 + i)
    # Product words, a brand and a model number: distinct queries grow with the customer's size.
    vocab = sorted(
        {
            f"{vocab_rng.choice(_WORDS)} {vocab_rng.choice(_LATIN)} {vocab_rng.randrange(1000)}"
            if vocab_rng.random() < 0.7
            else f"{vocab_rng.choice(_WORDS)} {vocab_rng.choice(_WORDS)}"
            for _ in range(max(8, min(20_000, n // 5)))
        }
    )
    users = max(6, n // 4)
    start = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=day)
    rows = []
    for k in range(n):
        # Zipf popularity inside the customer's vocabulary (log-uniform rank: P(rank r) ~ 1/r).
        q = vocab[min(len(vocab) - 1, int(len(vocab) ** rng.random()) - 1)]
        when = start + timedelta(seconds=k * 86400 // max(1, n))
        u = rng.randrange(users)
        rows.append(
            f"{when.isoformat()},u{u},s{u}-{k // 5},{q},{rng.randint(0, 500)},{int(rng.random() < 0.4)}"
        )
    return rows


HEADER = "timestamp,user_id,session_id,query,result_count,clicked"


def write_customer(dest: Path, i: int, n: int, days: int, seed: int) -> int:
    d = dest / customer_name(i)
    d.mkdir(parents=True, exist_ok=True)
    rows = [r for day in range(days) for r in _rows(i, max(1, n // days), day, seed)]
    (d / "events.csv").write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return len(rows)


def write_fleet(
    dest: Path,
    customers: int,
    *,
    largest: int = 20_000,
    smallest: int = 40,
    exponent: float = 1.0,
    seed: int = 1,
) -> dict[str, int]:
    """Write ``customers`` customer folders under ``dest``; customer -> events written."""
    return {
        customer_name(i): write_customer(dest, i, events_of(i, largest, smallest, exponent), 1, seed)
        for i in range(customers)
    }


def change(dest: Path, which: list[int], day: int = 1, seed: int = 1, events: int = 60) -> None:
    """A next day's export for customers ``which``: new rows in a second file of each."""
    for i in which:
        rows = _rows(i, events, day + 10, seed + 17)
        (dest / customer_name(i) / f"day{day}.csv").write_text(HEADER + "\n" + "\n".join(rows) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest", type=Path)
    ap.add_argument("--customers", type=int, default=1000)
    ap.add_argument("--largest", type=int, default=20_000)
    ap.add_argument("--smallest", type=int, default=40)
    args = ap.parse_args()
    sizes = write_fleet(args.dest, args.customers, largest=args.largest, smallest=args.smallest)
    print(f"{len(sizes)} customers, {sum(sizes.values()):,} events under {args.dest}")


if __name__ == "__main__":
    main()
