"""Live blocks reach training: the next run leaves the keyword out of the model itself, retrains only
the customer whose rules changed, and puts the keyword back after an unblock."""

from __future__ import annotations

import shutil
from pathlib import Path

from kwrec.adapters.stores import open_store
from kwrec.core.gate import decide, gate_customer
from kwrec.core.manifest import open_release
from kwrec.core.rules import make_block
from kwrec.core.rules_store import block, unblock
from kwrec.pipeline import records
from kwrec.pipeline.deploy import releases_rows
from kwrec.pipeline.steps import gate_policy, train_customer_step
from kwrec.pipeline.train import train_release
from kwrec.settings import Settings

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def _popular(settings: Settings, version: str) -> list[str]:
    release = open_release(open_store(settings.store), version, settings.cache_dir)
    return [s.keyword for s in release.models["shop-kr"].popular(20)]


def test_a_block_is_trained_out_and_an_unblock_trains_it_back(tmp_path: Path) -> None:
    for c in ("shop-kr", "books-en"):
        shutil.copytree(SAMPLE / c, tmp_path / "data" / c)
    settings = Settings(
        store=str(tmp_path / "store"), cache_dir=tmp_path / "cache", data_dir=tmp_path / "data"
    )
    store = open_store(settings.store)
    first = train_release(settings, store, timestamp="2612010900", evaluate=False)
    assert "아이폰" in _popular(settings, first.manifest.version)

    block(store, make_block("shop-kr", "아이 폰", "court-order"))
    second = train_release(settings, store, timestamp="2612020900", evaluate=False)
    assert second.trained == ["shop-kr"] and second.reused == ["books-en"]  # only its rules changed
    assert second.manifest.rules_version == 1 and first.manifest.rules_version is None
    assert second.manifest.customers["shop-kr"].ingest["live_bans"] == {"contains": [], "exact": ["아이 폰"]}
    rows = {r["version"]: r for r in releases_rows(store)}
    assert rows[second.manifest.version]["rules_version"] == 1
    popular = _popular(settings, second.manifest.version)
    assert "아이폰" not in popular and "아이폰 케이스" in popular  # exact: the keyword, not longer ones
    assert second.manifest.customers["shop-kr"].ingest["quarantined"].get("banned", 0) > (
        first.manifest.customers["shop-kr"].ingest["quarantined"].get("banned", 0)
    )

    unblock(store, "shop-kr", "아이폰")
    third = train_release(settings, store, timestamp="2612030900", evaluate=False)
    assert third.manifest.customers["shop-kr"].artifact == first.manifest.customers["shop-kr"].artifact
    assert "아이폰" in _popular(settings, third.manifest.version)


def test_the_gate_measures_the_candidate_without_its_live_blocks(tmp_path: Path) -> None:
    # The gate's numbers come from the training task; when they must be made again (an artifact reused
    # from another day), the candidate is retrained on the same events: without the blocked keyword.
    shutil.copytree(SAMPLE / "shop-kr", tmp_path / "data" / "shop-kr")
    settings = Settings(
        store=str(tmp_path / "store"), cache_dir=tmp_path / "cache", data_dir=tmp_path / "data"
    )
    store = open_store(settings.store)
    live = train_release(settings, store, timestamp="2612010900", evaluate=False).manifest
    target = settings.deploy.target_name()
    lease = records.acquire_lease(store, target, "docker", live.version, "deploy", 60)
    records.set_live(store, target, "docker", lease, live.version, {})
    block(store, make_block("shop-kr", "아이폰", "court-order", match="contains"))
    entry = train_customer_step(settings, store, "shop-kr", "2612020900", lambda _m: None)
    assert entry.gate is not None and entry.ingest["live_bans"]["contains"] == ["아이폰"]
    again = gate_customer(
        store,
        tmp_path / "data" / "shop-kr",
        entry.model_copy(update={"gate": None}),  # as if reused: the numbers are made here
        live,
        gate_policy(settings),
        settings.cache_dir,
        lambda _m: None,
    )
    made_in_training = decide("shop-kr", entry.gate, gate_policy(settings))
    assert again.new_mrr is not None and again.mpc_mrr is not None
    assert (again.new_mrr, again.mpc_mrr) == (made_in_training.new_mrr, made_in_training.mpc_mrr)
