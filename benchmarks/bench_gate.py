"""The quality gate before and after it moved into each customer's training task (issue 13).

A day on which N customers changed (default 100), on one machine, in one process:

- before: every changed customer is trained (the mapped tasks), then the gate step reads each one's
  logs again, preprocesses them, trains the candidate on the older part and scores both models,
  customer after customer: its cost is the sum over all changed customers, after training finished;
- after: each training task makes the comparison on the events it already has; the gate step decides
  from the numbers.

Both runs must reach the same decisions (checked). The "gate step" column is what runs after the
mapped training tasks, on one worker: the part that no number of workers shortens.

    .venv/bin/python -m benchmarks.bench_gate [--customers 100] [--out docs/benchmarks_gate.md]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.fleet_data import change, write_fleet
from kwrec.adapters.stores import open_store
from kwrec.core.gate import GateDecision
from kwrec.core.manifest import CustomerEntry
from kwrec.pipeline import records
from kwrec.pipeline.steps import gate_step, train_customer_step
from kwrec.pipeline.train import open_data, train_customer_entry, train_release
from kwrec.settings import Settings

DAY1, DAY2 = "2612010900", "2612020900"


def _day(settings: Settings, customers: list[str], moved: bool) -> tuple[float, float, list[GateDecision]]:
    store = open_store(settings.store)
    entries: dict[str, CustomerEntry] = {}
    started = time.perf_counter()
    for c in customers:
        if moved:
            entries[c] = train_customer_step(settings, store, c, DAY2, lambda _: None)
        else:  # today's training task: no comparison
            entries[c] = train_customer_entry(
                store,
                open_data(settings).customer(c),
                c,
                f"gs_{DAY2}",
                settings.train,
                False,
                lambda _: None,
                cache_dir=settings.cache_dir,
            )
    trained = time.perf_counter()
    decisions = gate_step(settings, store, entries, lambda _: None).decisions
    return trained - started, time.perf_counter() - trained, decisions


def run(customers: int) -> dict[str, Any]:
    out: dict[str, Any] = {"customers": customers}
    with tempfile.TemporaryDirectory(prefix="kwrec-bench-gate-") as tmp:
        root = Path(tmp)
        data = root / "data"
        events = write_fleet(data, customers, largest=20_000, smallest=200)
        out["events"] = sum(events.values())
        change(data, list(range(customers)), day=2, events=200)
        results = {}
        for label, moved in (("before", False), ("after", True)):
            settings = Settings(
                store=str(root / f"store-{label}"), cache_dir=root / f"cache-{label}", data_dir=data
            )
            settings.run.evaluate = False
            store = open_store(settings.store)
            # Day 1 (without the day-2 files) is live: the gate compares against it.
            day2 = {p: p.read_bytes() for p in data.rglob("day2.csv")}
            for p in day2:
                p.unlink()
            live = train_release(settings, store, timestamp=DAY1, evaluate=False).manifest
            for p, body in day2.items():
                p.write_bytes(body)
            lease = records.acquire_lease(store, "bench", "docker", live.version, "deploy", 60)
            records.set_live(store, "bench", "docker", lease, live.version, {})
            settings.deploy.name = "bench"
            train_s, gate_s, decisions = _day(settings, sorted(events), moved)
            results[label] = {"train_s": train_s, "gate_s": gate_s, "decisions": decisions}
            print(f"[{label}] train {train_s:.1f} s, gate step {gate_s:.1f} s", flush=True)
        same = [(d.customer, d.action, d.new_mrr, d.live_mrr) for d in results["before"]["decisions"]] == [
            (d.customer, d.action, d.new_mrr, d.live_mrr) for d in results["after"]["decisions"]
        ]
        out["same_decisions"] = same
        out["held_back"] = sum(d.held_back for d in results["after"]["decisions"])
        for label in ("before", "after"):
            r = results[label]
            out[label] = {"train_s": round(r["train_s"], 1), "gate_s": round(r["gate_s"], 1)}
    return out


def render(r: dict[str, Any], command: str) -> str:
    b, a = r["before"], r["after"]
    lines = [
        "# The quality gate, before and after it moved into the training tasks (issue 13)",
        "",
        f"Command: `{command}`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, one process on this machine.",
        f"{r['customers']} customers ({r['events']:,} events), every one changed on day 2; "
        f"same decisions in both: **{r['same_decisions']}** ({r['held_back']} held back).",
        "",
        "| | training tasks (sum) | gate step (serial, after training) | day total |",
        "|---|---|---|---|",
        f"| before: the gate re-reads and re-trains | {b['train_s']} s | {b['gate_s']} s | "
        f"{b['train_s'] + b['gate_s']:.1f} s |",
        f"| after: each training task compares | {a['train_s']} s | {a['gate_s']} s | "
        f"{a['train_s'] + a['gate_s']:.1f} s |",
        "",
        "With W training workers the day takes about (training tasks) / W + (gate step): before, the gate "
        "step stays whole however many workers there are; after, it is only the decisions.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=100)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    r = run(args.customers)
    command = "python -m benchmarks.bench_gate" + (f" --out {args.out}" if args.out else "")
    text = render(r, command)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        args.out.with_suffix(".json").write_text(json.dumps(r, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
