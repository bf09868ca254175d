"""A customer with a live model is trained twice a day, not three times: evaluation and the gate score
the same model of the older part of its events when they split them alike."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from kwrec.adapters.stores import open_store
from kwrec.core import evaluation
from kwrec.core.gate import GateAgainst, gate_scores
from kwrec.core.ingest import load_customer_config
from kwrec.core.preprocess import read_and_preprocess
from kwrec.pipeline import records
from kwrec.pipeline import train as pipeline_train
from kwrec.pipeline.steps import gate_policy, train_customer_step
from kwrec.pipeline.train import train_release
from kwrec.settings import Settings
from tests.conftest import SAMPLE


@pytest.mark.parametrize(("gate_fraction", "trainings"), [(0.1, 2), (0.2, 3)])
def test_evaluation_and_the_gate_share_the_held_out_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gate_fraction: float, trainings: int
) -> None:
    shutil.copytree(SAMPLE / "books-en", tmp_path / "data" / "books-en")
    settings = Settings(
        store=str(tmp_path / "store"), cache_dir=tmp_path / "cache", data_dir=tmp_path / "data"
    )
    store = open_store(settings.store)
    live = train_release(settings, store, timestamp="2612010900", evaluate=False).manifest
    lease = records.acquire_lease(store, settings.deploy.target_name(), "docker", live.version, "deploy", 60)
    records.set_live(store, settings.deploy.target_name(), "docker", lease, live.version, {})
    (tmp_path / "data" / "books-en" / "more.txt").write_text("the hobbit\n", encoding="utf-8")  # new inputs

    calls: list[int] = []
    for module in (evaluation, pipeline_train):
        real = module.train_customer

        def counted(*args: Any, real: Any = real, **kwargs: Any) -> Any:
            calls.append(1)
            return real(*args, **kwargs)

        monkeypatch.setattr(module, "train_customer", counted)
    day = settings.model_copy(
        update={"run": settings.run.model_copy(update={"gate_test_fraction": gate_fraction})}
    )
    entry = train_customer_step(day, store, "books-en", "2612020900", lambda _m: None)
    assert entry.evaluation is not None and entry.gate is not None
    assert len(calls) == trainings
    if trainings == 2:
        # Sharing changes no number: the gate's own training of the candidate scores the same.
        against = GateAgainst(live.version, live.customers["books-en"], gate_policy(day))
        config = load_customer_config(tmp_path / "data" / "books-en")
        params = config.train_params(day.train)
        pre, _ = read_and_preprocess(tmp_path / "data" / "books-en", config, params, tmp_path / "q.jsonl")
        banned = config.banned_text
        alone = gate_scores(
            store, pre.events, params, "books-en", against, day.cache_dir, lambda _m: None, banned=banned
        )
        # books-en has user ids: the gate also scores MPC held to the privacy floor.
        keys = ("new_mrr", "live_mrr", "mpc_mrr", "mpc_floor_mrr", "prefixes")
        assert {k: alone[k] for k in keys} == {k: entry.gate[k] for k in keys}
