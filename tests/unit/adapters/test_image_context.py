"""Image pieces that need no engine: Dockerfile order, context tar, wheels lock, credentials, ECR token."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kwrec.adapters.image.context import assemble
from kwrec.adapters.image.dockerfile import DockerfileSpec, render
from kwrec.adapters.image.wheels import COMMITTED_LOCK, WheelSet, project_dir, runtime_lock
from kwrec.adapters.registries import RegistryCredentials
from kwrec.adapters.registries.ecr import EcrLogin, decode_token
from kwrec.adapters.registries.v2 import base_url
from kwrec.adapters.stores import open_store
from kwrec.core.manifest import read_manifest
from kwrec.errors import RegistryAuthError
from kwrec.pipeline.train import train_release
from kwrec.settings import Settings
from kwrec.settings.image import ImageSettings, RegistrySettings

VERSION = "gs_2611270900"


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("store")
    store = open_store(str(root))
    train_release(
        Settings(store=str(root)), store, timestamp="2611270900", data_dir=Path("data/sample"), evaluate=False
    )
    return store


def _fake_wheels(tmp: Path) -> WheelSet:
    deps = tmp / "deps"
    deps.mkdir()
    (deps / "requirements.lock").write_text("x==1\n")
    (deps / "x-1-py3-none-any.whl").write_bytes(b"wheel")
    whl = tmp / "kwrec-0.1.0-py3-none-any.whl"
    whl.write_bytes(b"kwrec")
    return WheelSet(kwrec_wheel=whl, deps_dir=deps, lock="x==1\n")


def test_dockerfile_puts_models_last_and_runs_as_non_root() -> None:
    text = render(DockerfileSpec("base:1", VERSION, "kwrec.whl", ("models/a", "models/b"), "release"))
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    copies = [i for i, line in enumerate(lines) if line.startswith("COPY models/")]
    assert lines[copies[0] - 1].startswith(
        "CMD"
    )  # nothing but models and the version after the runtime config
    assert lines[-2] == "COPY release/ /"
    assert lines[-1] == f"ENV MODEL_VERSION={VERSION} KWREC_SERVE__MODEL_VERSION={VERSION}"
    assert lines.index("COPY deps/ /wheels/") < lines.index("COPY kwrec/ /tmp/kwrec-wheel/") < copies[0]
    assert "USER 10001:10001" in lines and "EXPOSE 8000" in lines
    assert any(line.startswith("HEALTHCHECK") and "/readyz" in line for line in lines)
    assert "--no-index" in text and "curl" not in text


def test_context_is_deterministic_and_holds_a_local_store(release: Any, tmp_path: Path) -> None:
    manifest = read_manifest(release, VERSION)
    wheels = _fake_wheels(tmp_path)
    a = assemble(release, manifest, wheels, "base:1", tmp_path / "cache")
    b = assemble(release, manifest, wheels, "base:1", tmp_path / "cache")
    assert a.data == b.data and a.manifest_digest == b.manifest_digest
    with tarfile.open(fileobj=io.BytesIO(a.data)) as tar:
        names = tar.getnames()
    assert "Dockerfile" in names and "deps/requirements.lock" in names
    assert f"release/srv/kwrec/store/releases/{VERSION}/manifest.json" in names
    for customer, entry in manifest.customers.items():
        assert f"models/{customer}/srv/kwrec/store/{entry.artifact_key}/.complete" in names
    # Only the listed files: nothing of the working tree.
    assert not any(n.startswith(("src/", ".git", "tests/")) for n in names)
    # A recorded push does not change what goes into the image.
    manifest.image = {"digest": "sha256:x"}
    assert (
        assemble(release, manifest, wheels, "base:1", tmp_path / "cache").manifest_digest == a.manifest_digest
    )


TRAINING_AND_RELEASE = {"polars", "duckdb", "pyarrow", "rapidfuzz", "boto3", "botocore", "docker", "httpx"}


def test_the_image_lock_pins_the_serving_stack_only() -> None:
    """The release image holds what `kwrec serve` needs; training, building and AWS stay out."""
    lock = runtime_lock()
    names = {line.split("==")[0] for line in lock.splitlines()}
    assert {"fastapi", "uvicorn", "numpy", "pydantic", "orjson", "prometheus-client", "typer"} <= names
    assert not names & TRAINING_AND_RELEASE
    assert not names & {"pytest", "mypy", "ruff", "moto", "hypothesis"}
    assert all("==" in line for line in lock.splitlines())
    everything = {line.split("==")[0] for line in runtime_lock(extras=("all",)).splitlines()}
    assert everything >= TRAINING_AND_RELEASE and names <= everything


def test_the_committed_locks_match_this_venv() -> None:
    """image.lock (serving) and venv.lock (the whole chain) are what `make image-lock` writes here."""
    root = project_dir(None)
    assert (root / COMMITTED_LOCK).read_text() == runtime_lock(), "run `make image-lock`"
    assert (root / "venv.lock").read_text() == runtime_lock(extras=("all",)), "run `make image-lock`"


def test_serving_never_imports_the_training_or_release_stack(
    tmp_path: Path, sample_store: tuple[Settings, Any]
) -> None:
    """A real API process on a trained release: start, load, answer every kind; then list its modules."""
    store = sample_store[0].store
    code = f"""
