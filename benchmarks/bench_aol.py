"""Autocomplete quality on the real AOL query log: kwrec vs most-popular-completion (MPC).

    .venv/bin/python -m benchmarks.bench_aol [--prefixes-per-query N | --all-prefixes] [--json]

Runs the real pipeline (plain-text ingest, preprocessing, training) on
../shared/data/querylogs/aol_qac/train.query.txt, holds out its last 10% of lines as the test part,
and for each test query evaluates every prefix length 1..len-1 (or a seeded sample of them).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from kwrec.core.evaluation import evaluate_events
from kwrec.core.ingest import load_customer_config
from kwrec.core.preprocess import read_and_preprocess
from kwrec.settings import TrainParams

AOL = Path(__file__).resolve().parents[2] / "shared" / "data" / "querylogs" / "aol_qac" / "train.query.txt"


def run(prefixes_per_query: int | None, seed: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="kwrec-aol-") as tmp:
        customer = Path(tmp) / "aol"
        customer.mkdir()
        shutil.copy(AOL, customer / "train.query.txt")
        config = load_customer_config(customer)
        params = config.train_params(TrainParams())
        started = time.monotonic()
        pre, q = read_and_preprocess(customer, config, params, Path(tmp) / "quarantine.jsonl")
        result = evaluate_events(
            pre.events,
            params,
            customer="aol",
            test_fraction=0.1,
            prefixes_per_query=prefixes_per_query,
            seed=seed,
        )
        result["seconds"] = round(time.monotonic() - started, 1)
        result["quarantined"] = dict(q.counts)
        return result


def table(result: dict[str, object]) -> str:
    auto = result["autocomplete"]
    assert isinstance(auto, dict)
    lines = [
        "| system / part | prefixes | MRR@10 | success@1 | success@5 | success@10 |",
        "|---|---|---|---|---|---|",
    ]
    for key in ("kwrec/all", "mpc/all", "kwrec/seen", "mpc/seen", "kwrec/unseen", "mpc/unseen"):
        r = auto[key]
        cells = [str(r["prefixes"])] + [
            f"{r[m]:.4f}" for m in ("mrr@10", "success@1", "success@5", "success@10")
        ]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--prefixes-per-query", type=int, default=5)
    group.add_argument("--all-prefixes", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not AOL.is_file():
        sys.exit(f"{AOL} not found: this benchmark needs ../shared/data/querylogs beside the repository")
    result = run(None if args.all_prefixes else args.prefixes_per_query, args.seed)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    sampled = "all prefixes" if args.all_prefixes else f"{args.prefixes_per_query} sampled prefixes per query"
    print(
        f"AOL QAC, {result['test_queries']} test queries ({result['unseen_share']:.0%} unseen), {sampled}, "
        f"{datetime.now(UTC):%Y-%m-%d}, {platform.node()}, {result['seconds']} s"
    )
    print(table(result))


if __name__ == "__main__":
    main()
