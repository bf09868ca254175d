"""In-process autocomplete look-up latency for a customer with one million distinct queries.

    .venv/bin/python -m benchmarks.bench_lookup [--distinct 1000000] [--lookups 200000]

Trains (once, cached under var/bench/lookup-<distinct>-f<artifact format>/) a release from synthetic
logs with that many distinct queries, then times ``CustomerModel.autocomplete(prefix, 10)`` over a
realistic mix of prefixes (1-10 characters of queries drawn by popularity, Korean and Latin), and, in
the same run, a straightforward baseline: bisect over the sorted query list plus a heap for the top 10
by count.
"""

from __future__ import annotations

import argparse
import bisect
import heapq
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from benchmarks.synth import write_synthetic_logs
from kwrec import ARTIFACT_FORMAT
from kwrec.adapters.stores import open_store
from kwrec.core.manifest import open_release
from kwrec.core.models.customer_model import CustomerModel

ROOT = Path(__file__).resolve().parents[1] / "var" / "bench"


def ensure_release(distinct: int) -> tuple[Path, Path]:
    base = ROOT / f"lookup-{distinct}-f{ARTIFACT_FORMAT}"  # a new artifact format trains a new release
    data, store = base / "data", base / "store"
    if not (store / "releases").is_dir():
        write_synthetic_logs(data / "big", rows=distinct * 3, distinct=distinct, seed=1)
        cmd = [sys.executable, "-m", "kwrec.cli.main", "train", "--no-evaluate", "--data", str(data),
               "--store", str(store), "--timestamp", "2611270000"]  # fmt: skip
        subprocess.run(cmd, check=True)
    return data, store


class Baseline:
    """Most-popular completion the plain way: sorted list, bisect, heap."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.keys = sorted(counts)
        self.counts = counts

    def complete(self, prefix: str, k: int = 10) -> list[str]:
        lo = bisect.bisect_left(self.keys, prefix)
        hi = bisect.bisect_left(self.keys, prefix + "\U0010ffff")
        return heapq.nlargest(k, self.keys[lo:hi], key=self.counts.__getitem__)


def timed(fn, prefixes: list[str]) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    clock = time.perf_counter_ns
    for p in prefixes:
        t = clock()
        fn(p)
        out.append((clock() - t) / 1000)
    return out


def summary(name: str, us: list[float]) -> str:
    us = sorted(us)
    p = lambda q: us[min(len(us) - 1, int(q * len(us)))]  # noqa: E731
    return f"| {name} | {statistics.fmean(us):.1f} | {p(0.5):.1f} | {p(0.9):.1f} | {p(0.99):.1f} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--distinct", type=int, default=1_000_000)
    ap.add_argument("--lookups", type=int, default=200_000)
    args = ap.parse_args()
    data, store = ensure_release(args.distinct)
    release = open_release(open_store(str(store)), None, store.parent / "cache")
    model = release.models["big"]
    queries = pl.read_csv(data / "big" / "events.csv", columns=["query"])["query"].str.to_lowercase()
    counts = dict(queries.value_counts().iter_rows())
    rng = random.Random(0)
    sample = queries.sample(args.lookups, with_replacement=True, seed=0).to_list()
    prefixes = [q[: rng.randint(1, min(10, len(q)))] for q in sample]
    baseline = Baseline(counts)
    print(f"model: {model.keyword_count:,} keywords; {len(prefixes):,} look-ups; "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load {os.getloadavg()[0]:.2f}")  # fmt: skip
    print("| system | mean µs | p50 µs | p90 µs | p99 µs |\n|---|---|---|---|---|")
    # The same artifact with only the precomputed prefix tier (no 초성/한영/infix/suffix/typo fallbacks):
    # what a plain "top-k for this prefix" look-up costs.
    exact = CustomerModel(
        model.directory, {**model.meta, "options": dict.fromkeys(("infix", "synthesize", "fuzzy"), False)}
    )
    # The floor of any in-process look-up on this machine: a dict holding every answer, ready-made.
    ready = {p: exact.autocomplete(p, 10) for p in set(prefixes)}
    for _ in range(2):  # interleaved; the second round is reported (warm page cache for all)
        ours = timed(lambda p: model.autocomplete(p, 10), prefixes)
        plain = timed(lambda p: exact.autocomplete(p, 10), prefixes)
        base = timed(baseline.complete, prefixes)
        floor = timed(ready.get, prefixes)
    precomputed = [model.has_precomputed(p) for p in prefixes]
    print(summary("kwrec autocomplete, all tiers", ours))
    print(summary("kwrec autocomplete, prefix tier only", plain))
    print(
        summary(
            "  - prefixes with precomputed top-k", [t for t, h in zip(plain, precomputed, strict=True) if h]
        )
    )
    print(
        summary(
            "  - rarer prefixes (key-table search)",
            [t for t, h in zip(plain, precomputed, strict=True) if not h],
        )
    )
    print(summary("baseline: bisect + heap (MPC only)", base))
    print(summary("floor: dict.get of a ready-made answer", floor))
    print(f"share of look-ups with a precomputed top-k: {sum(precomputed) / len(precomputed):.0%}")


if __name__ == "__main__":
    main()
