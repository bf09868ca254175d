"""Would choosing ``[train] half_life_days`` per customer, on its own newest training events, help?

For every log with timestamps (the two sample customers that have them, and the real AOL missions and
Excite 1997 logs when ``../shared`` is beside the repository) and every half-life of a grid, two
evaluations with ``kwrec evaluate``'s protocol (one prefix per held-out query):

- validation: the training part alone, split again (its newest 10 % held out): what a per-customer
  choice could look at without touching the test part;
- test: the usual split (newest 10 % of every event), the figure the issue compares with MPC.

The real logs run twice: with the default privacy floor, and with ``min_users = 1`` (most of their
queries were typed by one person, so the floor leaves decay almost nothing to order).

The half-life that validation would choose is then scored on the test part, beside the default (14 days)
and the test part's own best, which no training-time choice can know. Decay is measured from the newest
event, so the half-lives run from hours to "none".

    .venv/bin/python -m benchmarks.bench_half_life [--json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.bench_user_logs import SOURCES, _customer
from kwrec.core.evaluation import evaluate_events, time_split
from kwrec.core.ingest import load_customer_config
from kwrec.core.preprocess import read_and_preprocess
from kwrec.settings import TrainParams
from kwrec.settings.evaluate import EvaluateSettings

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "sample"
PROTOCOL = EvaluateSettings(prefixes="one", max_test_queries=None)
GRID = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 7.0, 14.0, 28.0, 1e9)  # days; 1e9: no decay at all
DEFAULT = TrainParams().half_life_days


def _seen(result: dict[str, Any]) -> tuple[float, float]:
    auto = result["autocomplete"]
    return float(auto["kwrec/seen"]["mrr@10"]), float(auto["mpc/seen"]["mrr@10"])


def _label(days: float) -> str:
    return "none" if days >= 1e9 else f"{days:g}"


def measure(name: str, folder: Path, tmp: Path, min_users: int | None = None) -> dict[str, Any]:
    config = load_customer_config(folder)
    base = config.train_params(TrainParams())
    if min_users is not None:
        base = base.model_copy(update={"min_users": min_users})
        name = f"{name} (min_users {min_users})"
    pre, _ = read_and_preprocess(folder, config, base, tmp / f"{name}-quarantine.jsonl")
    training, _ = time_split(pre.events, PROTOCOL.test_fraction)
    grid = []
    for days in GRID:
        params = base.model_copy(update={"half_life_days": days})
        v, _ = _seen(evaluate_events(training, params, customer=name, protocol=PROTOCOL))
        t, t_mpc = _seen(evaluate_events(pre.events, params, customer=name, protocol=PROTOCOL))
        grid.append({"half_life": days, "validation_seen": v, "test_seen": t, "test_mpc_seen": t_mpc})
        print(f"{name} half-life {_label(days)}: validation {v:.4f}, test {t:.4f}", flush=True)
    # Ties go to the longer half-life: the default unless validation shows better.
    chosen = max(grid, key=lambda g: (g["validation_seen"], g["half_life"]))
    best = max(grid, key=lambda g: (g["test_seen"], g["half_life"]))
    default = next(g for g in grid if g["half_life"] == DEFAULT)
    mpc = default["test_mpc_seen"]

    def ratio(g: dict[str, Any]) -> float | None:
        return round(g["test_seen"] / mpc, 4) if mpc else None

    return {
        "log": name,
        "events": pre.events.height,
        "grid": grid,
        "chosen_by_validation": chosen["half_life"],
        "test_x_mpc_default": ratio(default),
        "test_x_mpc_chosen": ratio(chosen),
        "best_on_test": best["half_life"],
        "test_x_mpc_best": ratio(best),
    }


def run() -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="kwrec-bench-half-life-") as tmp:
        root = Path(tmp)
        for name in ("shop-kr", "books-en"):
            rows.append(measure(name, SAMPLES / name, root))
        for name, (source, *_) in SOURCES.items():
            if source.exists():
                folder = _customer(root, name)
                # With the default floor most of these logs' queries (one person's) are out and decay
                # has almost nothing to order; with the floor off it orders everything.
                rows.append(measure(name, folder, root))
                rows.append(measure(name, folder, root, min_users=1))
            else:
                print(f"{name}: skipped, {source} is absent (../shared is not beside the repository)")
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"Command: `.venv/bin/python -m benchmarks.bench_half_life`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        "seen-query MRR@10, kwrec / MPC on the test part, one prefix per held-out query.",
        "",
        "| log | events | default (14 days) | chosen on validation | its test figure "
        "| best on test (hindsight) | its test figure |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['log']} | {r['events']:,} | {r['test_x_mpc_default']} | "
            f"{_label(r['chosen_by_validation'])} | {r['test_x_mpc_chosen']} | "
            f"{_label(r['best_on_test'])} | {r['test_x_mpc_best']} |"
        )
    lines += ["", "| log | half-life (days) | validation seen | test seen |", "|---|---:|---:|---:|"]
    for r in rows:
        for g in r["grid"]:
            days, v, t = _label(g["half_life"]), g["validation_seen"], g["test_seen"]
            lines.append(f"| {r['log']} | {days} | {v:.4f} | {t:.4f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = run()
    print(json.dumps(rows) if args.json else render(rows))


if __name__ == "__main__":
    main()
