"""Autocomplete quality and look-up latency on the real AOL query log: kwrec vs most-popular-completion.

    .venv/bin/python -m benchmarks.bench_aol [--protocol one|all|both] [--latency [--passes N]] [--json]

Runs the real pipeline (plain-text ingest, preprocessing, training) on
../shared/data/querylogs/aol_qac/train.query.txt and holds out its last 10% of lines as the test
part. Two prefix protocols, both over every test query:
- one: one prefix per query, its length drawn uniformly in [2, len-1] characters from a hash of the
  query (trailing space stripped);
- all: every prefix length 1..len-1 (short prefixes dominate).
Each reports MRR@10 of the exact query (strict) and of an equivalent form (see kwrec.core.evaluation),
split into seen / unseen test queries. ``--latency`` times in-process look-ups of the one-per-query
prefixes and of every prefix (p50 / p99 / max of the pass with the best p99, every pass's p99, and
the p99 of each look-up's fastest time over the passes), for the full model and, as the baseline in
the same run, the same artifact with only its exact-prefix tiers.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kwrec.core.evaluation import FIGURES, evaluate_events, query_prefix, time_split, versus_mpc
from kwrec.core.ingest import load_customer_config
from kwrec.core.models.customer_model import CustomerModel
from kwrec.core.models.train import train_customer
from kwrec.core.preprocess import read_and_preprocess
from kwrec.settings import TrainParams
from kwrec.settings.evaluate import EvaluateSettings

AOL = Path(__file__).resolve().parents[2] / "shared" / "data" / "querylogs" / "aol_qac" / "train.query.txt"


def _events(tmp: Path) -> tuple[Any, TrainParams]:
    customer = tmp / "aol"
    customer.mkdir()
    shutil.copy(AOL, customer / "train.query.txt")
    config = load_customer_config(customer)
    params = config.train_params(TrainParams())
    pre, _ = read_and_preprocess(customer, config, params, tmp / "quarantine.jsonl")
    return pre.events, params


def quality(events: Any, params: TrainParams, plan: str) -> dict[str, Any]:
    started = time.monotonic()
    protocol = EvaluateSettings(prefixes=plan, max_test_queries=None)
    result = evaluate_events(events, params, customer="aol", protocol=protocol)
    result["seconds"] = round(time.monotonic() - started, 1)
    result["versus_mpc"] = {f: versus_mpc(result, f) for f in FIGURES}
    return result


def _pass(model: CustomerModel, prefixes: list[str]) -> list[int]:
    """Each look-up's time in ns, in the order of ``prefixes``."""
    times = []
    for p in prefixes:
        t0 = time.perf_counter_ns()
        model.autocomplete(p, 10)
        times.append(time.perf_counter_ns() - t0)
    return times


