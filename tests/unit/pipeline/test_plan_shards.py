"""Shards in the release manifest: sticky assignment, reuse of an unchanged shard's image, rebalancing."""

from __future__ import annotations

import shutil
from pathlib import Path

from kwrec.adapters.stores import open_store
from kwrec.core.manifest import ImageRecord, read_manifest, shard_view, update_manifest
from kwrec.pipeline.train import train_release
from kwrec.settings import Settings
from kwrec.settings.release import ReleaseSettings

ROOT = Path(__file__).resolve().parents[3]


def _settings(tmp: Path, **release: object) -> Settings:
    return Settings(
        store=str(tmp / "store"), cache_dir=tmp / "cache", release=ReleaseSettings.model_validate(release)
    )


def test_shards_are_sticky_and_an_unchanged_shard_keeps_its_image(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for c in ("books-en", "shop-kr"):
        shutil.copytree(ROOT / "data" / "sample" / c, data / c)
    settings = _settings(tmp_path, max_customers_per_shard=1)
    store = open_store(settings.store)
    m1 = train_release(settings, store, timestamp="2612010900", data_dir=data, evaluate=False).manifest
    assert sorted(m1.shards) == ["s000", "s001"]
    assert sorted(r.customers for r in m1.shards.values()) == [["books-en"], ["shop-kr"]]
    assert all(r.built_in == m1.version and r.image is None for r in m1.shards.values())
    first = {c: s for s, r in m1.shards.items() for c in r.customers}

    def built(m: object) -> None:
        for s, r in m.shards.items():  # type: ignore[attr-defined]
            r.image = ImageRecord(id=f"sha256:{s}", tag=f"2612010900-{s}")

    update_manifest(store, m1.version, built)

    # Day 2: a new customer, books-en unchanged. Nobody moves; books-en's shard keeps day 1's image.
    shutil.copytree(ROOT / "data" / "sample" / "news-kr", data / "news-kr")
    (data / "shop-kr" / "late.csv").write_text(
        "timestamp,user_id,session_id,query\n"
        + "\n".join(f"2026-11-27T10:{i:02d}:00+09:00,n{i},s{i},겨울 패딩 {i % 3}" for i in range(30))
        + "\n"
    )
    m2 = train_release(settings, store, timestamp="2612020900", data_dir=data, evaluate=False).manifest
    second = {c: s for s, r in m2.shards.items() for c in r.customers}
    assert {c: second[c] for c in first} == first
    assert second["news-kr"] not in first.values()  # every shard was full (1 customer each): a new one
    books = m2.shards[first["books-en"]]
    assert books.built_in == m1.version and books.image is not None and books.image.id
    assert m2.shards[first["shop-kr"]].built_in == m2.version  # shop-kr changed: its shard is rebuilt
    view = shard_view(m2, first["books-en"])
    assert view.version == m1.version and list(view.customers) == ["books-en"]

    # The same timestamp again writes the same manifest (idempotent), shards included.
    again = train_release(settings, store, timestamp="2612020900", data_dir=data, evaluate=False).manifest
    assert again.to_bytes() == read_manifest(store, m2.version).to_bytes()


def test_rebalance_recomputes_assignments_only_when_asked(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data" / "sample", data)
    store_settings = _settings(tmp_path, shards=1, max_customers_per_shard=10)
    store = open_store(store_settings.store)
    m1 = train_release(store_settings, store, timestamp="2612010900", data_dir=data, evaluate=False).manifest
    assert list(m1.shards) == ["s000"] and len(m1.shards["s000"].customers) == 3
    two = _settings(tmp_path, shards=2, max_customers_per_shard=10)
    m2 = train_release(two, store, timestamp="2612020900", data_dir=data, evaluate=False).manifest
    assert m2.shards["s000"].customers == m1.shards["s000"].customers  # kept; s001 waits for new ones
    assert "s001" not in m2.shards or not m2.shards["s001"].customers
    rebalanced = _settings(tmp_path, shards=2, max_customers_per_shard=10, rebalance=True)
    m3 = train_release(rebalanced, store, timestamp="2612030900", data_dir=data, evaluate=False).manifest
    assert sorted(m3.shards) == ["s000", "s001"]
    assert sorted(len(r.customers) for r in m3.shards.values()) == [1, 2]
