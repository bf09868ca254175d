"""Customers' logs read from ``s3://bucket/prefix`` (moto): same results as a local folder, change
detection from listings alone, bad and vanished objects quarantined."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from kwrec.adapters.sources import open_logs
from kwrec.adapters.sources import s3 as s3_source
from kwrec.adapters.stores import open_store
from kwrec.core.ingest import Quarantine, list_customers, load_customer_config, read_customer_logs
from kwrec.errors import DataError
from kwrec.pipeline.steps import detect_changes
from kwrec.pipeline.train import train_release
from kwrec.settings import S3Settings, Settings

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def _upload(client: Any, bucket: str, prefix: str, folder: Path) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            client.put_object(
                Bucket=bucket, Key=f"{prefix}/{path.relative_to(folder).as_posix()}", Body=path.read_bytes()
            )


@pytest.fixture
def s3_logs(
    s3_bucket: str, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, list[str]]]:
    """The sample customers under s3://bucket/logs/, plus a folder that is no customer; GetObject calls
    made through kwrec's log source are recorded."""
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    _upload(client, s3_bucket, "logs", SAMPLE)
    client.put_object(Bucket=s3_bucket, Key="logs/Bad Name!/x.csv", Body=b"query\nx\n")
    client.put_object(Bucket=s3_bucket, Key="logs/shop-kr/_SUCCESS", Body=b"")
    gets: list[str] = []
    make = s3_source.s3_client

    def counting(*args: Any, **kwargs: Any) -> Any:
        c = make(*args, **kwargs)
        c.meta.events.register(
            "before-parameter-build.s3.GetObject", lambda params, **_: gets.append(params["Key"])
        )
        return c

    monkeypatch.setattr(s3_source, "s3_client", counting)
    yield client, gets


def _settings(tmp_path: Path, data: str | Path, endpoint: str, store: str = "store") -> Settings:
    return Settings(
        store=str(tmp_path / store),
        cache_dir=tmp_path / "cache",
        data_dir=data,
        s3=S3Settings(endpoint_url=endpoint),
    )


def test_training_from_s3_matches_the_local_folder_and_detects_changes_from_listings(
    tmp_path: Path, s3_bucket: str, moto_endpoint: str, s3_logs: tuple[Any, list[str]]
) -> None:
    client, gets = s3_logs
    url = f"s3://{s3_bucket}/logs"
    remote = _settings(tmp_path, url, moto_endpoint)
    local = _settings(tmp_path, SAMPLE, moto_endpoint, store="local-store")
    lines: list[str] = []
    a = train_release(
        remote, open_store(remote.store), timestamp="2612010100", evaluate=False, report=lines.append
    )
    b = train_release(local, open_store(local.store), timestamp="2612010100", evaluate=False)
    assert sorted(a.manifest.customers) == sorted(b.manifest.customers) == ["books-en", "news-kr", "shop-kr"]
    for c in a.manifest.customers:
        ra, rb = a.manifest.customers[c], b.manifest.customers[c]
        assert ra.stats["events"] == rb.stats["events"] and ra.stats["keywords"] == rb.stats["keywords"]
        assert ra.ingest == rb.ingest  # the same rows quarantined for the same reasons
    assert any("Bad Name!" in line and "skipped" in line for line in lines), lines
    assert gets, "training downloads the logs"

    # Unchanged objects: change detection lists, and downloads nothing.
    gets.clear()
    store = open_store(remote.store)
    found = detect_changes(remote, store)
    assert found.changed == [] and found.unchanged == ["books-en", "news-kr", "shop-kr"]
    assert all(k.endswith("/kwrec.toml") for k in gets), gets  # customer configs only, no log
    # One new object: only its customer changes; still nothing downloaded to find out.
    rows = "timestamp,user_id,session_id,query,result_count,clicked\n2026-11-28T10:00:00Z,u1,s1,운동화,3,1\n"
    client.put_object(Bucket=s3_bucket, Key="logs/shop-kr/events-2026-11-28.csv", Body=rows.encode())
    found = detect_changes(remote, store)
    assert found.changed == ["shop-kr"] and all(k.endswith("/kwrec.toml") for k in gets), gets
    again = train_release(remote, store, timestamp="2612020100", evaluate=False)
    assert again.reused == ["books-en", "news-kr"]
    assert (
        again.manifest.customers["shop-kr"].stats["events"]
        == a.manifest.customers["shop-kr"].stats["events"] + 1
    )
    logs_read = {k for k in gets if not k.endswith("/kwrec.toml")}
    assert logs_read and all(k.startswith("logs/shop-kr/") for k in logs_read), (
        gets
    )  # the changed customer's only


