"""Build, push, pull and run release images against the real engine and the real local registries.

Needs what scripts/setup-test-env.sh starts (CI runs it first): the engine on /var/run/docker.sock,
the base image named in var/base-image, registries on 127.0.0.1:5000 (open) and :5001 (htpasswd).
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from kwrec.adapters import engine
from kwrec.adapters.image import context as image_context
from kwrec.adapters.stores import open_store
from kwrec.cli.image import build as build_cmd
from kwrec.cli.image import push as push_cmd
from kwrec.core.manifest import read_manifest
from kwrec.core.store_layout import manifest_key
from kwrec.errors import (
    BuildError,
    EngineError,
    RegistryAuthError,
    RegistryUnavailableError,
    ReleaseNotFoundError,
    TagConflictError,
)
from kwrec.pipeline.image import build_release_image, push_release_image
from kwrec.pipeline.train import train_release
from kwrec.settings import Settings
from tests.fixtures_moto import moto_server
from tests.support import free_port, shard_image

pytestmark = [pytest.mark.docker, pytest.mark.slow]
if not Path("/var/run/docker.sock").exists():
    pytestmark.append(
        pytest.mark.skip(reason="no Docker engine at /var/run/docker.sock (run scripts/setup-test-env.sh)")
    )

ROOT = Path(__file__).resolve().parents[2]
R1, R2 = "gs_2611270900", "gs_2611271000"
OPEN, AUTH = "127.0.0.1:5000", "127.0.0.1:5001"
RUN_ID = uuid.uuid4().hex[:8]


def registry_password() -> str:
    return (ROOT / "var" / "registry-test-password").read_text().strip()


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Two releases: R2 differs from R1 only in shop-kr's model."""
    root = tmp_path_factory.mktemp("store")
    data = tmp_path_factory.mktemp("data")
    shutil.copytree(ROOT / "data" / "sample", data, dirs_exist_ok=True)
    store = open_store(str(root))
    settings = Settings(store=str(root))
    train_release(settings, store, timestamp=R1[3:], data_dir=data, evaluate=False)
    # RUN_ID makes R2's shop-kr model new to the engine: its build cache outlives test runs.
    rows = [
        f"2026-11-27T10:{i:02d}:00+09:00,new-user-{i},new-s-{i},새로운 상품 {RUN_ID} {i % 3},10,1"
        for i in range(30)
    ]
    (data / "shop-kr" / "events-2026-11-27-late.csv").write_text(
        "timestamp,user_id,session_id,query,result_count,clicked\n" + "\n".join(rows) + "\n"
    )
    train_release(settings, store, timestamp=R2[3:], data_dir=data, evaluate=False)
    return str(root)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("KWREC_IMAGE__REPOSITORY", f"kwrec-test/r{RUN_ID}")
    monkeypatch.setenv("KWREC_IMAGE__REGISTRY__URL", OPEN)
    monkeypatch.setenv("KWREC_IMAGE__REGISTRY__BACKOFF_SECONDS", "0.1")
    monkeypatch.setenv("KWREC_IMAGE__REGISTRY__RETRIES", "1")
    monkeypatch.setenv("KWREC_IMAGE__WHEEL_CACHE", str(ROOT / "var" / "wheels"))
    return monkeypatch


def use_auth_registry(env: pytest.MonkeyPatch, user: str = "kwrec-test", password: str | None = None) -> None:
    env.setenv("KWREC_IMAGE__REGISTRY__URL", AUTH)
    env.setenv("KWREC_IMAGE__REGISTRY__USERNAME", user)
    env.setenv("KWREC_IMAGE__REGISTRY__PASSWORD", password or registry_password())


def run(fn: Any, store_url: str, version: str, **kw: Any) -> dict[str, Any]:
    lines: list[str] = []
    out = fn(Settings(store=store_url), open_store(store_url), version, lines.append, **kw)
    # A build answers a BuiltImage, a push a PushRecord: compare their serialised forms (what --json prints).
    result: dict[str, Any] = out.to_dict() if hasattr(out, "to_dict") else out.dump()
    result["_log"] = lines
    return result


@pytest.fixture(scope="module")
def built(store_url: str) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KWREC_IMAGE__REPOSITORY", f"kwrec-test/r{RUN_ID}")
        mp.setenv("KWREC_IMAGE__WHEEL_CACHE", str(ROOT / "var" / "wheels"))
        return {v: run(build_release_image, store_url, v) for v in (R1, R2)}


