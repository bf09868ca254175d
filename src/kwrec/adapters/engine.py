"""Docker Engine adapter: the only module that talks to the engine (docker SDK for Python, API 1.41).

The engine reports build and push failures *inside* a 200 response stream, so every decoded chunk
is checked for ``error``/``errorDetail``, and success additionally needs ``aux.ID`` (build) or
``aux.Digest`` (push). ``DOCKER_HOST`` (unix socket or tcp, TLS via ``DOCKER_TLS_VERIFY`` and
``DOCKER_CERT_PATH``) is honoured through ``docker.from_env``.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import requests

from kwrec.errors import BuildError, EngineError, PushError, RegistryAuthError, RegistryUnavailableError
from kwrec.reporting import Report

# Push statuses that repeat per layer while bytes move; the other statuses are worth a log line.
_PROGRESS_STATUSES = frozenset({"Preparing", "Waiting", "Pushing"})
_STEP_RE = re.compile(r"^Step (\d+)/(\d+) : ")
_RETRYING_RE = re.compile(r"^Retrying in \d+ seconds?", re.I)
_TAIL_LINES = 15
# Push errors that a retry cannot fix (wrong or missing credentials, no permission).
_AUTH_RE = re.compile(
    r"unauthorized|authentication required|no basic auth credentials|denied|forbidden|\b401\b|\b403\b", re.I
)
# Push errors that may pass on their own: the registry is down, restarting, overloaded or slow.
_TRANSIENT_RE = re.compile(
    r"connection refused|connection reset|i/o timeout|timeout|timed out|\bEOF\b|no such host|"
    r"\b50[0234]\b|bad gateway|service unavailable|too many requests|\b429\b|broken pipe|dial tcp",
    re.I,
)


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def connect(timeout: int = 900) -> Any:
    """A docker client for ``DOCKER_HOST`` (or the default socket), checked with a ping."""
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise EngineError(
            f"Docker Engine at {engine_address()} does not answer: {_short(exc)}",
            hint="start it (bash scripts/ensure-docker-engine.sh) or point DOCKER_HOST at a running engine",
        ) from None
    return client


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1][:300] if text else type(exc).__name__


@dataclass
class BuildResult:
    image_id: str
    steps: list[tuple[str, bool]] = field(default_factory=list)  # (step line, served from cache)
    log: list[str] = field(default_factory=list)

    @property
    def uncached_steps(self) -> list[str]:
        return [step for step, cached in self.steps if not cached]


class _BuildLog:
    def __init__(self, sink: Report) -> None:
        self.sink = sink
        self.partial = ""
        self.lines: list[str] = []
        self.tail: deque[str] = deque(maxlen=_TAIL_LINES)
        self.steps: list[tuple[str, bool]] = []

    def feed(self, text: str) -> None:
        # The engine splits lines across chunks at will: emit whole lines only.
        self.partial += text
        *done, self.partial = self.partial.split("\n")
        for line in done:
            self._line(line.rstrip("\r"))

    def flush(self) -> None:
        if self.partial:
            self._line(self.partial)
            self.partial = ""

    def _line(self, line: str) -> None:
        if not line.strip():
            return
        self.lines.append(line)
        self.tail.append(line)
        if _STEP_RE.match(line):
            self.steps.append((line, False))
        elif line.strip() == "---> Using cache" and self.steps:
            self.steps[-1] = (self.steps[-1][0], True)
        self.sink(line)

    @property
    def current_step(self) -> str:
        return self.steps[-1][0] if self.steps else "(before the first step)"

    def failure(self, what: str) -> str:
        tail = "\n".join(f"  | {line}" for line in self.tail)
        return f"image build failed at {self.current_step}: {what}\nlast log lines:\n{tail}"


def build(
    client: Any,
    context: bytes,
    tag: str,
    labels: Mapping[str, str],
    sink: Report,
    *,
    nocache: bool = False,
) -> BuildResult:
    """Build from an in-memory tar context; stream the log to ``sink``; raise :class:`BuildError`."""
    log = _BuildLog(sink)
    image_id: str | None = None
    try:
        stream: Iterable[dict[str, Any]] = client.api.build(
            fileobj=_Reader(context),
            custom_context=True,
            tag=tag,
            labels=dict(labels),
            rm=True,
            forcerm=True,
            pull=False,  # nothing can be pulled here, and a build must use the base image it was given
            nocache=nocache,
            decode=True,
            # The client's proxy settings would become build args (stored in the image history).
            use_config_proxy=False,
        )
        for chunk in stream:
            if "stream" in chunk:
                log.feed(str(chunk["stream"]))
            if "error" in chunk or "errorDetail" in chunk:
                log.flush()
                detail = chunk.get("errorDetail") or {}
                message = str(detail.get("message") or chunk.get("error") or "unknown error").strip()
                raise BuildError(log.failure(message))
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                image_id = str(aux["ID"])
        log.flush()
    except docker.errors.APIError as exc:
        log.flush()
        raise BuildError(
            log.failure(f"the engine refused the build: {exc.explanation or _short(exc)}")
        ) from None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        log.flush()
        raise EngineError(
            log.failure(f"lost the Docker Engine at {engine_address()}: {_short(exc)}"),
            hint="check that the engine is running; the build is cancelled when the connection drops",
        ) from None
    if image_id is None:
        raise BuildError(log.failure("the build stream ended without an image id"))
    return BuildResult(image_id=image_id, steps=log.steps, log=log.lines)


class _Reader:
    """A file-like view of the context bytes, without copying them (the SDK streams it as the body)."""

    def __init__(self, data: bytes) -> None:
        self._view = memoryview(data)
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size < 0 else min(len(self._view), self._pos + size)
        chunk = bytes(self._view[self._pos : end])
        self._pos = end
        return chunk

    def __iter__(self) -> Any:
        while chunk := self.read(1 << 20):
            yield chunk


def inspect_image(client: Any, ref: str) -> dict[str, Any] | None:
    try:
        attrs: dict[str, Any] = client.api.inspect_image(ref)
    except docker.errors.ImageNotFound:
        return None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise EngineError(f"cannot inspect image {ref} at {engine_address()}: {_short(exc)}") from None
    return attrs


def tag(client: Any, image_id: str, repository: str, tag_name: str) -> None:
    try:
        ok = client.api.tag(image_id, repository, tag_name, force=True)
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise EngineError(f"cannot tag {image_id[:19]} as {repository}:{tag_name}: {_short(exc)}") from None
    if not ok:
        raise EngineError(f"the engine did not tag {image_id[:19]} as {repository}:{tag_name}")


def push(
    client: Any, repository: str, tag_name: str, auth_config: dict[str, str] | None, who: str, sink: Report
) -> str:
    """Push ``repository:tag`` and return the digest the engine reports.

    Raises :class:`RegistryAuthError` (do not retry), :class:`RegistryUnavailableError` (retry) or
    :class:`PushError`. ``who`` names the credentials for messages; the secret never appears.
    """
    ref = f"{repository}:{tag_name}"
    digest: str | None = None
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    retried: set[str] = set()
    try:
        stream: Iterable[dict[str, Any]] = client.api.push(
            repository, tag=tag_name, stream=True, decode=True, auth_config=auth_config
        )
        for chunk in stream:
            if "error" in chunk or "errorDetail" in chunk:
                detail = chunk.get("errorDetail") or {}
                message = str(detail.get("message") or chunk.get("error") or "unknown error").strip()
                raise _classify(message, ref, who)
            status = chunk.get("status")
            if status and _RETRYING_RE.match(str(status)):
                # The engine retries a layer upload by itself, with one line a second per layer: a registry
                # that dies mid-push gave ~100 of them. Counted here, reported once.
                retried.add(str(chunk.get("id") or ""))
                continue
            # Per-layer outcomes only: the byte progress lines would flood a log.
            if status and status not in _PROGRESS_STATUSES:
                line = f"{chunk['id']}: {status}" if chunk.get("id") else str(status)
                tail.append(line)
                sink(line)
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("Digest"):
                digest = str(aux["Digest"])
    except docker.errors.APIError as exc:
        raise _classify(str(exc.explanation or _short(exc)), ref, who) from None
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise EngineError(
            f"lost the Docker Engine at {engine_address()} while pushing {ref}: {_short(exc)}"
        ) from None
    finally:
        if retried:
            sink(f"the engine retried the upload of {len(retried)} layer(s) while pushing {ref}")
    if digest is None:
        last = "\n".join(f"  | {line}" for line in tail)
        raise PushError(f"push of {ref} ended without a digest\nlast log lines:\n{last}")
    return digest


def _classify(message: str, ref: str, who: str) -> PushError:
    if _AUTH_RE.search(message):
        return RegistryAuthError(
            f"push of {ref} refused: {message} (credentials: {who})",
            hint="check the registry user and KWREC_IMAGE__REGISTRY__PASSWORD",
        )
    if _TRANSIENT_RE.search(message):
        return RegistryUnavailableError(f"push of {ref} failed: {message}")
    return PushError(f"push of {ref} failed: {message}")