import sys, time
from fastapi.testclient import TestClient
from kwrec.settings import Settings
import kwrec.cli.serve  # the image's entry point (python -m kwrec.cli.serve)
from kwrec.api.app import create_app
with TestClient(create_app(Settings(store={store!r}, cache_dir={str(tmp_path)!r}))) as api:
    for _ in range(100):
        if api.get("/readyz").status_code == 200:
            break
        time.sleep(0.1)
    for path in ("autocomplete?q=아이ㅍ", "related?q=아이폰", "popular", "trending"):
        assert api.get(f"/v1/shop-kr/{{path}}").status_code == 200, path
loaded = {{m.split(".")[0] for m in sys.modules}} - {{"httpx", "httpcore"}}  # TestClient's own client
print(sorted(loaded & set({sorted(TRAINING_AND_RELEASE)!r})))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_committed_image_lock_matches_the_tested_environment() -> None:
    # The suite runs under the image's pins (make installs with -c image.lock): what ships is what ran.
    committed = (project_dir() / COMMITTED_LOCK).read_text()
    assert committed == runtime_lock(), "run `make image-lock` after changing runtime dependencies"


def test_credentials_never_show_the_password() -> None:
    creds = RegistryCredentials("127.0.0.1:5001", "kwrec-test", "s3cret-value")
    assert "s3cret-value" not in repr(creds) and "s3cret-value" not in creds.describe()
    assert creds.auth_config() == {
        "username": "kwrec-test",
        "password": "s3cret-value",
        "serveraddress": "127.0.0.1:5001",
    }
    settings = ImageSettings(registry=RegistrySettings(url="http://127.0.0.1:5001/", password="s3cret-value"))
    assert settings.registry.url == "127.0.0.1:5001"
    assert "s3cret-value" not in repr(settings) and "s3cret-value" not in settings.model_dump_json()
    assert base_url("127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert base_url("1234.dkr.ecr.us-east-1.amazonaws.com") == "https://1234.dkr.ecr.us-east-1.amazonaws.com"


def test_ecr_token_is_decoded_and_refreshed_before_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    now = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

    class FakeEcr:
        def get_authorization_token(self, **_: Any) -> dict[str, Any]:
            calls.append(1)
            token = base64.b64encode(f"AWS:token-{len(calls)}".encode()).decode()
            return {
                "authorizationData": [
                    {
                        "authorizationToken": token,
                        "expiresAt": now + timedelta(hours=12),
                        "proxyEndpoint": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
                    }
                ]
            }

    login = EcrLogin("us-east-1")
    monkeypatch.setattr(login, "_client", FakeEcr)
    first = login.credentials(now)
    assert (first.username, first.password, first.server) == (
        "AWS",
        "token-1",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com",
    )
    assert login.credentials(now + timedelta(hours=11)).password == "token-1"  # still valid: cached
    assert login.credentials(now + timedelta(hours=11, minutes=50)).password == "token-2"  # about to expire
    with pytest.raises(RegistryAuthError):
        decode_token(base64.b64encode(b"no-colon").decode())


def test_a_damaged_wheel_cache_is_rebuilt_not_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: a truncated wheel in var/wheels broke every later build (it was never checked again)."""
    from kwrec.adapters.image import wheels as w

    builds: list[list[str]] = []

    def fake_pip(args: list[str], what: str) -> None:  # pip's job: put a wheel into --wheel-dir
        builds.append(args)
        out = Path(args[args.index("--wheel-dir") + 1])
        out.mkdir(parents=True, exist_ok=True)
        (out / "kwrec-0.1.0-cp311-cp311-linux_x86_64.whl").write_bytes(b"PK wheel bytes %d" % len(builds))

    monkeypatch.setattr(w, "_run_pip", fake_pip)
    root = w.project_dir(None)
    first = w.kwrec_wheel(tmp_path, root)
    assert w.kwrec_wheel(tmp_path, root) == first and len(builds) == 1  # intact: reused
    first.write_bytes(first.read_bytes()[:-3])  # truncated in the cache
    again = w.kwrec_wheel(tmp_path, root)
    assert len(builds) == 2 and again.read_bytes() == b"PK wheel bytes 2"  # verified, found damaged, rebuilt
    assert (again.parent / w.SUMS_NAME).is_file()
    assert w.SUMS_NAME.startswith(".")  # never copied into the build context (dep_files skips dot names)


def test_a_push_reports_the_engines_own_retries_once() -> None:
    """A registry dying mid-push: the engine streams 'Retrying in N seconds' per layer and second."""
    from kwrec.adapters import engine
    from kwrec.errors import PushError

    stream = [{"status": "Preparing", "id": "l1"}, {"status": "Preparing", "id": "l2"}]
    stream += [
        {"status": f"Retrying in {n} seconds", "id": layer}
        for n in range(10, 0, -1)
        for layer in ("l1", "l2")
    ]
    stream += [{"errorDetail": {"message": "received unexpected HTTP status: 500 Internal Server Error"}}]

    class Api:
        def push(self, *_a: object, **_k: object) -> list[dict[str, object]]:
            return stream

    class Client:
        api = Api()

    lines: list[str] = []
    with pytest.raises(PushError, match="500"):
        engine.push(Client(), "127.0.0.1:5000/k", "1", None, "anonymous", lines.append)
    assert not any(line.startswith(("l1: Retrying", "l2: Retrying", "Retrying")) for line in lines), lines
    assert lines == ["the engine retried the upload of 2 layer(s) while pushing 127.0.0.1:5000/k:1"]
