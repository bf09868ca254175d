"""Settings of the daily release chain (``kwrec run`` and the Airflow DAG): ``KWREC_RUN__*``.

Registered in the one Settings object as ``Settings.run``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class AirflowSettings(BaseModel):
    model_config = {"extra": "forbid"}

    dag_id: str = Field("kwrec_daily", pattern=r"^[A-Za-z0-9_.-]{1,250}$", description="the Airflow DAG's id")
    schedule: str | None = Field("0 */24 * * *", description="cron or preset; empty/None: manual only")
    queue: str = Field("keyword_train", description="Celery queue of every task (workers with an engine)")
    train_queue: str | None = Field(
        None, description="queue of the per-customer training tasks (default: queue)"
    )
    retries: int = Field(3, ge=0, le=20, description="retries of build, push and deploy")
    train_retries: int = Field(
        1, ge=0, le=20, description="retries of a customer's training task (its worker died, say)"
    )
    retry_delay_seconds: float = Field(60.0, gt=0, description="first retry delay, doubled each time")
    max_retry_delay_seconds: float = Field(1800.0, gt=0, description="longest retry delay")
    max_active_tasks: int = Field(8, ge=1, description="parallel tasks of one run (mapped training)")
    train_batch_customers: int = Field(
        20, ge=1, le=1000, description="most customers one training task trains (1: a task per customer)"
    )
    train_batch_mb: float = Field(
        128.0, gt=0, description="log megabytes per training task; a larger customer has a task of its own"
    )
    owner: str = Field("kwrec", description="the DAG's owner in Airflow")


class RunSettings(BaseModel):
    model_config = {"extra": "forbid"}

    gate_tolerance: float = Field(
        0.02,
        ge=0,
        le=1,
        description="a new model whose MRR@10 is below the live one's minus this is held back",
    )
    gate_test_fraction: float = Field(0.1, gt=0, lt=1, description="newest share of events the gate tests on")
    gate_prefixes_per_query: int = Field(3, ge=1, description="typed prefixes the gate tries per test query")
    gate_max_test_queries: int = Field(2000, ge=10, description="test queries the gate samples at most")
    gate_stability_floor: float | None = Field(
        None,
        ge=0,
        le=1,
        description="hold back a customer whose new model keeps less than this of the live model's "
        "suggestions (mean overlap@10 over its most-typed prefixes, docs/diff.md); None: off, e.g. 0.3",
    )
    evaluate: bool = Field(True, description="record time-split metrics of every trained customer")
    lock_seconds: float = Field(
        4 * 3600.0, gt=0, description="a run lock older than this is taken over (its process died)"
    )
    airflow: AirflowSettings = AirflowSettings()
