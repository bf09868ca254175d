"""Benchmark of the serving API with wrk over 127.0.0.1 (one command; bounded to a few minutes).

    .venv/bin/python -m benchmarks.bench_api            # writes docs/benchmarks_api.md

What it measures, on a release whose customer ``big`` has >= 1M distinct queries:
- throughput and latency of ``/v1/big/autocomplete`` on a realistic mix of prefixes (1-10 characters of
  queries drawn by popularity, Korean and Latin), against a trivial endpoint in the same server that has
  the same path parameter and query validation and returns a constant body of the same size (the
  framework's ceiling); the two are interleaved and the best of several rounds is kept (shared machine);
- p99 at half of the peak autocomplete throughput (wrk's ``delay()`` paces each connection; wrk2 is not
  available, so this is a paced closed loop, not an open-loop arrival process);
- server start to ready (process start until /readyz answers 200), and resident memory per worker
  (RSS, and PSS which divides the shared memory-mapped model pages between the workers).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import orjson
from fastapi import FastAPI, Response

# Module level, not inside the factory: FastAPI resolves the handler's (string) annotations in this
# module's globals.
from kwrec.api.app import CustomerPath, LimitParam, QueryParam, check_query, create_app, resolve_customer
from kwrec.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "bench-api"
CUSTOMER = "big"
TIMESTAMP = "2612010000"
FACTORY = "benchmarks.bench_api:bench_app_from_env"
CONSTANT_BYTES_ENV = "KWREC_BENCH_CONSTANT_BYTES"

LUA = r"""
-- One request path per line in the file named by KWREC_BENCH_PATHS, picked at random per request.
-- KWREC_BENCH_DELAY_MS > 0 paces every connection (wrk's delay() hook) to hold a target rate.
local paths = {}
for line in io.lines(os.getenv("KWREC_BENCH_PATHS")) do paths[#paths + 1] = line end
local pause = tonumber(os.getenv("KWREC_BENCH_DELAY_MS") or "0")
local counter = 0
function setup(thread) counter = counter + 1; thread:set("seed", counter) end
function init(args) math.randomseed(os.time() * 1000 + (seed or 0)) end
function request() return wrk.format("GET", paths[math.random(#paths)]) end
if pause > 0 then function delay() return pause end end
"""


# --- the benchmark app: the real app plus the trivial endpoint -------------------------------------------


def bench_app_from_env() -> FastAPI:
    """The production app with one more route: same parameters and validation, constant answer."""
    app = create_app(load_settings())
    state = app.state.kwrec
    size = int(os.environ.get(CONSTANT_BYTES_ENV, "600"))
    head = {"customer": CUSTOMER, "model_version": "gs_0000000000", "query": "x", "suggestions": []}
    pad = max(0, size - len(orjson.dumps(head)) - 40)
    constant = orjson.dumps({**head, "suggestions": [{"keyword": "가" * (pad // 3), "score": 1.0}]})

    @app.get("/bench/{customer}/constant", include_in_schema=False)
    async def constant_answer(
        customer: CustomerPath, q: QueryParam, limit: LimitParam = 10
    ) -> Response:  # pragma: no cover - benchmark only
        model = resolve_customer(state, customer)
        if isinstance(model, Response):
            return model
        bad = check_query(q)
        if bad is not None:
            return bad
        return Response(constant, media_type="application/json")

    return app


# --- data and release ------------------------------------------------------------------------------------


def prepare_release(rows: int, distinct: int) -> Path:
    """Train (once; cached in var/bench-api) a release whose customer ``big`` has >= 1M distinct queries."""
    from kwrec import ARTIFACT_FORMAT
    from kwrec.adapters.stores import open_store
    from kwrec.pipeline.train import train_release
    from kwrec.settings import load_settings

    tag = f"r{rows}-d{distinct}-f{ARTIFACT_FORMAT}"  # a new artifact format trains a new release
    store = WORK / tag / "store"
    marker = WORK / tag / "trained"
    if marker.exists():
        return store
    data = WORK / tag / "data"
    if data.exists():
        shutil.rmtree(data)
    started = time.monotonic()
    try:
        from benchmarks.synth import write_synthetic_logs
    except ImportError:  # the shared generator is missing: fail loudly rather than benchmark other data
        raise SystemExit("benchmarks/synth.py (write_synthetic_logs) is required") from None
    write_synthetic_logs(data / CUSTOMER, rows=rows, distinct=distinct, seed=0)
    print(f"wrote {rows:,} synthetic rows in {time.monotonic() - started:.0f}s", flush=True)
    settings = load_settings(store=str(store), cache_dir=WORK / tag / "cache")
    outcome = train_release(
        settings, open_store(settings.store), timestamp=TIMESTAMP, data_dir=data, evaluate=False, report=print
    )
    if outcome.failed:
        raise SystemExit(f"training failed: {outcome.failed}")
    keywords = outcome.manifest.customers[CUSTOMER].stats["keywords"]
    print(f"trained {keywords:,} keywords in {time.monotonic() - started:.0f}s", flush=True)
    marker.write_text(str(keywords))
    return store


def sample_prefixes(store: Path, n: int, seed: int) -> list[str]:
    """Prefixes (1-10 characters) of queries drawn by popularity, as users type them."""
    import polars as pl

    data = store.parent / "data" / CUSTOMER / "events.csv"
    queries = (
        pl.read_csv(data, columns=["query"])["query"].sample(n, seed=seed, with_replacement=True).to_list()
    )
    rng = random.Random(seed)
    return [q[: rng.randint(1, min(10, len(q)))] for q in queries]


def keyword_count(store: Path) -> int:
    return int((store.parent / "trained").read_text())


# --- server ---------------------------------------------------------------------------------------------


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    url: str
    start_to_ready: float


def start_server(store: Path, port: int, workers: int, constant_bytes: int, log: Path) -> Running:
    env = {
        **os.environ,
        "KWREC_STORE": str(store),
        "KWREC_CACHE_DIR": str(store.parent / "cache"),
        "KWREC_SERVE__HOST": "127.0.0.1",
        "KWREC_SERVE__PORT": str(port),
        "KWREC_SERVE__WORKERS": str(workers),
        CONSTANT_BYTES_ENV: str(constant_bytes),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    cmd = [sys.executable, "-m", "benchmarks.bench_api", "--serve"]
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    ready_at = None
    streak = 0
    deadline = started + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            # a new connection each time, so every worker gets asked; all must be ready in a row
            ok = httpx.get(url + "/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            ok = False
        if ok and ready_at is None:
            ready_at = time.monotonic()
        streak = streak + 1 if ok else 0
        if streak >= 4 * workers:
            return Running(proc, url, (ready_at or time.monotonic()) - started)
        time.sleep(0.02)
    stop_server(proc)
    raise SystemExit(f"server did not become ready: {log.read_text(errors='replace')[-2000:]}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def worker_memory(proc: subprocess.Popen[bytes]) -> list[dict[str, float]]:
    import psutil  # type: ignore[import-untyped]

    parent = psutil.Process(proc.pid)
    # uvicorn's workers are multiprocessing "spawn" children; with one worker it serves in the parent itself
    workers = [c for c in parent.children(recursive=True) if "spawn_main" in " ".join(c.cmdline())]
    out = []
    for p in workers or [parent]:
        try:
            info = p.memory_full_info()
        except psutil.Error:
            continue
        out.append(
            {
                "pid": p.pid,
                "rss_mib": info.rss / 2**20,
                "pss_mib": info.pss / 2**20,
                "uss_mib": info.uss / 2**20,
            }
        )
    return out


# --- wrk ------------------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not m:
        raise ValueError(f"cannot parse wrk latency {text!r}")
    return float(m.group(1)) * _UNIT[m.group(2)]


def run_wrk(
    url: str, paths: Path, lua: Path, seconds: int, connections: int, delay_ms: float = 0.0
) -> WrkResult:
    env = {**os.environ, "KWREC_BENCH_PATHS": str(paths), "KWREC_BENCH_DELAY_MS": f"{delay_ms:.3f}"}
    cmd = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(lua),
        url,
    ]
    out = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=seconds + 30, check=True
    ).stdout
    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return WrkResult(
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(pct["50"]),
        p90_ms=_ms(pct["90"]),
        p99_ms=_ms(pct["99"]),
        errors=errors + (int(non2xx.group(1)) if non2xx else 0),
    )


# --- the run --------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--prepare-only", action="store_true", help="only generate and train the release")
    ap.add_argument("--rows", type=int, default=2_600_000)
    ap.add_argument("--distinct", type=int, default=1_050_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--seconds", type=int, default=8, help="per wrk run")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best is kept")
    ap.add_argument("--prefixes", type=int, default=100_000)
    ap.add_argument("--port", type=int, default=18631)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks_api.md")
    args = ap.parse_args()
    if args.serve:
        from kwrec.api.server import serve
        from kwrec.settings import load_settings

        settings = load_settings()
        settings.log.level = "warning"
        serve(settings, factory=FACTORY)
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    store = prepare_release(args.rows, args.distinct)
    if args.prepare_only:
        return
    keywords = keyword_count(store)
    tmp = Path(tempfile.mkdtemp(prefix="kwrec-bench-"))
    try:
        report = bench(args, store, keywords, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)


def bench(args: Annotated[Any, "argparse namespace"], store: Path, keywords: int, tmp: Path) -> str:
    prefixes = sample_prefixes(store, args.prefixes, seed=1)
    auto_paths, const_paths = tmp / "auto.txt", tmp / "const.txt"
    auto_paths.write_text("".join(f"/v1/{CUSTOMER}/autocomplete?q={quote(p)}&limit=10\n" for p in prefixes))
    const_paths.write_text("".join(f"/bench/{CUSTOMER}/constant?q={quote(p)}&limit=10\n" for p in prefixes))
    lua = tmp / "paths.lua"
    lua.write_text(LUA)
    korean = sum(1 for p in prefixes if re.search(r"[\uac00-\ud7a3\u3131-\u318e]", p)) / len(prefixes)

    # start-to-ready of a single worker, best of three (what a container restart costs)
    single = []
    for i in range(3):
        srv = start_server(store, args.port + 1 + i, 1, 600, tmp / f"ready{i}.log")
        single.append(srv.start_to_ready)
        stop_server(srv.process)

    # the size of a typical answer, so the constant body matches it
    probe = start_server(store, args.port, 1, 600, tmp / "probe.log")
    with httpx.Client(base_url=probe.url, timeout=10) as client:
        sizes = [len(client.get(line.strip()).content) for line in auto_paths.read_text().splitlines()[:300]]
        suggestions = [
            len(client.get(line.strip()).json()["suggestions"])
            for line in auto_paths.read_text().splitlines()[:300]
        ]
    stop_server(probe.process)
    body_bytes = int(statistics.mean(sizes))

    srv = start_server(store, args.port, args.workers, body_bytes, tmp / "server.log")
    try:
        with httpx.Client(base_url=srv.url, timeout=10) as client:
            const_size = len(client.get(const_paths.read_text().splitlines()[0]).content)
        run_wrk(srv.url, auto_paths, lua, 2, args.connections)  # warm-up (page cache, first allocations)
        run_wrk(srv.url, const_paths, lua, 2, args.connections)
        auto_runs, const_runs = [], []
        for _ in range(args.rounds):
            auto_runs.append(run_wrk(srv.url, auto_paths, lua, args.seconds, args.connections))
            const_runs.append(run_wrk(srv.url, const_paths, lua, args.seconds, args.connections))
            print(
                f"autocomplete {auto_runs[-1].rps:,.0f} req/s, trivial {const_runs[-1].rps:,.0f} req/s",
                flush=True,
            )
        best_auto = max(auto_runs, key=lambda r: r.rps)
        best_const = max(const_runs, key=lambda r: r.rps)
        # half of peak: every connection paced so that all together send about peak/2 requests a second
        target = best_auto.rps / 2
        paced_conns = 16
        delay_ms = paced_conns * 1000.0 / target
        paced = [run_wrk(srv.url, auto_paths, lua, args.seconds, paced_conns, delay_ms) for _ in range(2)]
        best_paced = min(paced, key=lambda r: r.p99_ms)
        memory = worker_memory(srv.process)
        scrape = httpx.get(srv.url + "/metrics", timeout=10).text
        cache: dict[str, float] = {}
        pattern = r'kwrec_answer_cache_total\{customer="[^"]*",result="(\w+)"\} ([\d.e+]+)'
        for k, v in re.findall(pattern, scrape):
            cache[k] = cache.get(k, 0.0) + float(v)
        hit_ratio = cache.get("hit", 0.0) / max(1.0, cache.get("hit", 0.0) + cache.get("miss", 0.0))
    finally:
        stop_server(srv.process)
    return render(
        args, keywords, korean, body_bytes, const_size, statistics.mean(suggestions), single,
        srv.start_to_ready, auto_runs, const_runs, best_auto, best_const, target, best_paced, memory,
        hit_ratio,
    )  # fmt: skip


def _lat(r: WrkResult) -> str:
    return f"p50 {r.p50_ms:.2f} ms, p90 {r.p90_ms:.2f} ms, p99 {r.p99_ms:.2f} ms"


def render(
    args: Any,
    keywords: int,
    korean: float,
    body_bytes: int,
    const_size: int,
    mean_suggestions: float,
    single: list[float],
    multi_ready: float,
    auto_runs: list[WrkResult],
    const_runs: list[WrkResult],
    best_auto: WrkResult,
    best_const: WrkResult,
    target: float,
    paced: WrkResult,
    memory: list[dict[str, float]],
    hit_ratio: float,
) -> str:
    ratio = best_auto.rps / best_const.rps
    cmd = "PYTHONPATH=. .venv/bin/python -m benchmarks.bench_api"
    mem_rows = "\n".join(
        f"| {m['pid']} | {m['rss_mib']:.0f} | {m['pss_mib']:.0f} | {m['uss_mib']:.0f} |" for m in memory
    )
    errors = sum(r.errors for r in auto_runs + const_runs) + paced.errors
    ready_runs = ", ".join(f"{s:.2f}" for s in single)
    rows = [
        ("autocomplete throughput", f"{best_auto.rps:,.0f} req/s ({_lat(best_auto)})", ""),
        ("trivial endpoint throughput", f"{best_const.rps:,.0f} req/s ({_lat(best_const)})", ""),
        ("autocomplete / trivial", f"**{ratio:.0%}**", ">= 80%"),
        (
            f"p99 at half of peak ({paced.rps:,.0f} req/s achieved, target {target:,.0f})",
            f"**{paced.p99_ms:.2f} ms** ({_lat(paced)})",
            "<= 10 ms",
        ),
        (f"start to ready, 1 worker (best of 3: {ready_runs} s)", f"**{min(single):.2f} s**", "< 5 s"),
        (f"start to ready, {args.workers} workers (first worker ready)", f"{multi_ready:.2f} s", ""),
        ("socket errors + non-2xx during the runs", str(errors), "0"),
        ("answer-cache hit ratio over all autocomplete runs", f"{hit_ratio:.0%}", ""),
    ]
    table = "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
    rounds = ", ".join(f"{a.rps:,.0f}/{c.rps:,.0f}" for a, c in zip(auto_runs, const_runs, strict=True))
    return f"""## Serving API (wrk over 127.0.0.1)

Measured {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")} with `{cmd}`
on this 2-core machine (shared, noisy; wrk runs on the same cores as the server).

Setup: release with one customer of **{keywords:,} keywords** (synthetic, {args.rows:,} rows,
`benchmarks/synth.py`); `kwrec serve`-equivalent uvicorn server with {args.workers} workers, no access log;
wrk `-t2 -c{args.connections} -d{args.seconds}s` on {args.prefixes:,} prefixes of 1-10 characters cut from
queries drawn by popularity ({korean:.0%} contain Hangul, the rest Latin/digits), `limit=10`
(on average {mean_suggestions:.1f} suggestions, {body_bytes} bytes per answer). The trivial endpoint has the
same path parameter and the same `q`/`limit` validation (customer look-up and normalised-length check) and
answers a constant body of {const_size} bytes. Runs interleaved, {args.rounds} rounds, best kept.

| measure | result | target |
| --- | --- | --- |
{table}

Rounds (autocomplete/trivial req/s): {rounds}.

The API caches up to 32,768 serialised answers per worker (`ANSWER_CACHE_SIZE` in `kwrec/api/app.py`):
the prefix mix has a long tail of distinct prefixes, so part of the requests still run the model;
the hit ratio above is read from the server's own `kwrec_answer_cache_total` metric.

Memory per worker after the runs (MiB; PSS splits shared pages, e.g. the memory-mapped model, between
the processes that map them; USS is what the worker alone holds):

| worker pid | RSS | PSS | USS |
| --- | --- | --- | --- |
{mem_rows}

Notes: p99 at half of peak uses wrk's `delay()` to pace 16 connections (a closed loop; wrk2's open-loop
arrival and coordinated-omission correction are not available). Start-to-ready is from process start
(Python imports included) until `/readyz` answers 200, i.e. every customer's model verified against the
manifest checksums and its golden queries.
"""


if __name__ == "__main__":
    main()
