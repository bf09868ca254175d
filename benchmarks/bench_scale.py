"""A training task's cost against the size of the customer's logs, for the capacity plan (docs/scale.md).

For each size N (synthetic logs, ``distinct = N / 10``), two tasks as the DAG runs them
(``train_customer_step`` with the default settings: evaluation on):

- day 1: no live model: read, preprocess, evaluate (time split), train;
- day 2: 1% more rows, and day 1 is live: the same plus the gate's comparison (train a candidate on the
  older part, score it and the live model).

Each task is a child process: wall time and its own peak RSS (``os.wait4``). A least-squares line
``t = a + b * N`` (and ``rss = m0 + k * N``) is fitted over the sizes and printed with the points.

    .venv/bin/python -m benchmarks.bench_scale [--rows 10000 100000 1000000 3000000] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from benchmarks.synth import write_synthetic_logs

ROOT = Path(__file__).resolve().parents[1]
DAY1, DAY2 = "2611300900", "2612010900"
CUSTOMER = "scale"


def _settings(root: Path) -> Any:
    from kwrec.settings import Settings

    s = Settings(store=str(root / "store"), cache_dir=root / "cache", data_dir=root / "data")
    s.deploy.name = "bench"
    return s


def child(root: Path, day: str) -> None:
    """One training task (runs in its own process)."""
    from kwrec.adapters.stores import open_store
    from kwrec.pipeline import records
    from kwrec.pipeline.steps import release_step, train_customer_step

    settings = _settings(root)
    store = open_store(settings.store)
    if day == "day1":
        entry = train_customer_step(settings, store, CUSTOMER, DAY1, lambda _: None)
        # Make day 1 the live release, so that day 2's task has a model to compare with.
        outcome = release_step(settings, store, DAY1, {CUSTOMER: entry}, {}, [], [], lambda _: None)
        lease = records.acquire_lease(store, "bench", "docker", outcome.manifest.version, "deploy", 60)
        records.set_live(store, "bench", "docker", lease, outcome.manifest.version, {})
    else:
        entry = train_customer_step(settings, store, CUSTOMER, DAY2, lambda _: None)
        assert entry.gate is not None, "day 2 must compare with the live model"


def measure(root: Path, day: str) -> tuple[float, float]:
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_scale", "--child", day, "--root", str(root)]
    )
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - t0
    if status != 0:
        raise SystemExit(f"the {day} task failed (status {status})")
    return seconds, usage.ru_maxrss / 1e6  # ru_maxrss is in KB on Linux: GB


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least squares ``y = a + b x``."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0
    return my - b * mx, b


def run(rows: list[int]) -> dict[str, Any]:
    points = []
    for n in rows:
        with tempfile.TemporaryDirectory(prefix="kwrec-scale-") as tmp:
            root = Path(tmp)
            folder = write_synthetic_logs(root / "data" / CUSTOMER, rows=n, distinct=max(10, n // 10), seed=5)
            extra = pl.read_csv(folder / "events.csv").tail(max(1, n // 100))
            d1 = measure(root, "day1")
            extra.write_csv(folder / "day2.csv")
            d2 = measure(root, "day2")
        point = {"rows": n, "day1_s": round(d1[0], 2), "day1_gb": round(d1[1], 3), "day2_s": round(d2[0], 2)}
        point["day2_gb"] = round(d2[1], 3)
        print(point, flush=True)
        points.append(point)
    xs = [float(p["rows"]) for p in points]
    out: dict[str, Any] = {"points": points, "load": os.getloadavg()[0]}
    for key in ("day1_s", "day2_s", "day1_gb", "day2_gb"):
        a, b = fit(xs, [float(p[key]) for p in points])
        out[f"fit_{key}"] = {"a": round(a, 4), "b_per_million": round(b * 1e6, 4)}
    return out


def render(r: dict[str, Any], command: str) -> str:
    lines = [
        "# A training task's cost against log size (issue 13)",
        "",
        f"Command: `{command}`, {r['date']}; 2 cores, one task at a time (load average before: "
        f"{r['load']:.1f}). Synthetic logs (`benchmarks/synth.py`, distinct = rows / 10). Each task is a "
        "child process (Python start-up included): wall time and its peak RSS.",
        "",
        "| rows | day 1: evaluate + train | peak RSS | day 2: + gate comparison | peak RSS |",
        "|---:|---:|---:|---:|---:|",
    ]
    for p in r["points"]:
        lines.append(
            f"| {p['rows']:,} | {p['day1_s']:.2f} s | {p['day1_gb']:.2f} GB | {p['day2_s']:.2f} s | "
            f"{p['day2_gb']:.2f} GB |"
        )
    f = {k: r[f"fit_{k}"] for k in ("day1_s", "day2_s", "day1_gb", "day2_gb")}
    lines += [
        "",
        "Least-squares lines over these points (N in millions of rows):",
        "",
        f"- day 1 task: t = {f['day1_s']['a']:.2f} s + {f['day1_s']['b_per_million']:.2f} s x N",
        f"- day 2 task: t = {f['day2_s']['a']:.2f} s + {f['day2_s']['b_per_million']:.2f} s x N",
        f"- peak RSS day 1: {f['day1_gb']['a']:.2f} GB + {f['day1_gb']['b_per_million']:.3f} GB x N",
        f"- peak RSS day 2: {f['day2_gb']['a']:.2f} GB + {f['day2_gb']['b_per_million']:.3f} GB x N",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000, 3_000_000])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks_scale.md")
    ap.add_argument("--child", choices=["day1", "day2"], help=argparse.SUPPRESS)
    ap.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.root, args.child)
        return
    r = run(args.rows)
    r["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = " ".join(str(n) for n in args.rows)
    text = render(r, f"python -m benchmarks.bench_scale --rows {rows}")
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(r, indent=1))
    print(text)


if __name__ == "__main__":
    main()
