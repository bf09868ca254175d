"""kwrec against most-popular-completion on the real logs that have user ids and times (AOL missions,
Excite 1997), where the privacy floor (`[train] min_users`), decay and per-person counting all act.

AOL's QAC file (bench_aol) has neither user ids nor times: every search there is its own person, so the
floor never acts. These two logs are small and most of their queries were typed by one person, so MPC,
which lists anything anyone typed, is shown three ways on the same prefixes (one per held-out query,
``kwrec evaluate``'s protocol, every test query):

- MPC as the issue defines it (every training query);
- MPC held to the same floor as kwrec (only queries at least ``min_users`` people typed), the baseline a
  service that may not show one person's searches to everyone could deploy;
- kwrec with the floor off (``min_users = 1``), which shows what the floor costs.

    .venv/bin/python -m benchmarks.bench_user_logs [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kwrec.core.evaluation import evaluate_events
from kwrec.core.ingest import load_customer_config
from kwrec.core.preprocess import read_and_preprocess
from kwrec.settings import TrainParams
from kwrec.settings.evaluate import EvaluateSettings

LOGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "querylogs"
PROTOCOL = EvaluateSettings(prefixes="one", max_test_queries=None)

# name -> (source file, file name in the customer folder, header line to prepend, kwrec.toml)
SOURCES = {
    "aol-missions": (
        LOGS / "aol_missions" / "aol_missions_clean.tsv",
        "log.tsv",
        None,
        'timezone = "America/New_York"\n[columns]\nuser_id = "AnonID"\nquery = "Query"\n'
        'timestamp = "QueryTime"\nsession_id = "MissionID"\n',
    ),
    "excite-1997": (
        LOGS / "excite_1997" / "excite-small.log",
        "log.tsv",
        "user\tts\tquery\n",
        '[columns]\nuser_id = "user"\ntimestamp = "ts"\nquery = "query"\n',
    ),
}


def _customer(root: Path, name: str) -> Path:
    source, file_name, header, config = SOURCES[name]
    folder = root / name
    folder.mkdir(parents=True)
    if header is None:
        shutil.copy(source, folder / file_name)
    else:
        (folder / file_name).write_bytes(header.encode() + source.read_bytes())
    (folder / "kwrec.toml").write_text(config, encoding="utf-8")
    return folder


def run() -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="kwrec-bench-user-logs-") as tmp:
        root = Path(tmp)
        for name in SOURCES:
            folder = _customer(root, name)
            config = load_customer_config(folder)
            base = config.train_params(TrainParams())
            pre, quarantine = read_and_preprocess(folder, config, base, root / f"{name}-quarantine.jsonl")
            for min_users in (base.min_users, 1):
                params = base.model_copy(update={"min_users": min_users})
                result = evaluate_events(pre.events, params, customer=name, protocol=PROTOCOL)
                auto = result["autocomplete"]
                # MPC held to the floor is scored only where the floor acts; with it off it is MPC.
                mpc_plain = float(auto["mpc/seen"]["mrr@10"])
                mpc_floor = float(auto.get("mpc-floor/seen", auto["mpc/seen"])["mrr@10"])
                seen_n = int(auto["kwrec/seen"]["prefixes"])
                kwrec_seen = float(auto["kwrec/seen"]["mrr@10"])
                rows.append(
                    {
                        "log": name,
                        "events": pre.events.height,
                        "quarantined": quarantine.total,
                        "test_queries": result["test_queries"],
                        "seen": seen_n,
                        "min_users": min_users,
                        "kwrec_all_x_mpc": round(
                            float(auto["kwrec/all"]["mrr@10"]) / float(auto["mpc/all"]["mrr@10"]), 3
                        ),
                        "kwrec_seen": kwrec_seen,
                        "mpc_seen": round(mpc_plain, 4),
                        "kwrec_seen_x_mpc": round(kwrec_seen / mpc_plain, 3) if mpc_plain else None,
                        "mpc_floor_seen": round(mpc_floor, 4),
                        "kwrec_seen_x_mpc_floor": round(kwrec_seen / mpc_floor, 3) if mpc_floor else None,
                    }
                )
                print(f"{name} min_users={min_users}: done", flush=True)
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    head = (
        "| log | events | test queries (seen) | kwrec min_users | all: kwrec / MPC | seen: kwrec | MPC "
        "| kwrec / MPC | MPC with the floor | kwrec / it |"
    )
    lines = [
        f"Command: `.venv/bin/python -m benchmarks.bench_user_logs`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        "one prefix per held-out query (10 % newest), MRR@10 of the exact query.",
        "",
        head,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['log']} | {r['events']:,} | {r['test_queries']} ({r['seen']}) | {r['min_users']} | "
            f"{r['kwrec_all_x_mpc']} | {r['kwrec_seen']} | {r['mpc_seen']} | {r['kwrec_seen_x_mpc']} | "
            f"{r['mpc_floor_seen']} | {r['kwrec_seen_x_mpc_floor']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    missing = [str(src) for src, *_ in SOURCES.values() if not src.exists()]
    if missing:
        raise SystemExit(
            f"bench_user_logs needs ../shared beside the repository: missing {', '.join(missing)}"
        )
    rows = run()
    print(json.dumps(rows) if args.json else render(rows))


if __name__ == "__main__":
    main()
