"""One customer's daily training with a live model: evaluation and the gate sharing one model of the
older part of its events, against each training its own (the baseline, measured in the same run).

A customer with a live model used to be trained three times a day: the evaluation's model and the
gate's candidate (both on the older 90 % of its events) and the release's. When `[evaluate]
test_fraction` and `[run] gate_test_fraction` agree (the default), one held-out model now serves both.
The baseline sets the gate's fraction a hair off (0.1000001), which takes the unshared path with the
same amount of work. Rounds alternate the two, so machine noise hits both alike; the best of each is shown.

    .venv/bin/python -m benchmarks.bench_held_out [--rows 3000000] [--rounds 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.synth import write_synthetic_logs
from kwrec.adapters.stores import open_store
from kwrec.pipeline import records
from kwrec.pipeline.steps import train_customer_step
from kwrec.pipeline.train import train_release
from kwrec.settings import Settings

MODES = {"shared": 0.1, "separate (baseline)": 0.1000001}


def run(rows: int, rounds: int) -> dict[str, Any]:
    times: dict[str, list[float]] = {m: [] for m in MODES}
    with tempfile.TemporaryDirectory(prefix="kwrec-bench-held-out-") as tmp:
        root = Path(tmp)
        logs = root / "data" / "big"
        logs.mkdir(parents=True)
        write_synthetic_logs(logs, rows, max(rows // 10, 1))
        settings = Settings(store=str(root / "store"), cache_dir=root / "cache", data_dir=root / "data")
        settings.deploy.name = "bench"
        store = open_store(settings.store)
        live = train_release(settings, store, timestamp="2612010900", evaluate=False).manifest
        lease = records.acquire_lease(store, "bench", "docker", live.version, "deploy", 60)
        records.set_live(store, "bench", "docker", lease, live.version, {})
        for r in range(rounds):
            for i, (mode, fraction) in enumerate(MODES.items()):
                ts = f"26120{2 + r}09{i}0"
                (logs / f"extra-{ts}.txt").write_text("one more search\n", encoding="utf-8")  # new inputs
                day = settings.model_copy(
                    update={"run": settings.run.model_copy(update={"gate_test_fraction": fraction})}
                )
                started = time.perf_counter()
                entry = train_customer_step(day, store, "big", ts, lambda _m: None)
                times[mode].append(time.perf_counter() - started)
                assert entry.evaluation is not None and entry.gate is not None
                print(f"round {r + 1} {mode}: {times[mode][-1]:.1f} s", flush=True)
    return {
        "rows": rows,
        "rounds": rounds,
        "seconds": {m: [round(t, 1) for t in ts] for m, ts in times.items()},
    }


def render(result: dict[str, Any], command: str) -> str:
    best = {m: min(ts) for m, ts in result["seconds"].items()}
    shared, alone = best["shared"], best["separate (baseline)"]
    lines = [
        f"Command: `{command}`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: one customer of {result['rows']:,} "
        "events with a live model, evaluation and gate on.",
        "",
        "| training task | best (s) | every round (s) |",
        "|---|---:|---|",
        *(f"| {m} | {best[m]:.1f} | {', '.join(map(str, ts))} |" for m, ts in result["seconds"].items()),
        "",
        f"Shared: {shared / alone:.0%} of the baseline's time.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    result = run(args.rows, args.rounds)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            render(result, f"python -m benchmarks.bench_held_out --rows {args.rows} --rounds {args.rounds}")
        )


if __name__ == "__main__":
    main()
