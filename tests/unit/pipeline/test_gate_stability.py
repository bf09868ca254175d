"""The gate's stability guardrail: a day of broken logs cannot replace a customer's suggestions wholesale."""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kwrec.adapters.stores import open_store
from kwrec.core.gate import GateDecision
from kwrec.core.store import ArtifactStore
from kwrec.core.store_layout import diff_key, gate_key
from kwrec.pipeline import records
from kwrec.pipeline.steps import gate_step, release_step, train_customer_step
from kwrec.pipeline.train import train_release
from kwrec.settings import Settings
from tests.review_releases import BURST, SAMPLE

LIVE_TS, WRECKED_TS, NORMAL_TS = "2611270900", "2611280900", "2611280901"
FLOOR = 0.3


def wreck(customer_dir: Path) -> None:
    """Yesterday's feed broke: the logs hold only junk queries (a mis-mapped column, say), from many users."""
    for f in customer_dir.iterdir():
        if f.name != "kwrec.toml":
            f.unlink()
    rng = random.Random(7)
    junk = [f"sku-{rng.randrange(10**6):06d}" for _ in range(150)]
    rows = ["timestamp,user_id,session_id,query"]
    for i in range(4000):
        day, sec = 23 + i * 5 // 4000, i % 86000
        rows.append(
            f"2026-11-{day:02d}T{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}+09:00,"
            f"u{rng.randrange(300)},s{i // 3},{rng.choice(junk)}"
        )
    (customer_dir / "events.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, ArtifactStore, Path]:
    """shop-kr's sample release live on the target, and a wrecked day of its logs."""
    root = tmp_path_factory.mktemp("guardrail")
    live_data = root / "live"
    live_data.mkdir()
    shutil.copytree(SAMPLE / "shop-kr", live_data / "shop-kr")
    settings = Settings(store=str(root / "store"), cache_dir=root / "cache", data_dir=live_data)
    store = open_store(settings.store)
    live = train_release(settings, store, timestamp=LIVE_TS, evaluate=False).manifest
    target = settings.deploy.target_name()
    lease = records.acquire_lease(store, target, "docker", live.version, "deploy", 60)
    records.set_live(store, target, "docker", lease, live.version, {})
    wrecked = root / "wrecked"
    shutil.copytree(live_data, wrecked)
    wreck(wrecked / "shop-kr")
    return settings, store, wrecked


@dataclass
class Day:
    decision: GateDecision
    kept_live: bool  # the release keeps the live model of shop-kr
    problems: list[str]
    review: dict[str, Any]  # shop-kr in the review the release step stored


def _release_day(
    settings: Settings, store: ArtifactStore, data: Path, floor: float | None, ts: str = WRECKED_TS
) -> Day:
    day = settings.model_copy(
        update={"data_dir": data, "run": settings.run.model_copy(update={"gate_stability_floor": floor})}
    )
    entry = train_customer_step(day, store, "shop-kr", ts, lambda _m: None)
    lines: list[str] = []
    gate = gate_step(day, store, {"shop-kr": entry}, lines.append)
    outcome = release_step(day, store, ts, {"shop-kr": entry}, {}, [], gate.decisions, lines.append)
    (decision,) = gate.decisions
    (review,) = json.loads(store.read_bytes(diff_key(outcome.manifest.version)))["customers"]
    kept = outcome.manifest.customers["shop-kr"].artifact != entry.artifact
    return Day(decision, kept, outcome.manifest.problems, review)


def test_without_a_floor_the_wrecked_model_passes_the_mrr_gate(
    world: tuple[Settings, ArtifactStore, Path],
) -> None:
    settings, store, wrecked = world
    day = _release_day(settings, store, wrecked, None)
    # it scores well on its own junk test queries: MRR@10 alone cannot tell a broken feed
    assert (day.decision.action, day.kept_live) == ("accepted", False)
    assert (day.decision.new_mrr or 0) > (day.decision.live_mrr or 0)
    # the training task measured the stability all the same: the review stored with the release agrees
    assert day.decision.stability is not None and day.decision.stability < 0.1
    assert day.review["status"] == "retrained" and day.review["stability"] == day.decision.stability


def test_the_guardrail_holds_a_wrecked_customer_back_with_the_reason(
    world: tuple[Settings, ArtifactStore, Path],
) -> None:
    settings, store, wrecked = world
    day = _release_day(settings, store, wrecked, FLOOR)
    assert (day.decision.action, day.kept_live) == ("held back", True)
    stability = day.decision.stability or 0.0
    reason = f"stability {stability:.2f} < floor {FLOOR:.2f} against live gs_{LIVE_TS}"
    assert any(reason in p for p in day.problems), day.problems
    decisions = json.loads(store.read_bytes(gate_key(f"gs_{WRECKED_TS}")))["decisions"]
    assert decisions[0]["stability_floor"] == FLOOR and decisions[0]["action"] == "held back"
    assert day.review["status"] == "reused"  # what ships is the live model, and the review says so


def test_a_normal_day_stays_above_the_floor(world: tuple[Settings, ArtifactStore, Path]) -> None:
    settings, store, wrecked = world
    normal = wrecked.parent / "normal"
    shutil.copytree(Path(str(settings.data_dir)), normal)
    with (normal / "shop-kr" / "events-2026-11-27.csv").open("a", encoding="utf-8") as fh:
        fh.writelines(f"2026-11-27T07:58:{i:02d}+09:00,new{i},ns{i},{BURST},10,1\n" for i in range(40))
    day = _release_day(settings, store, normal, FLOOR, NORMAL_TS)
    assert (day.decision.action, day.kept_live) == ("accepted", False)
    assert 0.9 < (day.decision.stability or 0) < 1.0  # retrained, a few answers changed
