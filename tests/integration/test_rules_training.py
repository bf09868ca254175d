"""Live blocks reach training: the next run leaves the keyword out of the model itself, retrains only
the customer whose rules changed, and puts the keyword back after an unblock."""

from __future__ import annotations

import shutil
from pathlib import Path

from kwrec.adapters.stores import open_store
from kwrec.core.manifest import open_release
from kwrec.core.rules import make_block
from kwrec.core.rules_store import block, unblock
from kwrec.pipeline.deploy import releases_rows
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
