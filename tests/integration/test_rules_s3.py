"""Live rules from an S3 store (moto), as ECS tasks read them: a real `kwrec serve` of a release in S3
polls ``rules/current.json`` with conditional reads and applies a block and an unblock made with the CLI
against the same bucket, within a minute, without a restart."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from kwrec.adapters.stores import open_store
from kwrec.adapters.stores import s3 as s3_store
from kwrec.pipeline.train import train_release
from kwrec.settings import S3Settings, Settings
from tests.support import serve_locally, wait_until

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
KWREC = str(Path(sys.executable).with_name("kwrec"))


def test_a_replica_reading_rules_from_s3_applies_a_block_and_an_unblock(
    tmp_path: Path, s3_bucket: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"s3://{s3_bucket}/kwrec"
    monkeypatch.setenv("KWREC_S3__ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("KWREC_RULES__POLL_SECONDS", "1")
    monkeypatch.setenv("KWREC_CACHE_DIR", str(tmp_path / "cache"))
    shutil.copytree(SAMPLE / "shop-kr", tmp_path / "data" / "shop-kr")
    settings = Settings(
        store=url,
        cache_dir=tmp_path / "cache",
        data_dir=tmp_path / "data",
        s3=S3Settings(endpoint_url=moto_endpoint),
    )
    version = train_release(
        settings, open_store(url, settings.s3), timestamp="2612010900", evaluate=False
    ).manifest.version
    proc, api = serve_locally(url, version, tmp_path)
    try:

        def popular() -> list[str]:
            body = httpx.get(f"{api}/v1/shop-kr/popular", params={"limit": 20}, timeout=5).json()
            return [s["keyword"] for s in body["suggestions"]]

        top = popular()[0]
        cli = [KWREC, "block", "shop-kr", top, "--reason", "court-order", "--store", url]
        assert subprocess.run(cli, capture_output=True, timeout=60).returncode == 0
        took = wait_until(lambda: top not in popular())
        assert took < 60
        metrics = httpx.get(f"{api}/metrics", timeout=5).text
        assert "kwrec_rules_version 1.0" in metrics
        unblock = [KWREC, "unblock", "shop-kr", top, "--store", url]
        assert subprocess.run(unblock, capture_output=True, timeout=60).returncode == 0
        wait_until(lambda: top in popular())
    finally:
        proc.terminate()
        proc.wait(10)


def test_an_unchanged_rules_object_is_not_downloaded_again(
    tmp_path: Path, s3_bucket: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(f"s3://{s3_bucket}/kwrec", S3Settings(endpoint_url=moto_endpoint))
    store.write_bytes("rules/current.json", b'{"version": 1, "rules": []}')
    data, tag = store.read_if_changed("rules/current.json", None)
    assert data is not None and tag
    again, same = store.read_if_changed("rules/current.json", tag)
    assert again is None and same == tag  # 304: nothing transferred
    store.write_bytes("rules/current.json", b'{"version": 2, "rules": []}')
    changed, new_tag = store.read_if_changed("rules/current.json", tag)
    assert changed is not None and b'"version": 2' in changed and new_tag != tag
    assert isinstance(store, s3_store.S3Store)
