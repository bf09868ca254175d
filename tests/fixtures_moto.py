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


def patch_ecs_rollouts(mp: pytest.MonkeyPatch, outcome: Callable[[Any], str]) -> None:
    """Make moto's ECS deployments behave like ECS's: a service update starts a new PRIMARY deployment
    for the new task definition, IN_PROGRESS, which turns COMPLETED or FAILED (what the circuit breaker
    reports) a moment later; a new service's first deployment does the same. ``outcome(task_definition)``
    (moto's object: ``.arn``, ``.container_definitions``) says which.

    moto (5.x) keeps one deployment per service and never moves it when the task definition changes.
    """
    from moto.ecs.models import EC2ContainerServiceBackend

    original_update = EC2ContainerServiceBackend.update_service
    original_create = EC2ContainerServiceBackend.create_service

    def finish_later(dep: dict[str, Any], state: str) -> None:
        def finish() -> None:
            dep["rolloutState"] = state
            dep["rolloutStateReason"] = (
                "ECS deployment circuit breaker: tasks failed to start."
                if state == "FAILED"
                else "ECS deployment completed."
            )

        threading.Timer(0.6, finish).start()

    def update_service(self: Any, props: dict[str, Any]) -> Any:
        td = props.get("task_definition")
        service = original_update(self, props)
        if td:
            definition = self.describe_task_definition(td)
            for dep in service.deployments:
                dep["status"] = "ACTIVE"
            dep = {
                "id": f"ecs-svc/{len(service.deployments) + 1000}",
                "status": "PRIMARY",
                "taskDefinition": definition.arn,
                "rolloutState": "IN_PROGRESS",
                "rolloutStateReason": "ECS deployment in progress.",
                "desiredCount": service.desired_count,
                "runningCount": 0,
                "pendingCount": service.desired_count,
                "failedTasks": 0,
            }
            service.deployments.insert(0, dep)
            finish_later(dep, outcome(definition))
        return service

    def create_service(self: Any, *args: Any, **kwargs: Any) -> Any:
        service = original_create(self, *args, **kwargs)
        if service.deployments and service.task_definition:
            dep = service.deployments[0]
            dep["rolloutState"] = "IN_PROGRESS"
            finish_later(dep, outcome(self.describe_task_definition(service.task_definition)))
        return service

    mp.setattr(EC2ContainerServiceBackend, "update_service", update_service)
    mp.setattr(EC2ContainerServiceBackend, "create_service", create_service)


def register_api_task(ecs: Any, image: str, *extra: dict[str, Any]) -> str:
    """A Fargate task definition of family kwrec-api whose container ``api`` runs ``image``; its ARN."""
    td = ecs.register_task_definition(
        family="kwrec-api",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            {"name": "api", "image": image, "portMappings": [{"containerPort": 8000}]},
            *extra,
        ],
    )
    return str(td["taskDefinition"]["taskDefinitionArn"])
