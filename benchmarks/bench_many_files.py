"""Reading a customer whose logs are many small files (hourly exports, a stream sink's objects).

The same rows are read twice in one run: split into ``--files`` CSV files of one hour each, and as one
file (the baseline: what the rows cost without any per-file work). Best of ``--rounds``, alternating.

    .venv/bin/python -m benchmarks.bench_many_files [--files 5000] [--rows-per-file 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kwrec.core.ingest import Quarantine, load_customer_config, read_customer_logs

WORDS = ("아이폰", "케이스", "갤럭시", "버즈", "노트북", "가방", "마우스", "키보드", "충전기", "이어폰")
HEADER = "timestamp,user_id,query\n"


def _write(root: Path, files: int, per_file: int) -> tuple[Path, Path]:
    rng = random.Random(1)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    many, one = root / "many" / "shop", root / "one" / "shop"
    many.mkdir(parents=True)
    one.mkdir(parents=True)
    everything = []
    for h in range(files):
        hour = start + timedelta(hours=h)
        lines = [
            f"{(hour + timedelta(seconds=i * 3600 // per_file)).isoformat()},u{rng.randrange(300)},"
            f"{rng.choice(WORDS)} {rng.choice(WORDS)}\n"
            for i in range(per_file)
        ]
        (many / f"{hour:%Y%m%d%H}.csv").write_text(HEADER + "".join(lines), encoding="utf-8")
        everything += lines
    (one / "all.csv").write_text(HEADER + "".join(everything), encoding="utf-8")
    return many, one


def _read(folder: Path, quarantine: Path) -> float:
    config = load_customer_config(folder)
    start = time.perf_counter()
    with Quarantine(quarantine) as q:
        events = read_customer_logs(folder, config, q)
    took = time.perf_counter() - start
    assert events.height > 0
    return took


def run(files: int, per_file: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kwrec-bench-many-files-") as tmp:
        many, one = _write(Path(tmp), files, per_file)
        times: dict[str, list[float]] = {"many files": [], "one file": []}
        for _ in range(rounds):
            times["many files"].append(round(_read(many, Path(tmp) / "q1.jsonl"), 3))
            times["one file"].append(round(_read(one, Path(tmp) / "q2.jsonl"), 3))
    return {"files": files, "rows_per_file": per_file, "seconds": times}


def render(result: dict[str, Any]) -> str:
    many, one = min(result["seconds"]["many files"]), min(result["seconds"]["one file"])
    files = result["files"]
    return (
        f"Command: `.venv/bin/python -m benchmarks.bench_many_files --files {files} --rows-per-file "
        f"{result['rows_per_file']}`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, best of "
        f"{len(result['seconds']['one file'])}\n\n"
        "| input | seconds | per file (ms) |\n|---|---:|---:|\n"
        f"| {files:,} files | {many:.2f} | {1000 * many / files:.2f} |\n"
        f"| the same rows in one file | {one:.2f} | - |\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--rows-per-file", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if min(args.files, args.rows_per_file, args.rounds) < 1:
        raise SystemExit("--files, --rows-per-file and --rounds must be at least 1")
    result = run(args.files, args.rows_per_file, args.rounds)
    print(json.dumps(result) if args.json else render(result))


if __name__ == "__main__":
    main()
