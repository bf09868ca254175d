"""The DAG on a real Airflow 3 CeleryExecutor cluster (scripts/airflow-celery.sh): Redis as broker,
PostgreSQL as metadata database, scheduler, DAG processor, API server, and two Celery workers on
their own queues. Runs are triggered through Airflow (never ``dag.test()``) and followed in its
database.

1. Day 1 releases the sample customers: the run succeeds, every training task ran on the training
   worker (two tasks: two customers, then one) and every other task on the release worker, and the
   release answers at the stable endpoint.
2. Day 2 brings a large new customer; its training worker is killed (-9, the whole process tree, as
   when a host dies) in the middle of training. Airflow notices the lost heartbeat, retries the task on
   the restarted worker, and the run succeeds with the new customer live and the lock released.

Airflow lives in .venv-airflow; `make test-celery` runs this file there. The cluster has its own
database, Redis port and API port, and is destroyed afterwards.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

# Only looked for, not imported: importing Airflow here would fix its configuration for the whole
# pytest process (test_dag.py sets its own before it imports Airflow).
if importlib.util.find_spec("airflow") is None:
    pytest.skip("Airflow is installed in .venv-airflow only (make test-celery)", allow_module_level=True)

from benchmarks.celery_cluster import RELEASE_QUEUE, TRAIN_QUEUE, Cluster, kill_tree
from benchmarks.synth import write_synthetic_logs

from kwrec.adapters import engine
from kwrec.adapters.stores import open_store
from kwrec.adapters.targets.nginx import NginxProxy
from kwrec.core.manifest import read_manifest
from kwrec.pipeline import records
from kwrec.pipeline.lock import LOCK_KEY
from tests.support import docker_target_env, free_port

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "kwrec_daily"
RUN = uuid.uuid4().hex[:8]
TARGET = f"celery{RUN}"
RUN_TIMEOUT = 600.0

pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the cluster script installs and runs PostgreSQL as root"),
    pytest.mark.skipif(
        not Path("/var/run/docker.sock").exists() or not Path("/usr/sbin/nginx").exists(),
        reason="needs the engine and nginx (scripts/setup-test-env.sh)",
    ),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("celery")
    shutil.copytree(ROOT / "data" / "sample", tmp / "data")
    port = free_port()
    kwrec_env = {
        # A lost worker is noticed after 20 s of silence (default 300 s).
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3",
        "KWREC_STORE": str(tmp / "store"),
        "KWREC_DATA_DIR": str(tmp / "data"),
        "KWREC_CACHE_DIR": str(tmp / "cache"),
        "KWREC_RUN__EVALUATE": "false",
        "KWREC_RUN__AIRFLOW__RETRY_DELAY_SECONDS": "1",
        "KWREC_RUN__AIRFLOW__TRAIN_BATCH_CUSTOMERS": "2",  # the 3 sample customers: 2 training tasks
        **docker_target_env(
            tmp, repository=f"kwrec-test/celery{RUN}", target=TARGET, run_id=RUN, proxy_port=port
        ),
    }
    cl = Cluster.create(tmp / "airflow", kwrec_env, db=f"kwrec_celery_{RUN}")
    try:
        cl.start()
        yield {"tmp": tmp, "port": port, "store": open_store(kwrec_env["KWREC_STORE"]), "cluster": cl}
    finally:
        cl.destroy()
        if Path("/var/run/docker.sock").exists():
            client = engine.connect()
            for c in client.containers.list(all=True, filters={"label": f"kwrec.deploy.target={TARGET}"}):
                c.remove(force=True)
        NginxProxy(Path("/usr/sbin/nginx"), tmp / "deploy-state" / TARGET, "127.0.0.1", 0).stop()


def _training_log(home: Path, run_id: str) -> Path | None:
    """The first attempt's log of the (only) mapped training task of this run, once it exists."""
    found = sorted(home.glob(f"logs/dag_id={DAG_ID}/run_id={run_id}/task_id=train_customer/*/attempt=1.log"))
    return found[0] if found else None


