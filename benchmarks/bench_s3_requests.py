"""S3 requests of a daily release whose logs are in ``s3://bucket/prefix`` (issue 13), counted per
operation on a moto server, phase by phase as the DAG's tasks make them (each task opens its own log
source, so no listing is shared between tasks):

- detect: ``detect_changed_customers`` (lists, downloads nothing);
- train: one ``train_customer`` task per changed customer (lists its prefix, downloads its files);
- reuse: what ``evaluate_and_gate`` and ``publish_release`` each do for the unchanged customers
  (find their artifact from a fresh listing).

Day 1 trains every customer; day 2 adds a file for 1% of them. Every log is one object per customer
(plus one per changed day), so the counts scale with customers and files, not with bytes.

    .venv/bin/python -m benchmarks.bench_s3_requests [--customers 200] [--out docs/benchmarks_s3.md]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from tests.fixtures_moto import moto_server

from benchmarks.fleet_data import change, customer_name, write_fleet
from kwrec.adapters.sources import s3 as s3_source
from kwrec.adapters.stores import open_store
from kwrec.core.ingest import list_customers
from kwrec.pipeline.steps import detect_changes, train_customer_step
from kwrec.pipeline.train import open_data
from kwrec.settings import S3Settings, Settings

ROOT = Path(__file__).resolve().parents[1]
DAY1, DAY2 = "2612010900", "2612020900"
BUCKET = "kwrec-logs"


@contextmanager
def moto() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    with moto_server(lambda _: None) as url:
        yield url


class Requests:
    """Counts every S3 call kwrec's log source makes, by operation."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        make = s3_source.s3_client

        def counting(*args: Any, **kwargs: Any) -> Any:
            client = make(*args, **kwargs)
            client.meta.events.register("before-call.s3.*", self._count)
            return client

        s3_source.s3_client = counting  # type: ignore[assignment]

    def _count(self, model: Any, **_: Any) -> None:
        self.counts[model.name] += 1

    def measure(self, fn: Callable[[], Any]) -> dict[str, int]:
        self.counts.clear()
        fn()
        return dict(sorted(self.counts.items()))


def upload(client: Any, folder: Path, only: set[str] | None = None) -> None:
    for path in sorted(folder.rglob("*.csv")):
        key = f"logs/{path.relative_to(folder).as_posix()}"
        if only is None or path.parent.name in only:
            client.put_object(Bucket=BUCKET, Key=key, Body=path.read_bytes())


def day(settings: Settings, requests: Requests, timestamp: str) -> dict[str, Any]:
    store = open_store(settings.store)
    detected: list[Any] = []
    detect = requests.measure(lambda: detected.append(detect_changes(settings, store)))
    [found] = detected
    train: Counter[str] = Counter()
    for customer in found.changed:
        train.update(
            requests.measure(lambda c=customer: train_customer_step(settings, store, c, timestamp, _quiet))
        )

    def reuse() -> None:
        customers, _ = list_customers(open_data(settings))
        for c in customers:
            if c not in found.changed:
                train_customer_step(settings, store, c, timestamp, _quiet)

    return {
        "changed": len(found.changed),
        "unchanged": len(found.unchanged),
        "detect": detect,
        "train": dict(sorted(train.items())),
        "reuse": requests.measure(reuse),
    }


def _quiet(_: str) -> None:
    pass


def render(results: dict[str, Any], command: str) -> str:
    n = results["customers"]
    lines = [
        "# S3 requests of a daily release (issue 13)",
        "",
        f"Command: `{command}`, {results['date']}. {n} customers, one log object each; day 2 adds one "
        "object to 1% of them. Requests counted per operation on a moto server (botocore `before-call`). "
        "A DAG run makes the reuse pass twice (`evaluate_and_gate` and `publish_release`).",
        "",
        "| day | changed / unchanged | detect | train (all changed) | reuse (one pass) |",
        "|---|---|---|---|---|",
    ]
    for name in ("day1", "day2"):
        d = results[name]
        cell = lambda c: ", ".join(f"{op} {k}" for op, k in c.items()) or "none"  # noqa: E731
        lines.append(
            f"| {name} | {d['changed']} / {d['unchanged']} | {cell(d['detect'])} | {cell(d['train'])} | "
            f"{cell(d['reuse'])} |"
        )
    lines.append(f"\nWall time of the measured phases: {results['seconds']:.0f} s (moto, loopback).")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=200)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks_s3.md")
    args = ap.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "AKIDBENCH")  # moto takes any; a real key is never needed
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kwrec-s3-") as tmp, moto() as endpoint:
        folder = Path(tmp) / "data"
        write_fleet(folder, args.customers, largest=5_000, smallest=40)
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        upload(client, folder)
        settings = Settings(
            store=str(Path(tmp) / "store"),
            cache_dir=Path(tmp) / "cache",
            data_dir=f"s3://{BUCKET}/logs",
            s3=S3Settings(endpoint_url=endpoint),
        )
        requests = Requests()
        results: dict[str, Any] = {"customers": args.customers, "day1": day(settings, requests, DAY1)}
        which = sorted(random.Random(12).sample(range(args.customers), max(1, args.customers // 100)))
        change(folder, which, day=2)
        upload(client, folder, {customer_name(i) for i in which})
        results["day2"] = day(settings, requests, DAY2)
    results["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results["seconds"] = time.monotonic() - t0
    text = render(
        results, ("python -m benchmarks.bench_s3_requests " + f"--customers {args.customers}").strip()
    )
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    print(text)


if __name__ == "__main__":
    main()
