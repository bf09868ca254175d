"""Fleet benchmark: 1,000 customers with Zipf-distributed logs through `kwrec run` on the docker target.

Day 1 releases every customer: time per step, each shard image's size (uncompressed, and compressed as
the registry stores it) and layer count, memory of each shard's serving process, and start-to-ready of
each shard (its container restarted, timed until its own ``/readyz`` answers 200). Day 2 changes 1% of
the customers: what was trained, rebuilt, pushed (bytes the registry stored: growth of its blob storage)
and redeployed.

The baseline, in the same run: today's one-image layout (every customer in one image, one layer each)
at the largest fleet it survives. overlay2 refuses an image deeper than ~125 layers, so that layout
stops near 120 customers (``max depth exceeded``, measured 2026-12-01); it is measured here at 100
customers, one shard, day 2 with 1% changed.

    .venv/bin/python -m benchmarks.bench_fleet [--customers 1000] [--largest 100000] [--out FILE.md]

Distributed mode (issue 13): day 1 of the same fleet through the DAG on a real CeleryExecutor cluster
(scripts/airflow-celery.sh), once per number of training workers; wall time of each step from the
task instances in Airflow's database, and the speed-up over one training worker. Runs in .venv-airflow,
as root (the cluster script runs PostgreSQL):

    .venv-airflow/bin/python -m benchmarks.bench_fleet --distributed --train-workers 1 2 [--customers 1000]

Needs the test environment (scripts/setup-test-env.sh: engine, open registry on 127.0.0.1:5000, nginx).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks.bench_image import blob_sizes, grown
from benchmarks.fleet_data import change, customer_name, write_fleet
from kwrec.adapters import engine
from kwrec.adapters.stores import open_store
from kwrec.adapters.targets.nginx import NginxProxy
from kwrec.core.manifest import read_manifest, release_shards
from kwrec.pipeline import records

ROOT = Path(__file__).resolve().parents[1]
DAY1, DAY2 = "2612010900", "2612020900"
REGISTRY = "127.0.0.1:5000"
_V2 = "application/vnd.docker.distribution.manifest.v2+json"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Fleet:
    """One fleet's world: its data, store, image repository, proxy and containers (removed at the end)."""

    def __init__(self, tmp: Path, name: str, customers: int, per_shard: int, largest: int) -> None:
        self.tmp = tmp / name
        self.name = f"{name}{uuid.uuid4().hex[:6]}"
        self.customers = customers
        self.data = self.tmp / "data"
        t0 = time.monotonic()
        self.events = write_fleet(self.data, customers, largest=largest, smallest=50)
        self.generate_seconds = time.monotonic() - t0
        self.repo = f"kwrec-bench/{self.name}"
        self.port = _free_port()
        self.env = {
            **os.environ,
            "KWREC_STORE": str(self.tmp / "store"),
            "KWREC_DATA_DIR": str(self.data),
            "KWREC_CACHE_DIR": str(self.tmp / "cache"),
            "KWREC_RELEASE__MAX_CUSTOMERS_PER_SHARD": str(per_shard),
            "KWREC_IMAGE__REPOSITORY": self.repo,
            "KWREC_IMAGE__REGISTRY__URL": REGISTRY,
            "KWREC_IMAGE__WHEEL_CACHE": str(ROOT / "var" / "wheels"),
            "KWREC_DEPLOY__NAME": self.name,
            "KWREC_DEPLOY__DOCKER__PROXY_PORT": str(self.port),
            "KWREC_DEPLOY__DOCKER__STATE_DIR": str(self.tmp / "deploy-state"),
            "KWREC_DEPLOY__DOCKER__CONTAINER_PREFIX": "kwrec-bench",
            "KWREC_DEPLOY__DOCKER__READINESS_TIMEOUT_SECONDS": "300",
            "KWREC_DEPLOY__DOCKER__DRAIN_SECONDS": "0",
        }
        self.store = open_store(self.env["KWREC_STORE"])

    def run(self, timestamp: str) -> dict[str, Any]:
        kwrec = str(Path(sys.executable).with_name("kwrec"))
        t0 = time.monotonic()
        proc = subprocess.run(
            [kwrec, "run", "--timestamp", timestamp, "--json"],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=6 * 3600,
        )
        if proc.returncode != 0:
            raise SystemExit(f"kwrec run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        out = dict(json.loads(proc.stdout.strip().splitlines()[-1]))
        out["wall_seconds"] = round(time.monotonic() - t0, 1)
        return out

    def shards(self, version: str) -> dict[str, Any]:
        """Per shard of ``version``: customers, image size, compressed size, layers, whose build."""
        client = engine.connect()
        out = {}
        for shard, rec in release_shards(read_manifest(self.store, version)).items():
            assert rec.image is not None and rec.image.id and rec.image.tag
            attrs = client.api.inspect_image(rec.image.id)
            manifest = httpx.get(
                f"http://{REGISTRY}/v2/{self.repo}/manifests/{rec.image.tag}",
                headers={"Accept": _V2},
                timeout=30,
            ).json()
            out[shard] = {
                "customers": len(rec.customers),
                "built_in": rec.built_in,
                "model_bytes": rec.image.model_bytes,
                "model_layers": rec.image.model_layers,
                "layers": len(attrs["RootFS"]["Layers"]),
                "size_mb": round(attrs["Size"] / 1e6, 1),
                "compressed_mb": round(sum(layer["size"] for layer in manifest["layers"]) / 1e6, 1),
            }
        return out

    def serving(self) -> dict[str, Any]:
        """Per live shard: memory of its container, and start-to-ready after a restart."""
        client = engine.connect()
        alias, _ = records.read_alias(self.store, self.name)
        assert alias is not None
        out = {}
        for shard, d in alias.details["shards"].items():
            container = client.containers.get(d["container"])
            mem = container.stats(stream=False)["memory_stats"]
            usage = mem.get("usage", 0) - (mem.get("stats") or {}).get("inactive_file", 0)
            container.restart(timeout=10)
            t0 = time.monotonic()
            while time.monotonic() - t0 < 300:
                try:
                    if httpx.get(f"http://127.0.0.1:{d['port']}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            out[shard] = {
                "memory_mb": round(usage / 1e6, 1),
                "start_to_ready_s": round(time.monotonic() - t0, 2),
            }
        return out

    def teardown(self) -> None:
        client = engine.connect()
        for c in client.containers.list(all=True, filters={"label": f"kwrec.deploy.target={self.name}"}):
            c.remove(force=True)
        NginxProxy(Path("/usr/sbin/nginx"), self.tmp / "deploy-state" / self.name, "127.0.0.1", 0).stop()


def layout_limit(fleet: Fleet, sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """Today's one-image layout (one model layer per customer) built at growing sizes until it fails."""
    from kwrec.core.manifest import ShardRecord, write_manifest
    from kwrec.errors import KwrecError
    from kwrec.pipeline.image import build_release_image
    from kwrec.settings import Settings

    os.environ.update(fleet.env)
    settings = Settings()
    base = read_manifest(fleet.store, f"gs_{DAY2}")
    out: list[dict[str, Any]] = []
    for n in sizes:
        version = f"gs_26120310{len(out):02d}"
        customers = sorted(base.customers)[:n]
        one = base.model_copy(
            update={
                "version": version,
                "timestamp": version[3:],
                "customers": {c: base.customers[c] for c in customers},
                "shards": {"s000": ShardRecord(customers=customers, fingerprint="", built_in=version)},
                "deployments": [],
            }
        )
        write_manifest(fleet.store, one)
        settings.release.model_layers = n  # past the validated budget on purpose: the old layout
        t0 = time.monotonic()
        try:
            built = build_release_image(settings, fleet.store, version, lambda _: None)
            out.append(
                {
                    "customers": n,
                    "ok": True,
                    "seconds": round(time.monotonic() - t0, 1),
                    "layers": built.record.model_layers,
                }
            )
        except KwrecError as exc:
            out.append({"customers": n, "ok": False, "error": exc.message[-160:]})
            break
    return out


def measure(fleet: Fleet, changed: int, storage: Path) -> dict[str, Any]:
    print(
        f"[{fleet.name}] day 1: {fleet.customers} customers, {sum(fleet.events.values()):,} events",
        flush=True,
    )
    before = blob_sizes(storage)
    day1 = fleet.run(DAY1)
    day1["registry_bytes"] = grown(before, blob_sizes(storage))
    shards1 = fleet.shards(f"gs_{DAY1}")
    serving = fleet.serving()
    which = sorted(random.Random(12).sample(range(fleet.customers), changed))
    change(fleet.data, which, day=2)
    print(f"[{fleet.name}] day 2: {changed} customers changed", flush=True)
    before = blob_sizes(storage)
    day2 = fleet.run(DAY2)
    pushed = grown(before, blob_sizes(storage))
    m2 = read_manifest(fleet.store, f"gs_{DAY2}")
    changed_bytes = sum(int(m2.customers[customer_name(i)].stats.get("model_bytes", 0)) for i in which)
    return {
        "limit": layout_limit(fleet, (110, 115, 120, 125, 130)) if fleet.customers >= 130 else [],
        "customers": fleet.customers,
        "events": sum(fleet.events.values()),
        "largest_customer_events": max(fleet.events.values()),
        "day1": {k: day1[k] for k in ("wall_seconds", "steps", "shards_built", "registry_bytes")},
        "shards": shards1,
        "serving": serving,
        "day2": {
            "changed": [customer_name(i) for i in which],
            "changed_model_bytes": changed_bytes,
            "wall_seconds": day2["wall_seconds"],
            "steps": day2["steps"],
            "trained": day2["trained"],
            "rebuilt": day2["shards_built"],
            "pushed_shards": day2["shards_pushed"],
            "redeployed": day2["shards_redeployed"],
            "bytes_pushed": pushed,
            "bound": 3 * changed_bytes + 5_000_000,
        },
    }


def _steps(run: dict[str, Any]) -> str:
    return ", ".join(f"{s['name']} {s['seconds']:.0f}s" for s in run["steps"] if s["status"] == "ran")


def render(results: dict[str, Any], command: str) -> str:
    lines = [
        "# Fleet benchmark (issue 12)",
        "",
        f"Command: `{command}`, {results['date']}; machine: 2 cores, Docker Engine "
        f"{results['engine']}, local registry (filesystem), nginx. Bytes pushed = growth of the registry's "
        "blob storage during day 2.",
        "",
        "| | fleet (sharded) | baseline: one image, one layer per customer |",
        "|---|---|---|",
    ]
    f, b = results["fleet"], results["baseline"]
    rows = [
        ("customers / events", lambda r: f"{r['customers']:,} / {r['events']:,}"),
        ("day 1 `kwrec run` wall time", lambda r: f"{r['day1']['wall_seconds']:.0f} s"),
        ("day 1 steps", lambda r: _steps(r["day1"])),
        ("shards (images)", lambda r: str(len(r["shards"]))),
        (
            "day 1 bytes the registry stored (all shards; base layers are shared)",
            lambda r: f"{r['day1']['registry_bytes'] / 1e6:.1f} MB",
        ),
        ("layers per image (max)", lambda r: str(max(s["layers"] for s in r["shards"].values()))),
        (
            "image size per shard, max (compressed)",
            lambda r: "{:.1f} MB ({:.1f} MB)".format(
                max(s["size_mb"] for s in r["shards"].values()),
                max(s["compressed_mb"] for s in r["shards"].values()),
            ),
        ),
        ("memory per shard, max", lambda r: f"{max(s['memory_mb'] for s in r['serving'].values()):.0f} MB"),
        (
            "start to ready per shard, max",
            lambda r: f"{max(s['start_to_ready_s'] for s in r['serving'].values()):.1f} s",
        ),
        ("day 2: customers changed", lambda r: str(len(r["day2"]["changed"]))),
        ("day 2 `kwrec run` wall time", lambda r: f"{r['day2']['wall_seconds']:.0f} s"),
        ("day 2 steps", lambda r: _steps(r["day2"])),
        ("day 2 trained", lambda r: str(len(r["day2"]["trained"]))),
        (
            "day 2 shards rebuilt / redeployed",
            lambda r: f"{len(r['day2']['rebuilt'])} / {len(r['day2']['redeployed'])}",
        ),
        (
            "day 2 bytes pushed (bound 3 x changed + 5 MB)",
            lambda r: "{:.2f} MB ({:.2f} MB)".format(
                r["day2"]["bytes_pushed"] / 1e6, r["day2"]["bound"] / 1e6
            ),
        ),
    ]
    for label, cell in rows:
        lines.append(f"| {label} | {cell(f)} | {cell(b)} |")  # type: ignore[no-untyped-call]
    lines += ["", "Today's one-image layout (one model layer per customer), built at growing sizes:", ""]
    for probe in f["limit"]:
        lines.append(
            f"- {probe['customers']} customers: "
            + (f"built in {probe['seconds']} s" if probe["ok"] else f"FAILED: `{probe['error']}`")
        )
    lines += [
        "",
        "Per shard of the fleet (day 1):",
        "",
        "| shard | customers | model MB | layers | size MB | compressed MB | memory MB | start to ready s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s, d in f["shards"].items():
        sv = f["serving"][s]
        lines.append(
            f"| {s} | {d['customers']} | {(d['model_bytes'] or 0) / 1e6:.1f} | {d['layers']} | "
            f"{d['size_mb']} | {d['compressed_mb']} | {sv['memory_mb']} | {sv['start_to_ready_s']} |"
        )
    return "\n".join(lines) + "\n"


# The DAG's bookkeeping tasks, left out of the step table.
BOOKKEEPING = ("get_current_dag_run_time", "release_release_lock")


def _seconds(a: Any, b: Any) -> float:
    return float((b - a).total_seconds())


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def distributed_run(fleet: Fleet, workers: int, batch_customers: int) -> dict[str, Any]:
    """Day 1 of ``fleet`` through the Celery-run DAG with ``workers`` training workers."""
    from benchmarks.celery_cluster import Cluster

    kwrec_env = {k: v for k, v in fleet.env.items() if k.startswith("KWREC_")}
    kwrec_env["KWREC_RUN__AIRFLOW__MAX_ACTIVE_TASKS"] = str(max(8, 4 * workers))
    kwrec_env["KWREC_RUN__AIRFLOW__TRAIN_BATCH_CUSTOMERS"] = str(batch_customers)
    db = f"kwrec_bench_{fleet.name}"
    cluster = Cluster.create(fleet.tmp / "airflow", kwrec_env, db=db, train_workers=workers)
    run_id = f"bench-{fleet.name}"
    label = f"{workers} worker(s), batches of {batch_customers}"
    try:
        cluster.start()
        print(f"[{fleet.name}] {label}: day 1, {fleet.customers} customers", flush=True)
        busy0, total0 = _cpu_ticks()
        cluster.trigger(run_id, f"20{DAY1[:2]}-{DAY1[2:4]}-{DAY1[4:6]}T{DAY1[6:8]}:{DAY1[8:]}:00+00:00")
        state = cluster.wait_for_run(
            run_id, 6 * 3600, report=lambda line: print(f"[{fleet.name}] {line}", flush=True)
        )
        busy1, total1 = _cpu_ticks()
        if state != "success":
            raise SystemExit(f"the DAG run failed:\n{cluster.diagnosis(run_id)}")
        tasks = cluster.tasks(run_id)
        run_start, run_end = cluster.run_times(run_id)
        on_workers = {
            log.stem: len(cluster.worker_tasks(log.stem, run_id) & {"train_customer"})
            for log in sorted((cluster.home / "logs").glob("worker-train*.log"))
        }
    finally:
        cluster.destroy()
    steps = {}
    # The DAG's steps in the order they started.
    order = sorted(
        {t["task_id"] for t in tasks} - set(BOOKKEEPING),
        key=lambda s: min(t["start"] for t in tasks if t["task_id"] == s),
    )
    for step in order:
        mine = [t for t in tasks if t["task_id"] == step]
        steps[step] = {
            "tasks": len(mine),
            "wall_seconds": round(_seconds(min(t["start"] for t in mine), max(t["end"] for t in mine)), 1),
            "task_seconds_sum": round(sum(_seconds(t["start"], t["end"]) for t in mine), 1),
            "queue_wait_mean": round(sum(_seconds(t["queued"], t["start"]) for t in mine) / len(mine), 2),
        }
    return {
        "label": label,
        "workers": workers,
        "batch_customers": batch_customers,
        "run_wall_seconds": round(_seconds(run_start, run_end), 1),
        "cpu_busy": round((busy1 - busy0) / max(1, total1 - total0), 3),
        "steps": steps,
        "train_workers_used": sum(1 for n in on_workers.values() if n),
        "retries": sum(t["try_number"] - 1 for t in tasks),
    }


def render_distributed(results: dict[str, Any], command: str) -> str:
    runs = results["runs"]
    batched = [r for r in runs if r["batch_customers"] > 1]
    lines = [
        "# Fleet benchmark, distributed (issue 13)",
        "",
        f"Command: `{command}`, {results['date']}; machine: 2 cores. Day 1 of {results['customers']:,} "
        f"Zipf customers ({results['events']:,} events, largest {results['largest_customer_events']:,}) "
        "through the DAG on a real CeleryExecutor cluster (scripts/airflow-celery.sh: Redis, PostgreSQL, "
        "scheduler, DAG processor, API server, one release worker, N training workers of concurrency 1). "
        "Step wall time = first task start to last task end, from Airflow's task instances. CPU busy = "
        "share of both cores busy during the run (/proc/stat).",
        "",
        "| step | " + " | ".join(r["label"] for r in runs) + " |",
        "|---|" + "---|" * len(runs),
    ]
    for step in runs[0]["steps"]:
        cells = [
            f"{r['steps'][step]['wall_seconds']:.1f} s ({r['steps'][step]['tasks']} tasks)" for r in runs
        ]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    lines.append("| **whole run** | " + " | ".join(f"**{r['run_wall_seconds']:.0f} s**" for r in runs) + " |")
    lines.append("| CPU busy | " + " | ".join(f"{100 * r['cpu_busy']:.0f}%" for r in runs) + " |")
    lines += ["", "Speed-ups:", ""]
    if len(batched) >= 2:
        a, b = batched[0], batched[-1]
        for step in ("train_customer",):
            lines.append(
                f"- {b['workers']} vs {a['workers']} training worker(s), {step}: "
                f"{a['steps'][step]['wall_seconds'] / b['steps'][step]['wall_seconds']:.2f} x; whole run "
                f"{a['run_wall_seconds'] / b['run_wall_seconds']:.2f} x"
            )
    single = [r for r in runs if r["batch_customers"] == 1]
    if single and batched:
        a, b = single[0], next((r for r in batched if r["workers"] == single[0]["workers"]), batched[0])
        ta, tb = a["steps"]["train_customer"]["wall_seconds"], b["steps"]["train_customer"]["wall_seconds"]
        lines.append(
            f"- batches of {b['batch_customers']} vs one task per customer ({a['workers']} worker): training "
            f"{ta / tb:.2f} x"
            f"; whole run {a['run_wall_seconds'] / b['run_wall_seconds']:.2f} x"
        )
    lines += ["", "Training tasks:", ""]
    for r in runs:
        t = r["steps"]["train_customer"]
        lines.append(
            f"- {r['label']}: {t['tasks']} tasks on {r['train_workers_used']} worker(s), "
            f"sum of task durations {t['task_seconds_sum']:.0f} s "
            f"(mean {t['task_seconds_sum'] / t['tasks']:.2f} s), "
            f"mean wait from queued to start {t['queue_wait_mean']:.1f} s, retries {r['retries']}"
        )
    return "\n".join(lines) + "\n"


def main_distributed(args: argparse.Namespace, tmp: Path) -> None:
    out = args.out if args.out != DEFAULT_OUT else ROOT / "docs" / "benchmarks_fleet_celery.md"
    results: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "runs": []}
    configs = [(1, 1)] if args.per_customer_baseline else []
    configs += [(w, args.batch_customers) for w in args.train_workers]
    for workers, batch in configs:
        fleet = Fleet(tmp, f"celery{workers}w{batch}b", args.customers, args.per_shard, args.largest)
        results.update(
            customers=fleet.customers,
            events=sum(fleet.events.values()),
            largest_customer_events=max(fleet.events.values()),
        )
        try:
            results["runs"].append(distributed_run(fleet, workers, batch))
        finally:
            fleet.teardown()
            shutil.rmtree(fleet.tmp, ignore_errors=True)
        out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    command = "python -m benchmarks.bench_fleet " + " ".join(sys.argv[1:])
    text = render_distributed(results, command.strip())
    out.write_text(text)
    print(text)


DEFAULT_OUT = ROOT / "docs" / "benchmarks_fleet.md"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1000)
    ap.add_argument("--per-shard", type=int, default=100)
    ap.add_argument("--largest", type=int, default=100_000, help="events of the largest customer")
    ap.add_argument("--baseline-customers", type=int, default=100)
    ap.add_argument("--registry-storage", type=Path, default=Path("/var/lib/kwrec-registry/open/storage"))
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--distributed", action="store_true", help="day 1 through the Celery-run DAG")
    ap.add_argument("--train-workers", type=int, nargs="+", default=[1, 2], help="with --distributed")
    ap.add_argument("--batch-customers", type=int, default=20, help="with --distributed: customers per task")
    ap.add_argument(
        "--per-customer-baseline",
        action="store_true",
        help="with --distributed: also one task per customer on 1 worker, first (the baseline)",
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kwrec-fleet-"))
    if args.distributed:
        try:
            main_distributed(args, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "engine": engine.connect().version().get("Version"),
    }
    try:
        for key, n, per_shard in (
            ("baseline", args.baseline_customers, args.baseline_customers),
            ("fleet", args.customers, args.per_shard),
        ):
            fleet = Fleet(tmp, key, n, per_shard, args.largest)
            try:
                results[key] = measure(fleet, max(1, n // 100), args.registry_storage)
            finally:
                fleet.teardown()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    command = "python -m benchmarks.bench_fleet " + " ".join(sys.argv[1:])
    text = render(results, command.strip())
    args.out.write_text(text)
    (args.out.with_suffix(".json")).write_text(json.dumps(results, indent=1))
    print(text)


if __name__ == "__main__":
    main()
