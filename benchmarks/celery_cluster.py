"""Drive a CeleryExecutor cluster of scripts/airflow-celery.sh from Python: start, trigger, follow.

Used by the Celery test (tests/integration/test_dag_celery.py) and the distributed fleet benchmark
(``bench_fleet --distributed``). Runs are triggered with the ``airflow`` CLI and followed in the
cluster's PostgreSQL database (read-only queries). Needs .venv-airflow (psycopg2 and psutil come with
the cluster's packages).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "airflow-celery.sh"
DAG_ID = "kwrec_daily"
TRAIN_QUEUE, RELEASE_QUEUE = "keyword_train", "keyword_release"


class ClusterError(RuntimeError):
    pass


def clean_env() -> dict[str, str]:
    """The caller's environment without AIRFLOW_* and KWREC_*: the cluster's settings are its own."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "KWREC_"))}


class Cluster:
    """One cluster: its home (logs, pid files, env file) and the environment every component gets."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home, self.env = home, env

    @classmethod
    def create(cls, home: Path, kwrec_env: dict[str, str], *, db: str, train_workers: int = 1) -> Cluster:
        from tests.support import free_port

        env = {
            **clean_env(),
            **kwrec_env,
            "KWREC_AIRFLOW_DB": db,
            "KWREC_REDIS_PORT": str(free_port()),
            "KWREC_AIRFLOW_API_PORT": str(free_port()),
            "KWREC_TRAIN_WORKERS": str(train_workers),
            "KWREC_RUN__AIRFLOW__SCHEDULE": "",  # manual runs only: unpausing must not start one
            "KWREC_RUN__AIRFLOW__TRAIN_QUEUE": TRAIN_QUEUE,
            "KWREC_RUN__AIRFLOW__QUEUE": RELEASE_QUEUE,
        }
        return cls(home, env)

    def script(self, *args: str, timeout: float = 600) -> str:
        done = subprocess.run(
            ["bash", str(SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise ClusterError(f"airflow-celery.sh {args[0]} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def start(self) -> None:
        """Start (or restart what died), wait until the DAG is registered, unpause it."""
        self.script("start", str(self.home))
        deadline = time.monotonic() + 180
        while not self.query("select dag_id from dag where dag_id = %s", DAG_ID):
            if time.monotonic() > deadline:
                raise ClusterError("the DAG processor did not register the DAG within 180 s")
            time.sleep(1)
        self.airflow("dags", "unpause", DAG_ID)

    def destroy(self) -> None:
        subprocess.run(
            ["bash", str(SCRIPT), "destroy", str(self.home)], env=self.env, capture_output=True, timeout=300
        )

    def airflow(self, *args: str) -> str:
        return self.script("cli", str(self.home), *args, timeout=120)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg2

        conn = psycopg2.connect(
            host="127.0.0.1", dbname=self.env["KWREC_AIRFLOW_DB"], user="airflow", password="airflow"
        )
        try:
            with conn, conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
        finally:
            conn.close()

    def tasks(self, run_id: str) -> list[dict[str, Any]]:
        keys = ("task_id", "map_index", "queue", "state", "try_number", "queued", "start", "end")
        rows = self.query(
            "select task_id, map_index, queue, state, try_number, queued_dttm, start_date, end_date"
            " from task_instance where run_id = %s",
            run_id,
        )
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def run_times(self, run_id: str) -> tuple[datetime, datetime]:
        [(start, end)] = self.query("select start_date, end_date from dag_run where run_id = %s", run_id)
        return start, end

    def worker_tasks(self, worker: str, run_id: str) -> set[str]:
        """Task ids the worker (its log file's name) was handed for this run."""
        text = (self.home / "logs" / f"{worker}.log").read_text(errors="replace")
        pattern = re.compile(r"task_id='([a-z_]+)', dag_id='" + DAG_ID + r"', run_id='" + re.escape(run_id))
        return set(pattern.findall(text))

    def trigger(self, run_id: str, logical_date: str) -> None:
        self.airflow("dags", "trigger", DAG_ID, "--run-id", run_id, "--logical-date", logical_date)

    def wait_for_run(
        self, run_id: str, timeout: float, report: Callable[[str], None] | None = None, every: float = 60
    ) -> str:
        """The run's final state; ``report`` gets a line of task-state counts every ``every`` seconds."""
        deadline = time.monotonic() + timeout
        next_report = time.monotonic() + every
        while time.monotonic() < deadline:
            rows = self.query("select state from dag_run where run_id = %s", run_id)
            if rows and rows[0][0] in ("success", "failed"):
                return str(rows[0][0])
            if report is not None and time.monotonic() >= next_report:
                counts = self.query(
                    "select task_id, state, count(*) from task_instance where run_id = %s"
                    " group by task_id, state order by task_id",
                    run_id,
                )
                report(", ".join(f"{task} {state}: {n}" for task, state, n in counts))
                next_report += every
            time.sleep(1)
        raise ClusterError(f"run {run_id} did not finish in {timeout:.0f} s:\n{self.diagnosis(run_id)}")

    def diagnosis(self, run_id: str) -> str:
        """Task states of the run and the end of each component's log: the message of a failed check."""
        states = [(t["task_id"], t["map_index"], t["state"], t["try_number"]) for t in self.tasks(run_id)]
        tails = []
        for log in sorted((self.home / "logs").glob("*.log")):
            if log.stem.startswith(("worker", "scheduler")):
                tails.append(
                    f"--- {log.stem}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
                )
        return f"{states}\n" + "\n".join(tails)

    def pid(self, component: str) -> int:
        return int((self.home / "run" / f"{component}.pid").read_text())


def kill_tree(pid: int) -> list[int]:
    """SIGKILL a process and all its descendants, as when its host dies (Airflow puts each task in its
    own process group, so killing the worker's group alone would leave the task running)."""
    import psutil

    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(procs, timeout=10)
    return [p.pid for p in procs]