def test_celery_run_trains_on_the_training_worker_and_releases(cluster: dict[str, Any]) -> None:
    cl: Cluster = cluster["cluster"]
    run_id = f"celery-day1-{RUN}"
    cl.trigger(run_id, "2026-11-27T09:00:00+00:00")
    state = cl.wait_for_run(run_id, RUN_TIMEOUT)
    assert state == "success", cl.diagnosis(run_id)

    tasks = cl.tasks(run_id)
    training = [t for t in tasks if t["task_id"] == "train_customer"]
    assert len(training) == 2 and all(t["state"] == "success" for t in training), tasks
    assert {t["queue"] for t in training} == {TRAIN_QUEUE}
    assert {t["queue"] for t in tasks if t["task_id"] != "train_customer"} == {RELEASE_QUEUE}
    # Each worker was handed exactly its queue's tasks.
    assert cl.worker_tasks("worker-train", run_id) == {"train_customer"}
    on_release = cl.worker_tasks("worker-release", run_id)
    assert "train_customer" not in on_release
    assert {
        "detect_changed_customers",
        "evaluate_and_gate",
        "build_docker_image",
        "deploy",
        "verify",
    } <= on_release

    store = cluster["store"]
    alias, _ = records.read_alias(store, TARGET)
    assert alias is not None and alias.live == "gs_2611270900"
    manifest = read_manifest(store, "gs_2611270900")
    assert {c: e.trained_in for c, e in manifest.customers.items()} == dict.fromkeys(
        ("books-en", "news-kr", "shop-kr"), "gs_2611270900"
    )
    answer = httpx.get(
        f"http://127.0.0.1:{cluster['port']}/v1/shop-kr/autocomplete", params={"q": "아이"}, timeout=5
    )
    assert answer.status_code == 200 and answer.json()["model_version"] == "gs_2611270900"
    assert answer.json()["suggestions"]
    assert b'"free"' in store.read_bytes(LOCK_KEY)


def test_killed_training_worker_is_retried_and_the_run_succeeds(cluster: dict[str, Any]) -> None:
    cl: Cluster = cluster["cluster"]
    store = cluster["store"]
    # A new customer large enough that its training takes seconds (about 1M events).
    write_synthetic_logs(cluster["tmp"] / "data" / "bulk-kr", rows=1_000_000, distinct=100_000, seed=3)
    run_id = f"celery-day2-{RUN}"
    cl.trigger(run_id, "2026-11-28T09:00:00+00:00")

    # Wait until the training task is inside training (its log says so), then kill its worker.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        log = _training_log(cl.home, run_id)
        if log is not None and "preprocessing" in log.read_text(errors="replace"):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the training task never started preprocessing:\n" + cl.diagnosis(run_id))
    killed = kill_tree(cl.pid("worker-train"))
    assert len(killed) >= 3  # the worker, its pool process, and the task process at least
    [first] = [t for t in cl.tasks(run_id) if t["task_id"] == "train_customer"]
    assert first["try_number"] == 1 and first["state"] == "running"

    # The operator (or systemd) starts the worker again; everything else kept running.
    cl.start()
    state = cl.wait_for_run(run_id, RUN_TIMEOUT)
    assert state == "success", cl.diagnosis(run_id)

    [trained] = [t for t in cl.tasks(run_id) if t["task_id"] == "train_customer"]
    assert trained["state"] == "success" and trained["try_number"] == 2, trained
    history = cl.query(
        "select try_number, state from task_instance_history where run_id = %s and task_id = %s",
        run_id,
        "train_customer",
    )
    assert (1, "failed") in history, history  # the killed attempt, marked failed on its lost heartbeat

    alias, _ = records.read_alias(store, TARGET)
    assert alias is not None and alias.live == "gs_2611280900"
    manifest = read_manifest(store, "gs_2611280900")
    assert manifest.customers["bulk-kr"].trained_in == "gs_2611280900"
    assert manifest.customers["shop-kr"].trained_in == "gs_2611270900"  # unchanged: reused
    status = httpx.get(f"http://127.0.0.1:{cluster['port']}/version", timeout=5).json()
    assert status["model_version"] == "gs_2611280900"
    assert b'"free"' in store.read_bytes(LOCK_KEY)