def test_build_layers_labels_and_cache(built: dict[str, Any], store_url: str) -> None:
    client = engine.connect()
    r1, r2 = built[R1], built[R2]
    attrs = client.api.inspect_image(r1["id"])
    cfg = attrs["Config"]
    assert cfg["User"] == "10001:10001" and "8000/tcp" in cfg["ExposedPorts"]
    assert "/readyz" in " ".join(cfg["Healthcheck"]["Test"])
    assert f"MODEL_VERSION={R1}" in cfg["Env"]
    labels = cfg["Labels"]
    assert labels["org.opencontainers.image.version"] == R1
    assert labels["org.opencontainers.image.created"] and labels["org.opencontainers.image.revision"]
    manifest = read_manifest(open_store(store_url), R1)
    image = shard_image(manifest)
    assert image and image.id == r1["id"] and image.tag == f"{R1[3:]}-s000"
    assert labels["kwrec.release.manifest-digest"] == r1["labels"]["kwrec.release.manifest-digest"]
    # The daily build: every step before the models came from the cache; the log says so.
    uncached = [s for s in r2["uncached_steps"] if " : FROM " not in s]
    assert uncached and all(
        (" : COPY models/" in s or " : COPY release/" in s or " : ENV MODEL_VERSION" in s or " : LABEL " in s)
        for s in uncached
    ), uncached
    assert " : COPY models/shop-kr/" in uncached[0]
    # Unchanged customers give byte-identical layers (already in the registry after one push).
    l1 = client.api.inspect_image(r1["id"])["RootFS"]["Layers"]
    l2 = client.api.inspect_image(r2["id"])["RootFS"]["Layers"]
    n = len(l1)
    assert len(l2) == n
    changed = [i for i in range(n) if l1[i] != l2[i]]
    assert len(changed) == 2, changed  # shop-kr's model layer and the release manifest layer


def test_no_secret_in_the_image(built: dict[str, Any]) -> None:
    secret = registry_password().encode()
    assert secret
    image = engine.connect().images.get(built[R1]["id"])
    blob = b"".join(image.save(chunk_size=1 << 20))
    assert secret not in blob


def test_push_pull_and_run_from_the_open_registry(built: dict[str, Any], store_url: str, env: Any) -> None:
    pushed = run(push_release_image, store_url, R1)
    digest = pushed["digest"]
    assert digest.startswith("sha256:") and any("registry confirms" in line for line in pushed["_log"])
    manifest = read_manifest(open_store(store_url), R1)
    assert shard_image(manifest) and shard_image(manifest).digest == digest  # type: ignore[union-attr]
    # Retrying the same push is a success with the same digest.
    assert run(push_release_image, store_url, R1)["digest"] == digest
    client = engine.connect()
    ref = pushed["reference"]
    pulled = client.images.pull(ref)
    port = free_port()
    container = client.containers.run(pulled.id, detach=True, ports={"8000/tcp": ("127.0.0.1", port)})
    try:
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code
            except httpx.HTTPError:
                status = None
            if status == 200:
                break
            container.reload()
            assert container.status in ("created", "running"), container.logs()[-2000:]
            time.sleep(0.5)
        assert status == 200, container.logs()[-2000:]
        version = httpx.get(f"http://127.0.0.1:{port}/version", timeout=5).json()
        assert R1 in str(version)
    finally:
        container.remove(force=True)
    # The serving image holds the serving stack only, and is small on the wire (the issue's <= 120 MB).
    tag = ref.split("@")[0].split("/", 1)[1]
    wire = httpx.get(
        f"http://127.0.0.1:5000/v2/{tag}/manifests/{digest}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        timeout=10,
    ).json()
    compressed = sum(layer["size"] for layer in wire["layers"])
    assert compressed <= 120_000_000, compressed
    probe = (
        "import importlib.util, sys; "
        "sys.exit(sum(importlib.util.find_spec(m) is not None for m in sys.argv[1:]))"
    )
    heavy = ["polars", "pyarrow", "duckdb", "rapidfuzz", "boto3", "botocore", "docker", "httpx"]
    out = client.containers.run(
        pulled.id, ["/opt/venv/bin/python", "-c", probe, *heavy], remove=True, stderr=True
    )
    assert out == b"", out  # exit code 0: none of them is installed (run() raises on a non-zero exit)


def test_push_to_auth_registry_idempotent_and_conflict(
    built: dict[str, Any], store_url: str, env: Any
) -> None:
    use_auth_registry(env)
    first = run(push_release_image, store_url, R2)
    assert first["registry"] == AUTH
    assert run(push_release_image, store_url, R2)["digest"] == first["digest"]
    # Another image under the same tag: refused, manifest unchanged; --force replaces it.
    other = run(build_release_image, store_url, R2)  # new created label -> new image id
    assert other["id"] != built[R2]["id"]
    store = open_store(store_url)
    before = store.read_bytes(manifest_key(R2))
    with pytest.raises(TagConflictError, match="already exists"):
        run(push_release_image, store_url, R2)
    forced = run(push_release_image, store_url, R2, force=True)
    assert forced["digest"] != first["digest"]
    assert shard_image(read_manifest(store, R2)).digest == forced["digest"]  # type: ignore[union-attr]
    assert before != store.read_bytes(manifest_key(R2))


