"""`kwrec train`: versioned releases, content-addressed reuse, idempotency, corruption, bad customers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kwrec.adapters.stores import open_store
from kwrec.core.manifest import list_versions, open_release, read_manifest
from kwrec.errors import ArtifactError, DataError
from kwrec.pipeline import train as train_module
from kwrec.pipeline.steps import detect_changes
from kwrec.pipeline.train import TrainOutcome, train_release
from kwrec.settings import Settings
from tests.conftest import SAMPLE, SAMPLE_TS

HEADER = "timestamp,user_id,session_id,query\n"


def write_customer(root: Path, name: str, queries: list[tuple[str, str]]) -> Path:
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    rows = [
        f"2026-11-2{i % 5}T10:{i % 60:02d}:00+09:00,{user},{user}-s,{q}\n"
        for i, (user, q) in enumerate(queries)
    ]
    (d / "events.csv").write_text(HEADER + "".join(rows), encoding="utf-8")
    return d


def small_data(root: Path) -> Path:
    data = root / "data"
    write_customer(
        data, "alpha", [(f"u{i}", "apple pie") for i in range(5)] + [(f"v{i}", "apricot") for i in range(3)]
    )
    write_customer(
        data, "beta", [(f"u{i}", "바나나") for i in range(4)] + [(f"v{i}", "바나나 우유") for i in range(3)]
    )
    return data


def settings_for(root: Path, data: Path) -> Settings:
    return Settings(store=str(root / "store"), cache_dir=root / "cache", data_dir=data)


def test_manifest_lists_everything(sample_store: tuple[Settings, TrainOutcome]) -> None:
    settings, outcome = sample_store
    m = read_manifest(open_store(settings.store), f"gs_{SAMPLE_TS}")
    assert sorted(m.customers) == ["books-en", "news-kr", "shop-kr"] == sorted(outcome.trained)
    shop = m.customers["shop-kr"]
    assert len(shop.artifact) == 64 and shop.input_fingerprint and shop.params["min_users"] == 2
    assert shop.stats["keywords"] > 100
    # the deliberately malformed rows were quarantined, counted, and their file kept in the store
    assert sum(shop.ingest["quarantined"].values()) >= 5
    assert open_store(settings.store).exists(f"releases/gs_{SAMPLE_TS}/quarantine/shop-kr.jsonl")
    ev = shop.evaluation
    assert ev is not None and ev["autocomplete"]["kwrec/all"]["prefixes"] > 0
    assert m.code_version and m.created


def test_unchanged_customer_is_reused_and_rerun_is_idempotent(tmp_path: Path) -> None:
    data = small_data(tmp_path)
    settings = settings_for(tmp_path, data)
    store = open_store(settings.store)
    first = train_release(settings, store, timestamp="2611270100", evaluate=False)
    assert sorted(first.trained) == ["alpha", "beta"]
    manifest_bytes = store.read_bytes("releases/gs_2611270100/manifest.json")
    again = train_release(settings, store, timestamp="2611270100", evaluate=False)
    assert store.read_bytes("releases/gs_2611270100/manifest.json") == manifest_bytes
    assert again.manifest.customers == first.manifest.customers

    write_customer(data, "beta", [(f"w{i}", "바나나 킥") for i in range(4)])  # beta's logs change
    second = train_release(settings, store, timestamp="2611280100", evaluate=False)
    assert second.trained == ["beta"] and second.reused == ["alpha"]
    m1, m2 = first.manifest.customers, second.manifest.customers
    assert m2["alpha"].artifact == m1["alpha"].artifact and m2["alpha"].status == "reused"
    assert m2["beta"].artifact != m1["beta"].artifact
    assert list_versions(store) == ["gs_2611270100", "gs_2611280100"]


def test_corrupted_artifact_is_refused(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, small_data(tmp_path))
    store = open_store(settings.store)
    outcome = train_release(settings, store, timestamp="2611270100", evaluate=False)
    entry = outcome.manifest.customers["alpha"]
    victim = Path(settings.store) / entry.artifact_key / "kw.bin"
    victim.write_bytes(victim.read_bytes()[:-1] + b"X")
    with pytest.raises(ArtifactError, match="corrupted"):
        open_release(store, None, settings.cache_dir)


def test_a_corrupt_artifact_is_moved_aside_and_retrained_by_the_next_release(tmp_path: Path) -> None:
    """Before: "inputs unchanged, reusing" the damaged artifact, and every later release failed the same."""
    settings = settings_for(tmp_path, small_data(tmp_path))
    store = open_store(settings.store)
    first = train_release(settings, store, timestamp="2611270100", evaluate=False)
    entry = first.manifest.customers["alpha"]
    victim = Path(settings.store) / entry.artifact_key / "kw.bin"
    good = victim.read_bytes()
    victim.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))  # same size, one byte flipped
    lines: list[str] = []
    second = train_release(settings, store, timestamp="2611280100", evaluate=False, report=lines.append)
    assert second.trained == ["alpha"] and second.reused == ["beta"]
    assert any("alpha: the stored artifact" in line and "is corrupt" in line for line in lines), lines
    again = second.manifest.customers["alpha"]
    assert again.trained_in == "gs_2611280100" and again.artifact == entry.artifact  # deterministic training
    assert victim.read_bytes() == good  # the content-addressed copy is whole again
    open_release(store, "gs_2611280100", settings.cache_dir)  # every checksum verifies
    open_release(store, "gs_2611270100", settings.cache_dir)  # and the older release heals with it
    [aside] = store.list_dirs("artifacts/alpha/corrupt")
    reason = json.loads(store.read_bytes(f"artifacts/alpha/corrupt/{aside}/reason.json"))
    assert reason["artifact_key"] == entry.artifact_key and "kw.bin" in reason["reason"]
    assert store.read_bytes(f"artifacts/alpha/corrupt/{aside}/kw.bin") != good  # the damaged bytes, kept


def test_bad_customers_do_not_stop_the_others(tmp_path: Path) -> None:
    data = small_data(tmp_path)
    (data / "empty").mkdir()
    (data / "Bad Name").mkdir()
    garbage = data / "garbage"
    garbage.mkdir()
    (garbage / "events.csv").write_bytes(HEADER.encode() + b"\x00\x00\xff\xfe not a row\n")
    settings = settings_for(tmp_path, data)
    outcome = train_release(settings, open_store(settings.store), timestamp="2611270100", evaluate=False)
    assert sorted(outcome.manifest.customers) == ["alpha", "beta"]
    assert sorted(outcome.failed) == ["empty", "garbage"]
    assert "empty" in outcome.failed["empty"]
    assert any("Bad Name" in p for p in outcome.manifest.problems)


def test_no_usable_customer_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "data" / "empty").mkdir(parents=True)
    settings = settings_for(tmp_path, tmp_path / "data")
    with pytest.raises(DataError):
        train_release(settings, open_store(settings.store), timestamp="2611270100", evaluate=False)


def test_s3_store(tmp_path: Path, s3_bucket: str, moto_endpoint: str) -> None:
    from kwrec.settings import S3Settings

    settings = Settings(
        store=f"s3://{s3_bucket}/kwrec",
        cache_dir=tmp_path / "cache",
        data_dir=small_data(tmp_path),
        s3=S3Settings(endpoint_url=moto_endpoint),
    )
    store = open_store(settings.store, settings.s3)
    first = train_release(settings, store, timestamp="2611270100", evaluate=False)
    second = train_release(settings, store, timestamp="2611280100", evaluate=False)
    assert second.reused == ["alpha", "beta"]
    assert first.manifest.customers["alpha"].artifact == second.manifest.customers["alpha"].artifact
    release = open_release(store, None, settings.cache_dir)
    assert release.version == "gs_2611280100"
    assert release.models["alpha"].autocomplete("app", 5)[0].keyword == "apple pie"


def test_sample_copy_is_untouched_by_training(
    sample_store: tuple[Settings, TrainOutcome], tmp_path: Path
) -> None:
    # training reads the data dir, never writes into it
    copy = tmp_path / "sample"
    shutil.copytree(SAMPLE, copy)
    before = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    settings = settings_for(tmp_path, copy)
    train_release(settings, open_store(settings.store), timestamp="2611270100", evaluate=False)
    after = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    assert before == after
    assert json.loads(json.dumps(sorted(str(p) for p in before)))


def test_a_kwrec_that_reads_files_differently_trains_unchanged_customers_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the input key held the files and parameters only, so an upgrade that mended a parse kept
    serving what the older code had read from the same files, until the customer's logs changed."""
    data = small_data(tmp_path)
    settings = settings_for(tmp_path, data)
    store = open_store(settings.store)
    first = train_release(settings, store, timestamp="2611270100", evaluate=False)
    assert detect_changes(settings, store).changed == []

    monkeypatch.setattr(train_module, "TRAINING_REVISION", train_module.TRAINING_REVISION + 1)
    assert sorted(detect_changes(settings, store).changed) == ["alpha", "beta"]
    second = train_release(settings, store, timestamp="2611280100", evaluate=False)
    assert sorted(second.trained) == ["alpha", "beta"] and second.reused == []
    # what an artifact holds did not change: the same files train the same model
    assert {c: e.artifact for c, e in second.manifest.customers.items()} == {
        c: e.artifact for c, e in first.manifest.customers.items()
    }
    third = train_release(settings, store, timestamp="2611290100", evaluate=False)
    assert third.trained == [] and sorted(third.reused) == ["alpha", "beta"]
