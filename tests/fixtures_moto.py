"""Real moto servers on loopback (S3 here; the ECR and ECS tests use moto_server too), a pytest plugin."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from tests.support import free_port

FAKE_KEY_ID = "AKIAFAKEKWRECTEST000"
FAKE_SECRET = "fake-secret-kwrec-do-not-print-0123456789"  # tests assert this never shows up in messages


@contextmanager
def moto_server(patch: Callable[[pytest.MonkeyPatch], None]) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of an in-process moto server, with ``patch`` applied to moto meanwhile."""
    port = free_port()
    with pytest.MonkeyPatch.context() as mp:
        patch(mp)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server that lives for the test session."""
    with moto_server(_make_conditional_puts_atomic) as url:
        yield url


def _make_conditional_puts_atomic(mp: pytest.MonkeyPatch) -> None:
    """Give moto the atomicity real S3 has for If-Match / If-None-Match PUTs.

    moto (5.2) checks the condition and then stores the object without a lock, and its server
    handles requests in threads, so two racing conditional PUTs can both succeed (seen about once
    in 50 runs of the competing-writer test). Real S3 serialises them (412 or 409 for the loser).
    Serialising PutObject in the in-process server makes the fake as strict as the real thing.
    """
    from moto.s3.responses import S3Response

    lock = threading.Lock()
    original = S3Response.put_object

    def put_object(self: Any) -> Any:
        with lock:
            return original(self)

    mp.setattr(S3Response, "put_object", put_object)


@pytest.fixture
def fake_credentials() -> tuple[str, str]:
    """The (key id, secret) that aws_env sets: tests assert neither shows up in any message."""
    return FAKE_KEY_ID, FAKE_SECRET


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (for unreachable-endpoint tests)."""
    return free_port()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Fake credentials only, so no test can ever reach a real account or read ~/.aws."""
    nowhere = tmp_path_factory.mktemp("aws") / "absent"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(nowhere))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(nowhere))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def s3_bucket(moto_endpoint: str, aws_env: None) -> Iterator[str]:
    """A fresh bucket per test; the server's state is reset afterwards."""
    name = f"kwrec-test-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    yield name
    httpx.post(f"{moto_endpoint}/moto-api/reset", timeout=10)