def test_bad_and_vanished_objects_are_quarantined_like_bad_files(
    tmp_path: Path, s3_bucket: str, moto_endpoint: str, s3_logs: tuple[Any, list[str]]
) -> None:
    client, _ = s3_logs
    client.put_object(
        Bucket=s3_bucket, Key="logs/news-kr/broken.txt.gz", Body=b"\x1f\x8b\x08\x00" + b"\xff" * 64
    )
    client.put_object(Bucket=s3_bucket, Key="logs/news-kr/gone.csv", Body=b"query\nx\n")
    client.put_object(Bucket=s3_bucket, Key="logs/news-kr/notes.pdf", Body=b"%PDF")
    source = open_logs(f"s3://{s3_bucket}/logs", S3Settings(endpoint_url=moto_endpoint))
    logs = source.customer("news-kr")
    listed = [f.rel for f in logs.files()]
    assert listed == ["broken.txt.gz", "gone.csv", "notes.pdf", "queries.txt.gz"]
    client.delete_object(Bucket=s3_bucket, Key="logs/news-kr/gone.csv")  # gone after the listing
    client.put_object(
        Bucket=s3_bucket,
        Key="logs/news-kr/queries.txt.gz",
        Body=(SAMPLE / "news-kr" / "queries.txt.gz").read_bytes(),
    )
    quarantine = Quarantine(tmp_path / "q.jsonl")
    events = read_customer_logs(logs, load_customer_config(logs), quarantine)
    assert events.height > 0  # the good file is read
    assert quarantine.counts == {"corrupt gzip": 1, "unreadable file": 1, "unsupported file type": 1}
    quarantined = (tmp_path / "q.jsonl").read_text()
    for name in ("broken.txt.gz", "gone.csv", "notes.pdf"):
        assert f"news-kr/{name}" in quarantined


def test_an_object_replaced_after_the_listing_is_not_read_as_the_listed_one(
    tmp_path: Path, s3_bucket: str, moto_endpoint: str, s3_logs: tuple[Any, list[str]]
) -> None:
    client, _ = s3_logs
    source = open_logs(f"s3://{s3_bucket}/logs", S3Settings(endpoint_url=moto_endpoint))
    logs = source.customer("shop-kr")
    logs.files()
    client.put_object(Bucket=s3_bucket, Key="logs/shop-kr/events-2026-11-24.csv", Body=b"query\nchanged\n")
    quarantine = Quarantine(tmp_path / "q.jsonl")
    read_customer_logs(logs, load_customer_config(logs), quarantine)
    assert quarantine.counts.get("unreadable file") == 1  # its fingerprint named the old content
    assert "PreconditionFailed" in (tmp_path / "q.jsonl").read_text()


def test_a_missing_bucket_or_prefix_is_a_clear_error(
    tmp_path: Path, moto_endpoint: str, aws_env: None
) -> None:
    settings = _settings(tmp_path, "s3://no-such-bucket-kwrec/logs", moto_endpoint)
    with pytest.raises(DataError, match="s3://no-such-bucket-kwrec/logs/ does not exist"):
        train_release(settings, open_store(settings.store), timestamp="2612010100", evaluate=False)
    with pytest.raises(DataError, match="invalid S3 bucket name"):
        list_customers(open_logs("s3://Bad_Bucket/x", S3Settings(endpoint_url=moto_endpoint)))
