"""The Airflow DAG: imports cleanly, and runs the whole chain with dag.test() on the real engine,
registry and proxy (success), then fails at build_docker_image with the live release untouched.

Airflow lives in its own venv (.venv-airflow: its pins of fastapi/starlette differ from kwrec's);
`make test-dag` runs this file there. In the project venv the module is skipped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
# Airflow reads these when it is first imported: a private home, no examples, only our DAG folder.
_HOME = tempfile.mkdtemp(prefix="kwrec-airflow-")
os.environ.setdefault("AIRFLOW_HOME", _HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")

airflow = pytest.importorskip("airflow", reason="Airflow is installed in .venv-airflow only (make test-dag)")

from airflow.dag_processing.dagbag import DagBag  # noqa: E402

from kwrec.adapters import engine  # noqa: E402
from kwrec.adapters.stores import open_store  # noqa: E402
from kwrec.adapters.targets.nginx import NginxProxy  # noqa: E402
from kwrec.core.manifest import read_manifest  # noqa: E402
from kwrec.pipeline import records  # noqa: E402
from kwrec.pipeline.lock import LOCK_KEY  # noqa: E402
from tests.support import docker_target_env, free_port, shard_image  # noqa: E402

DAG_ID = "kwrec_daily"
RUN = uuid.uuid4().hex[:8]
TARGET = f"dag{RUN}"
DAY1 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
DAY2 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def airflow_db() -> None:
    from airflow.utils.db import initdb

    initdb()


def _dagbag() -> DagBag:
    return DagBag(dag_folder=str(ROOT / "dags"))


def test_dag_imports_without_errors(airflow_db: None) -> None:
    bag = _dagbag()
    assert bag.import_errors == {}
    dag = bag.get_dag(DAG_ID)
    assert dag is not None
    ids = {t.task_id for t in dag.tasks}
    assert {
        "get_current_dag_run_time",
        "detect_changed_customers",
        "train_customer",
        "evaluate_and_gate",
        "publish_release",
        "build_docker_image",
        "push_docker_image",
        "deploy",
        "verify",
    } <= ids
    tasks = {t.task_id: t for t in dag.tasks}
    assert tasks["train_customer"].is_mapped if hasattr(tasks["train_customer"], "is_mapped") else True
    assert all(t.queue == "keyword_train" for t in dag.tasks)
    for name in ("build_docker_image", "push_docker_image", "deploy"):
        assert tasks[name].retries >= 1 and tasks[name].retry_exponential_backoff > 0
    assert tasks["get_current_dag_run_time"].downstream_task_ids >= {"take_release_lock"}


docker_marks = [pytest.mark.docker, pytest.mark.slow]
needs_docker = pytest.mark.skipif(
    not Path("/var/run/docker.sock").exists() or not Path("/usr/sbin/nginx").exists(),
    reason="needs the engine and nginx (scripts/setup-test-env.sh, scripts/ensure-nginx.sh)",
)


@pytest.fixture(scope="module")
def world(airflow_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("dag")
    shutil.copytree(ROOT / "data" / "sample", tmp / "data")
    port = free_port()
    env = {
        "KWREC_STORE": str(tmp / "store"),
        "KWREC_DATA_DIR": str(tmp / "data"),
        "KWREC_CACHE_DIR": str(tmp / "cache"),
        "KWREC_RUN__EVALUATE": "false",
        "KWREC_RUN__AIRFLOW__RETRY_DELAY_SECONDS": "1",
        **docker_target_env(
            tmp, repository=f"kwrec-test/dag{RUN}", target=TARGET, run_id=RUN, proxy_port=port
        ),
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        yield {"tmp": tmp, "port": port, "store": open_store(env["KWREC_STORE"]), "mp": mp}
    if Path("/var/run/docker.sock").exists():
        client = engine.connect()
        for c in client.containers.list(all=True, filters={"label": f"kwrec.deploy.target={TARGET}"}):
            c.remove(force=True)
    NginxProxy(Path("/usr/sbin/nginx"), tmp / "deploy-state" / TARGET, "127.0.0.1", 0).stop()


def _states(run: Any) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


@needs_docker
@pytest.mark.docker
@pytest.mark.slow
def test_dag_run_releases_then_a_failed_build_leaves_the_live_release(world: dict[str, Any]) -> None:
    store, port = world["store"], world["port"]
    dag = _dagbag().get_dag(DAG_ID)
    run = dag.test(logical_date=DAY1)
    states = _states(run)
    assert str(run.state) == "success", states
    assert states["build_docker_image"] == "success" and states["verify"] == "success"
    v1 = "gs_2611270900"
    m1 = read_manifest(store, v1)
    assert sorted(m1.customers) == ["books-en", "news-kr", "shop-kr"]
    assert (i1 := shard_image(m1)) is not None and i1.digest
    answer = httpx.get(f"http://127.0.0.1:{port}/v1/shop-kr/autocomplete", params={"q": "아이"}, timeout=5)
    assert answer.status_code == 200 and answer.json()["model_version"] == v1
    assert b'"free"' in store.read_bytes(LOCK_KEY)  # the teardown released the lock

    # Day 2: one customer's logs change, and the build cannot work (a base image the engine lacks).
    rows = [f"2026-11-28T10:{i:02d}:00+09:00,n{i},ns{i},겨울 패딩 {i % 3},10,1" for i in range(30)]
    (world["tmp"] / "data" / "shop-kr" / "day2.csv").write_text(
        "timestamp,user_id,session_id,query,result_count,clicked\n" + "\n".join(rows) + "\n"
    )
    world["mp"].setenv("KWREC_IMAGE__BASE_IMAGE", f"kwrec-test/no-such-base-{RUN}:none")
    run2 = dag.test(logical_date=DAY2)
    states2 = _states(run2)
    assert str(run2.state) == "failed", states2
    assert states2["publish_release"] == "success"
    assert states2["build_docker_image"] == "failed"
    assert states2["push_docker_image"] in ("upstream_failed", "None")
    alias, _ = records.read_alias(store, TARGET)
    assert alias is not None and alias.live == v1
    again = httpx.get(f"http://127.0.0.1:{port}/version", timeout=5).json()
    assert again["model_version"] == v1
    m2 = read_manifest(store, "gs_2611280900")
    assert m2.customers["shop-kr"].trained_in == "gs_2611280900" and shard_image(m2) is None
    assert b'"free"' in store.read_bytes(LOCK_KEY)
