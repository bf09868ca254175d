"""What banning a keyword's misspellings with it costs preprocessing (a customer with banned rows).

Synthetic logs (``benchmarks/synth.py``), one ban term that hits about 0.1 % of rows. Preprocessing runs
with the misspellings step (``[train] fuzzy = true``, the default) and, as the baseline in the same run,
without it (``fuzzy = false``: only the terms themselves are banned), alternating, best of ``--rounds``.

    .venv/bin/python -m benchmarks.bench_ban_typos [--rows 3000000] [--rounds 3] [--json]
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
from kwrec.core.ingest import Quarantine, load_customer_config, read_customer_logs
from kwrec.core.preprocess import preprocess
from kwrec.settings import TrainParams

BAN = "iphone"


def run(rows: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kwrec-bench-ban-typos-") as tmp:
        folder = Path(tmp) / "c"
        write_synthetic_logs(folder, rows, rows // 10)
        config = load_customer_config(folder)
        with Quarantine(Path(tmp) / "read.jsonl") as q:
            raw = read_customer_logs(folder, config, q)
        config = config.model_copy(update={"ban": [BAN]})
        times: dict[str, list[float]] = {"with misspellings": [], "terms only (baseline)": []}
        banned: dict[str, int] = {}
        for _ in range(rounds):
            for name, fuzzy in (("with misspellings", True), ("terms only (baseline)", False)):
                with Quarantine(Path(tmp) / "q.jsonl") as q:
                    start = time.perf_counter()
                    out = preprocess(raw, TrainParams(fuzzy=fuzzy), config, q)
                    times[name].append(round(time.perf_counter() - start, 2))
                banned[name] = out.stats["banned"]
    return {"rows": rows, "ban": BAN, "seconds": times, "banned_rows": banned}


def render(result: dict[str, Any]) -> str:
    lines = [
        f"Command: `.venv/bin/python -m benchmarks.bench_ban_typos --rows {result['rows']}`, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; ban = [{result['ban']!r}], {result['rows']:,} rows.",
        "",
        "| preprocessing | best (s) | every round (s) | banned rows |",
        "|---|---:|---|---:|",
    ]
    for name, ts in result["seconds"].items():
        lines.append(f"| {name} | {min(ts)} | {', '.join(map(str, ts))} | {result['banned_rows'][name]:,} |")
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
