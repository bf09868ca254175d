"""What reading timestamps costs per form, against polars parsing the same values with the one right format.

kwrec reads a timestamp column without being told its form (ISO 8601 with or without an offset, digits
such as 20261125194600, epoch seconds or milliseconds): one expression tells the forms apart row by row.
The baseline, in the same run, parses the same values with the single format or cast that fits them, as
a reader told the form in advance would. Best of ``--rounds``, alternating.

    .venv/bin/python -m benchmarks.bench_timestamps [--rows 3000000] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import polars as pl

from kwrec.core.ingest.customer_config import CustomerConfig
from kwrec.core.ingest.reader import parse_timestamps

EPOCH = 1_764_500_000
KST = timezone(timedelta(hours=9))


def _korean(t: datetime) -> str:
    """As JavaScript's toLocaleString("ko-KR") and Google Sheets write it: 2026. 11. 30. 오후 7:53:20."""
    half = "오후" if t.hour >= 12 else "오전"
    return f"{t.year}. {t.month}. {t.day}. {half} {(t.hour % 12) or 12}:{t.minute:02d}:{t.second:02d}"


def _forms(rows: int) -> dict[str, tuple[pl.Series, pl.Expr]]:
    """Form -> (values, the baseline's expression for them)."""
    secs = [EPOCH + i for i in range(rows)]
    stamps = [datetime.fromtimestamp(s, UTC) for s in secs[:86_400]]
    cycle = [stamps[i % len(stamps)] for i in range(rows)]
    v = pl.col("v")
    return {
        "epoch seconds, text": (
            pl.Series("v", [str(s) for s in secs]),
            (v.cast(pl.Int64) * 1000).cast(pl.Datetime("ms")),
        ),
        "epoch seconds, integer": (pl.Series("v", secs), (v * 1000).cast(pl.Datetime("ms"))),
        "ISO 8601 UTC (2026-11-30T10:53:20Z)": (
            pl.Series("v", [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in cycle]),
            v.str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_unit="us"),
        ),
        "ISO 8601 UTC, milliseconds (2026-11-30T10:53:20.123Z)": (
            pl.Series("v", [t.strftime("%Y-%m-%dT%H:%M:%S.123Z") for t in cycle]),
            v.str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_unit="us"),
        ),
        "ISO 8601 local (2026-11-30 19:53:20)": (
            pl.Series("v", [t.strftime("%Y-%m-%d %H:%M:%S") for t in cycle]),
            v.str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="us").dt.replace_time_zone("Asia/Seoul"),
        ),
        "ISO 8601 with offset (2026-11-30T19:53:20+09:00)": (
            pl.Series("v", [t.astimezone(KST).strftime("%Y-%m-%dT%H:%M:%S+09:00") for t in cycle]),
            v.str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", time_unit="us"),
        ),
        "ISO 8601, milliseconds and offset (2026-11-30T19:53:20.123+09:00)": (
            pl.Series("v", [t.astimezone(KST).strftime("%Y-%m-%dT%H:%M:%S.123+09:00") for t in cycle]),
            v.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", time_unit="us"),
        ),
        "Korean spreadsheet (2026. 11. 30. 오후 7:53:20)": (
            pl.Series("v", [_korean(t.astimezone(KST)) for t in cycle]),
            v.str.replace("오후", "PM", literal=True)
            .str.replace("오전", "AM", literal=True)
            .str.to_datetime("%Y. %m. %d. %p %I:%M:%S", time_unit="us")
            .dt.replace_time_zone("Asia/Seoul"),
        ),
        "digits (20261130195320)": (
            pl.Series("v", [t.strftime("%Y%m%d%H%M%S") for t in cycle]),
            v.str.to_datetime("%Y%m%d%H%M%S", time_unit="us").dt.replace_time_zone("Asia/Seoul"),
        ),
    }


def _best_of(fn: Callable[[], object]) -> Callable[[], float]:
    def once() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return once


def run(rows: int, rounds: int) -> dict[str, Any]:
    config = CustomerConfig()
    out: dict[str, Any] = {"rows": rows, "forms": {}}
    for name, (values, baseline) in _forms(rows).items():
        frame = values.to_frame()
        kwrec = _best_of(lambda v=values: parse_timestamps(v, config))
        told = _best_of(lambda f=frame, e=baseline: f.select(e))
        times: dict[str, list[float]] = {"kwrec": [], "baseline": []}
        for _ in range(rounds):
            times["kwrec"].append(round(kwrec(), 3))
            times["baseline"].append(round(told(), 3))
        out["forms"][name] = times
    return out


def render(result: dict[str, Any]) -> str:
    lines = [
        f"Command: `.venv/bin/python -m benchmarks.bench_timestamps --rows {result['rows']}`, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {result['rows']:,} values per form.",
        "",
        "| form | kwrec, told nothing (s) | baseline, told the form (s) | kwrec / baseline |",
        "|---|---:|---:|---:|",
    ]
    for name, t in result["forms"].items():
        k, b = min(t["kwrec"]), min(t["baseline"])
        lines.append(f"| {name} | {k} | {b} | {k / b if b else float('inf'):.1f}x |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = run(args.rows, args.rounds)
    print(json.dumps(result) if args.json else render(result))


if __name__ == "__main__":
    main()