def _summary(runs: list[list[int]]) -> dict[str, Any]:
    """The pass with the lowest p99 (the machine is shared), every pass's p99, and the p99 of each
    look-up's fastest time over the passes (what the code costs once the machine's noise is out)."""
    n = len(runs[0])
    ordered = [sorted(t) for t in runs]
    best = min(ordered, key=lambda t: t[n * 99 // 100])
    fastest = sorted(map(min, zip(*runs, strict=True)))
    return {
        "lookups": n,
        "p50_us": round(best[n // 2] / 1000, 1),
        "p99_us": round(best[n * 99 // 100] / 1000, 1),
        "max_us": round(best[-1] / 1000, 1),
        "mean_us": round(statistics.fmean(best) / 1000, 1),
        "p99_us_per_pass": sorted(round(t[n * 99 // 100] / 1000, 1) for t in ordered),
        "p50_us_fastest": round(fastest[n // 2] / 1000, 1),
        "p99_us_fastest": round(fastest[n * 99 // 100] / 1000, 1),
    }


def latency(events: Any, params: TrainParams, tmp: Path, passes: int) -> dict[str, Any]:
    """In-process look-up times of the full model, and of the same artifact with only the exact-prefix
    tiers (no infix, synthesis or typo tier): the baseline that shows what the unseen-query tiers cost."""
    train, test = time_split(events, 0.1)
    meta = train_customer(train, params, tmp / "model", customer="aol")
    systems = {
        "kwrec": CustomerModel(tmp / "model", meta),
        "exact tiers only": CustomerModel(
            tmp / "model", {**meta, "options": {"infix": False, "synthesize": False, "fuzzy": False}}
        ),
    }
    queries = [q for q in test["norm"].to_list() if len(q) > 1]
    sets = {
        "one per query": [p for p in map(query_prefix, queries) if p],
        "every prefix": [q[:n] for q in queries for n in range(1, len(q))],
    }
    # What the evaluation above left on the heap is no part of serving: out of the collector's way.
    gc.collect()
    gc.freeze()
    # The systems alternate pass by pass, so that a noisy minute on the machine hits both.
    runs: dict[str, list[list[int]]] = {}
    for name, prefixes in sets.items():
        for _ in range(passes):
            for system, model in systems.items():
                runs.setdefault(f"{name} / {system}", []).append(_pass(model, prefixes))
    return {key: _summary(r) for key, r in runs.items()}


def table(result: dict[str, Any]) -> str:
    lines = [
        "| figure | system / part | prefixes | MRR@10 | success@1 | success@5 | success@10 |",
        "|---|---|---|---|---|---|---|",
    ]
    for figure, name in FIGURES.items():
        auto = result[figure]
        for key in ("kwrec/all", "mpc/all", "kwrec/seen", "mpc/seen", "kwrec/unseen", "mpc/unseen"):
            r = auto[key]
            cells = [str(r["prefixes"])] + [
                f"{r[m]:.4f}" for m in ("mrr@10", "success@1", "success@5", "success@10")
            ]
            lines.append(f"| {name} | {key} | " + " | ".join(cells) + " |")
    ratios = result["versus_mpc"]
    lines.append("")
    for figure, name in FIGURES.items():
        r = ratios[figure]
        lines.append(f"kwrec / MPC ({name}): all {r['all']}x, seen {r['seen']}x")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--protocol", choices=["one", "all", "both"], default="both")
    ap.add_argument("--latency", action="store_true", help="also time in-process look-ups")
    ap.add_argument("--passes", type=int, default=5, help="timing passes per system (the best p99 is shown)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not AOL.is_file():
        sys.exit(f"{AOL} not found: this benchmark needs ../shared/data/querylogs beside the repository")
    plans = ["one", "all"] if args.protocol == "both" else [args.protocol]
    with tempfile.TemporaryDirectory(prefix="kwrec-aol-") as tmp:
        events, params = _events(Path(tmp))
        results = {plan: quality(events, params, plan) for plan in plans}
        timing = latency(events, params, Path(tmp), args.passes) if args.latency else None
    if args.json:
        print(json.dumps({"quality": results, "latency": timing}, indent=1))
        return
    print(f"AOL QAC, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}")
    for result in results.values():
        print(
            f"\n### {result['protocol']['described']}: {result['test_queries']} test queries "
            f"({result['unseen_share']:.0%} unseen), {result['seconds']} s\n"
        )
        print(table(result))
    if timing:
        head = f"look-ups (in process, best of {args.passes} passes)"
        columns = "n | p50 us | p99 us | max us | p99 us, every pass | p50 / p99 us, each look-up's fastest"
        print(f"\n| {head} | {columns} |\n|---|---|---|---|---|---|---|")
        for name, t in timing.items():
            cells = [
                t["lookups"],
                t["p50_us"],
                t["p99_us"],
                t["max_us"],
                ", ".join(str(x) for x in t["p99_us_per_pass"]),
                f"{t['p50_us_fastest']} / {t['p99_us_fastest']}",
            ]
            print(f"| {name} | " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