def assert_fails_cleanly(
    exc_type: type[Exception], store_url: str, fn: Any, version: str, *texts: str
) -> str:
    store = open_store(store_url)
    before = store.read_bytes(manifest_key(version)) if store.exists(manifest_key(version)) else None
    with pytest.raises(exc_type) as info:
        run(fn, store_url, version)
    message = str(info.value)
    for text in texts:
        assert text in message, message
    if before is not None:
        assert store.read_bytes(manifest_key(version)) == before
    return message


def test_wrong_password(built: dict[str, Any], store_url: str, env: Any) -> None:
    use_auth_registry(env, password="wrong-" + RUN_ID)
    message = assert_fails_cleanly(RegistryAuthError, store_url, push_release_image, R1, "kwrec-test", AUTH)
    assert "wrong-" + RUN_ID not in message and registry_password() not in message


def test_registry_down(built: dict[str, Any], store_url: str, env: Any) -> None:
    env.setenv("KWREC_IMAGE__REGISTRY__URL", f"127.0.0.1:{free_port()}")
    assert_fails_cleanly(
        RegistryUnavailableError, store_url, push_release_image, R1, "does not answer", "2 attempts"
    )


def test_engine_down(built: dict[str, Any], store_url: str, env: Any, tmp_path: Path) -> None:
    env.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    assert_fails_cleanly(EngineError, store_url, build_release_image, R1, "does not answer", "nothing.sock")
    assert_fails_cleanly(EngineError, store_url, push_release_image, R1, "does not answer")


def test_unknown_release(store_url: str, env: Any) -> None:
    assert_fails_cleanly(ReleaseNotFoundError, store_url, build_release_image, "gs_2001010000", "not found")


def test_failing_build_step(store_url: str, env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real = image_context.render
    monkeypatch.setattr(
        image_context,
        "render",
        lambda spec: real(spec).replace(
            "WORKDIR /srv/kwrec", "RUN echo about to fail && exit 3\nWORKDIR /srv/kwrec"
        ),
    )
    message = assert_fails_cleanly(
        BuildError, store_url, build_release_image, R1, "RUN echo about to fail", "non-zero code: 3"
    )
    assert "about to fail" in message.split("last log lines:")[1]


def test_cli_exit_codes_and_messages(store_url: str, env: Any) -> None:
    app = typer.Typer()
    app.command()(build_cmd)
    app.command()(push_cmd)
    runner = CliRunner()
    result = runner.invoke(app, ["build", "--store", store_url, "--version", "gs_2001010000"])
    assert result.exit_code != 0 and "not found" in result.output
    env.setenv("KWREC_IMAGE__REGISTRY__URL", f"127.0.0.1:{free_port()}")
    result = runner.invoke(app, ["push", "--store", store_url, "--version", R1])
    assert result.exit_code != 0 and "does not answer" in result.output


@pytest.fixture
def moto_ecr() -> Iterator[str]:
    with moto_server(lambda _: None) as url:
        yield url


def test_ecr_end_to_end(built: dict[str, Any], store_url: str, env: Any, moto_ecr: str) -> None:
    import base64

    import boto3

    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        env.setenv(k, v)
    token = boto3.client("ecr", region_name="us-east-1", endpoint_url=moto_ecr).get_authorization_token()
    user, _, password = (
        base64.b64decode(token["authorizationData"][0]["authorizationToken"]).decode().partition(":")
    )
    assert user == "AWS"
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "registry-htpasswd-add.sh"), "AWS"],
        input=password + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    env.setenv("KWREC_IMAGE__REGISTRY__KIND", "ecr")
    env.setenv("KWREC_IMAGE__REGISTRY__URL", AUTH)
    env.setenv("KWREC_IMAGE__REGISTRY__ECR_ENDPOINT_URL", moto_ecr)
    env.setenv("KWREC_IMAGE__REPOSITORY", f"kwrec-test/ecr{RUN_ID}")
    pushed = run(push_release_image, store_url, R1)
    assert pushed["kind"] == "ecr" and pushed["registry"] == AUTH
    assert shard_image(read_manifest(open_store(store_url), R1)).pushes[-1].digest == pushed["digest"]  # type: ignore[union-attr]
    assert password not in " ".join(pushed["_log"])
