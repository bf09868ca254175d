"""Training throughput: ``kwrec train`` on synthetic logs of N rows, next to a plain pandas version.

    .venv/bin/python -m benchmarks.bench_train --rows 1000000 10000000

Data (``distinct = rows / 10``) is generated once into ``var/bench/train-<rows>/`` and reused. Each
measured run is a child process: wall time around it, and its own peak RSS from ``os.wait4`` (the
``RUSAGE_CHILDREN`` total would be the largest of every child so far, not this one's). The machine
is shared, so the 1-minute load average is recorded before every run and the best of ``--repeat``
runs is reported. Results go to a table on stdout and to ``docs/benchmarks_train.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.synth import write_synthetic_logs

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "var" / "bench"
CUSTOMER = "bench"
TIMESTAMP = "2611150000"
DOC = ROOT / "docs" / "benchmarks_train.md"
TARGET_SECONDS = 60.0
TARGET_GB = 4.0


@dataclass
class Run:
    seconds: float
    peak_gb: float
    load: float
    output: str


@dataclass
class Result:
    impl: str
    rows: int
    runs: list[Run] = field(default_factory=list)

    @property
    def best(self) -> Run:
        return min(self.runs, key=lambda r: r.seconds)

    @property
    def peak_gb(self) -> float:
        # Memory is reported as the worst run: unlike time, load cannot make it look better.
        return max(r.peak_gb for r in self.runs)


def dataset(rows: int) -> Path:
    """The data directory (one customer) for ``rows`` rows, generated on first use."""
    data = BENCH_DIR / f"train-{rows}"
    done = data / ".complete"
    if not done.exists():
        shutil.rmtree(data, ignore_errors=True)
        print(f"generating {rows:,} rows ({rows // 10:,} distinct) into {data} ...", flush=True)
        write_synthetic_logs(data / CUSTOMER, rows, rows // 10, seed=0)
        # A dot file: kwrec skips it when listing customers, and its presence marks a finished write.
        done.write_text("ok\n")
    return data


def measure(argv: list[str]) -> Run:
    """Run ``argv`` as a child; its wall time, its own peak RSS (ru_maxrss, KiB on Linux) and output."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped: keep Popen from waiting
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(argv)} failed ({proc.returncode}):\n{text[-3000:]}")
    return Run(seconds, usage.ru_maxrss / 1024**2, load, text)


def kwrec_argv(data: Path, store: Path) -> list[str]:
    kwrec = Path(sys.executable).parent / "kwrec"
    return [
        str(kwrec), "train", "--no-evaluate", "--data", str(data), "--store", str(store),
        "--timestamp", TIMESTAMP,
    ]  # fmt: skip


def bench(rows: int, repeat: int, pandas: bool) -> list[Result]:
    data = dataset(rows)
    ours = Result("kwrec train", rows)
    base = Result("pandas baseline", rows)
    for i in range(repeat):
        # A fresh store each time: an existing one would let kwrec reuse the artifact and skip training.
        with tempfile.TemporaryDirectory(prefix="kwrec-bench-store-", dir=BENCH_DIR) as store:
            ours.runs.append(measure(kwrec_argv(data, Path(store))))
        print(f"  {rows:>11,} rows  kwrec  run {i + 1}: {_fmt(ours.runs[-1])}", flush=True)
        if pandas:
            csv = data / CUSTOMER / "events.csv"
            base.runs.append(measure([sys.executable, "-m", "benchmarks.pandas_baseline", str(csv)]))
            print(f"  {rows:>11,} rows  pandas run {i + 1}: {_fmt(base.runs[-1])}", flush=True)
    return [ours, base] if pandas else [ours]


def _fmt(run: Run) -> str:
    return f"{run.seconds:7.1f} s  {run.peak_gb:5.2f} GB  (load {run.load:.1f})"


def _steps(output: str) -> list[str]:
    """Progress lines ``kwrec train`` printed for the customer (``12:00:01 bench: keywords 1.2s, ...``)."""
    pattern = re.compile(rf"^(\d\d:\d\d:\d\d) ({CUSTOMER}: .*)$")
    return [f"{m[1]} {m[2]}" for line in output.splitlines() if (m := pattern.match(line.strip()))]


def table(results: list[Result]) -> str:
    lines = [
        "| implementation | rows | distinct | best wall (s) | rows/s | peak RSS (GB) | load avg per run |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        best = r.best
        loads = ", ".join(f"{run.load:.1f}" for run in r.runs)
        lines.append(
            f"| {r.impl} | {r.rows:,} | {r.rows // 10:,} | {best.seconds:.1f} | {r.rows / best.seconds:,.0f} "
            f"| {r.peak_gb:.2f} | {loads} |"
        )
    return "\n".join(lines)


def write_doc(results: list[Result], command: str) -> None:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), platform.processor()
    )
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    verdict = []
    for r in results:
        if r.impl == "kwrec train" and r.rows == 10_000_000:
            ok = r.best.seconds <= TARGET_SECONDS and r.peak_gb <= TARGET_GB
            verdict.append(
                f"Target (10M rows in <= {TARGET_SECONDS:.0f} s and <= {TARGET_GB:.0f} GB peak RSS): "
                f"**{'met' if ok else 'NOT met'}** ({r.best.seconds:.1f} s, {r.peak_gb:.2f} GB)."
            )
    steps = [
        f"- {r.rows:,} rows:\n" + "".join(f"  - `{line}`\n" for line in _steps(r.best.output))
        for r in results
        if r.impl == "kwrec train"
    ]
    text = f"""# Training throughput

- Command: `{command}`
- Date: {now}
- Machine: {os.cpu_count()} CPUs ({cpu}), {mem_gb:.0f} GB RAM, Python {platform.python_version()}; the machine
is shared with other test runs, so the 1-minute load average before each run is listed.

Synthetic logs from `benchmarks/synth.py` (`distinct = rows / 10`, seed 0, 14 days, Zipf-like popularity,
every query typed by at least two users), one customer. Each number is a child process measured on its own:
wall time, and peak RSS from `os.wait4` of that child. Wall time is the best of the runs, peak RSS the
largest of them.

- **kwrec train**: `kwrec train --no-evaluate` end to end: read and validate the CSV, preprocess (NFKC and the
  rest of step 2, PII, repeats, bots, sessions, quarantine), train every model (keyword table, layout and typo
  merges, autocomplete index, related pairs, popular, trending) and write the content-addressed artifact.
- **pandas baseline** (`benchmarks/pandas_baseline.py`): the same preprocessing and keyword scoring
  written the plain pandas way (row-wise NFKC via `.map`, PII regex, repeat collapsing, bot filtering and
  per-keyword decayed score / distinct users via `groupby`). It builds no index and no related/trending
  lists, so it does less work than kwrec.

{table(results)}

{chr(10).join(verdict)}

Per-step times of the best kwrec run (printed by `kwrec train`):

{"".join(steps)}"""
    DOC.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--repeat", type=int, default=2, help="runs per implementation and size (best reported)")
    ap.add_argument("--no-pandas", action="store_true", help="skip the pandas baseline")
    ap.add_argument("--no-doc", action="store_true", help=f"do not write {DOC.relative_to(ROOT)}")
    args = ap.parse_args()
    results: list[Result] = []
    for rows in args.rows:
        results += bench(rows, args.repeat, not args.no_pandas)
    print()
    print(table(results))
    for r in results:
        if r.impl == "kwrec train":
            print(f"\n{r.rows:,} rows, best kwrec run:\n  " + "\n  ".join(_steps(r.best.output)))
    if not args.no_doc:
        command = ".venv/bin/python -m benchmarks.bench_train " + shlex.join(sys.argv[1:])
        write_doc(results, command)
        print(f"\nwrote {DOC.relative_to(ROOT)}")
    print(json.dumps({f"{r.impl} {r.rows}": [r.best.seconds, r.peak_gb] for r in results}))


if __name__ == "__main__":
    main()
