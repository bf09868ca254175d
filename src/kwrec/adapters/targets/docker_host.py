"""The ``docker`` target: one Docker host, release containers behind a local nginx on the stable port.

A deploy starts the new release's container beside the live one (on a 127.0.0.1 port fixed at creation,
so a restart keeps it; and, for images that can, on a unix socket), waits for ``/readyz``, lets the
pipeline verify it directly, switches the proxy (:mod:`kwrec.adapters.targets.nginx`), and only then
stops the old container. A watchdog (:mod:`kwrec.adapters.targets.docker_watch`) keeps the live one
running. Stopped containers of the previous release are kept, so a rollback starts
one again instead of pulling and loading from scratch; older ones are removed.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker.errors
import httpx
import requests

from kwrec.adapters import engine
from kwrec.adapters.image.context import UDS_LABEL
from kwrec.adapters.targets import Prepared
from kwrec.adapters.targets.docker_watch import LIVE_FILE, LOG_FILE, PID_FILE
from kwrec.adapters.targets.nginx import NginxProxy, running_pid
from kwrec.core.manifest import Manifest
from kwrec.errors import DeployError, TargetError
from kwrec.reporting import Report
from kwrec.settings.deploy import DockerTargetSettings

LABEL_TARGET = "kwrec.deploy.target"
LABEL_VERSION = "kwrec.deploy.version"
_SOCKET_DIR_IN_CONTAINER = "/run/kwrec"
_SOCKET_NAME = "api.sock"
_ENGINE_ERRORS = (docker.errors.DockerException, requests.RequestException)


def image_reference(manifest: Manifest) -> tuple[str, str | None]:
    """(what to run, its registry digest): the pushed ``repo@sha256:...``, else the built image id."""
    image = manifest.image
    if image is not None and image.reference and image.digest:
        return image.reference, image.digest
    if image is not None and image.id:
        return image.id, None
    raise DeployError(
        f"release {manifest.version} has no image",
        hint=f"run `kwrec build --version {manifest.version}` and `kwrec push --version {manifest.version}`",
    )


class DockerTarget:
    kind = "docker"

    def __init__(self, cfg: DockerTargetSettings, target: str, report: Report, pull_auth: Any = None) -> None:
        self.cfg = cfg
        self.target = target
        self.report = report
        self.pull_auth = pull_auth  # callable -> docker auth_config dict or None (registry login)
        self.client = engine.connect(timeout=120)
        self.proxy = NginxProxy(
            cfg.nginx,
            cfg.state_dir / target,
            cfg.proxy_host,
            cfg.proxy_port,
            live_link=(cfg.socket_dir / target / "live.sock").absolute(),
        )
        self._warned_socket_dir = False

    @property
    def public_url(self) -> str:
        return self.proxy.url

    def container_name(self, version: str) -> str:
        return f"{self.cfg.container_prefix}-{self.target}-{version}"

    # ---- engine calls -----------------------------------------------------------------------
    def _container(self, name: str) -> Any | None:
        try:
            return self.client.containers.get(name)
        except docker.errors.NotFound:
            return None
        except _ENGINE_ERRORS as exc:
            raise TargetError(f"cannot inspect container {name}: {exc}") from None

    def _ensure_image(self, ref: str) -> None:
        if engine.inspect_image(self.client, ref) is not None:
            return
        if "@sha256:" not in ref:
            raise DeployError(f"image {ref} is not in the engine and has no registry digest to pull")
        self.report(f"pulling {ref}")
        auth = self.pull_auth() if self.pull_auth is not None else None
        try:
            self.client.images.pull(ref, auth_config=auth)
        except _ENGINE_ERRORS as exc:
            # The engine's message names the registry and the reason, never the credentials.
            raise TargetError(f"cannot pull {ref}: {getattr(exc, 'explanation', None) or exc}") from None

    def _host_port(self, container: Any) -> int:
        container.reload()
        bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{self.cfg.container_port}/tcp")
        if not bindings:
            raise TargetError(f"container {container.name} publishes no port")
        return int(bindings[0]["HostPort"])

    def prepare(self, manifest: Manifest) -> Prepared:
        """Run (or restart the kept container of) the release and wait until it is ready."""
        ref, digest = image_reference(manifest)
        name = self.container_name(manifest.version)
        container = self._container(name)
        serving = self.proxy.upstream()
        if container is not None:
            if (
                container.status == "running"
                and serving is not None
                and serving in self._upstreams_of(container)
                and self.proxy.pid() is not None
            ):
                raise DeployError(f"release {manifest.version} is already live on target {self.target}")
            image_id = engine.inspect_image(self.client, ref)
            if (
                container.status != "running"
                and image_id is not None
                and container.image.id == image_id["Id"]
            ):
                self.report(f"starting the kept container {name}")
                self._call(container.start)
            else:
                self.report(f"removing the stale container {name}")
                self._remove(container)
                container = None
        if container is None:
            self._ensure_image(ref)
        config = (engine.inspect_image(self.client, ref) or {}).get("Config") or {}
        socket_mode = self._socket_mode(config)
        if container is None:
            container = self._run(ref, name, manifest.version, config.get("User") if socket_mode else None)
        port = self._host_port(container)
        prepared = Prepared(
            manifest.version,
            f"http://127.0.0.1:{port}",
            {
                "container": name,
                "container_id": container.id[:12],
                "port": port,
                "image": ref,
                "digest": digest,
            },
        )
        try:
            self._wait_ready(container, prepared.url)
        except BaseException:
            # Never leave a broken release's container behind (it would restart forever).
            self.discard(prepared)
            raise
        sock = self._socket_of(name)
        if sock.is_socket():
            prepared.details["socket"] = str(sock)
        elif socket_mode:
            self.report(f"{name} made no unix socket at {sock}: the proxy uses its port (and reloads)")
        return prepared

    def _run(self, ref: str, name: str, version: str, socket_user: str | None) -> Any:
        """Start the release's container on a host port of its own that survives restarts.

        An engine-chosen port (``127.0.0.1::8000``) changes when the restart policy brings a crashed
        container back, and nginx would keep pointing at the old one; a port fixed at creation does not.
        With ``socket_user`` (the image's user; None: no socket mode) the API also listens on a unix
        socket in a host directory that user may write.
        """
        extra: dict[str, Any] = {}
        if socket_user is not None:
            host_dir = self._socket_of(name).parent
            self._make_socket_dir(host_dir, socket_user)
            extra = {
                "volumes": {str(host_dir): {"bind": _SOCKET_DIR_IN_CONTAINER, "mode": "rw"}},
                "environment": {"KWREC_SERVE__UDS": f"{_SOCKET_DIR_IN_CONTAINER}/{_SOCKET_NAME}"},
            }
        last: Exception | None = None
        for _ in range(5):  # the free port can be taken between the probe and the engine's bind
            port = _free_loopback_port()
            self.report(f"starting {name} from {ref} on 127.0.0.1:{port}")
            try:
                return self.client.containers.run(
                    ref,
                    name=name,
                    detach=True,
                    **extra,
                    ports={f"{self.cfg.container_port}/tcp": ("127.0.0.1", port)},
                    restart_policy={"Name": self.cfg.restart_policy}
                    if self.cfg.restart_policy != "on-failure"
                    else {"Name": "on-failure", "MaximumRetryCount": 3},
                    labels={LABEL_TARGET: self.target, LABEL_VERSION: version},
                )
            except _ENGINE_ERRORS as exc:
                last = exc
                stale = self._container(name)
                if stale is not None:  # created, but its port could not be bound: not its socket dir
                    self._call(functools.partial(stale.remove, force=True))
                if "port is already allocated" not in str(exc) and "address already in use" not in str(exc):
                    break
        raise TargetError(f"cannot start {name}: {getattr(last, 'explanation', None) or last}") from None

    def _socket_of(self, container_name: str) -> Path:
        return (self.cfg.socket_dir / self.target / container_name / _SOCKET_NAME).absolute()

    def _socket_mode(self, image_config: dict[str, Any]) -> bool:
        """Whether the image's API can listen on a unix socket (label set by kwrec's build) and nginx's
        workers can reach the socket directory; otherwise the proxy uses loopback ports."""
        if (image_config.get("Labels") or {}).get(UDS_LABEL) != "1":
            return False
        reachable = _traversable_by_all(self.cfg.socket_dir.absolute())
        if not reachable and not self._warned_socket_dir:
            self._warned_socket_dir = True
            self.report(
                f"socket directory {self.cfg.socket_dir} is not traversable by every user (nginx's workers): "
                "using loopback ports; set KWREC_DEPLOY__DOCKER__SOCKET_DIR, e.g. /run/kwrec"
            )
        return reachable

    def _make_socket_dir(self, host_dir: Path, user: str) -> None:
        """The container's socket directory: writable by the image's (non-root) user, reachable by nginx."""
        root = self.cfg.socket_dir.absolute()
        for d in (root, root / self.target, host_dir):  # each made reachable: a umask may say otherwise
            d.mkdir(mode=0o755, parents=True, exist_ok=True)
            d.chmod(0o755)
        uid, _, gid = user.partition(":")
        try:
            os.chown(host_dir, int(uid), int(gid or uid))
        except (ValueError, PermissionError):
            host_dir.chmod(0o777)  # not root here, or a named user: let the container write its socket

    def _upstreams_of(self, container: Any) -> set[str]:
        """What the proxy points at when this container is the one serving."""
        out = {f"127.0.0.1:{self._host_port(container)}"}
        sock = self._socket_of(container.name)
        if sock.is_socket():
            out.add(f"unix:{sock}")
        return out

    def live_problem(self, live: dict[str, Any]) -> str | None:
        """Why the live release does not serve (its container gone or stopped, the proxy down), or None."""
        name, port = live.get("container"), live.get("port")
        if not name:
            return None
        container = self._container(str(name))
        if container is None:
            return f"the live container {name} is gone"
        if container.status != "running":
            code = container.attrs.get("State", {}).get("ExitCode")
            return f"the live container {name} is {container.status} (exit code {code})"
        if self.proxy.pid() is None:
            return f"the proxy (nginx) of {self.public_url} is not running"
        serving, own = self.proxy.upstream(), self._upstreams_of(container)
        if serving not in own:
            return f"the proxy points at {serving}, but {name} listens on {', '.join(sorted(own))}"
        if port and f"127.0.0.1:{port}" not in own:
            return f"{name} listens on {', '.join(sorted(own))}, the records say port {port}"
        return None

    def _mark_live(self, container: str | None, port: int | None) -> None:
        """Tell the watchdog which container to keep running (and start it if it does not run)."""
        state = self.proxy.dir
        (state / LIVE_FILE).write_text(json.dumps({"container": container, "port": port}))
        if running_pid(state / PID_FILE) is None:
            with (state / LOG_FILE).open("ab") as log_file:
                subprocess.Popen(  # noqa: S603 - fixed argument list: this interpreter and a module
                    [sys.executable, "-m", "kwrec.adapters.targets.docker_watch", str(state)],
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=log_file,
                    start_new_session=True,  # outlives the deploy command, like nginx
                    close_fds=True,
                )

    def _call(self, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except _ENGINE_ERRORS as exc:
            raise TargetError(
                f"Docker Engine call failed: {getattr(exc, 'explanation', None) or exc}"
            ) from None

    def _remove(self, container: Any) -> None:
        self._call(lambda: container.remove(force=True))
        shutil.rmtree(self._socket_of(container.name).parent, ignore_errors=True)

    def _wait_ready(self, container: Any, url: str) -> None:
        deadline = time.monotonic() + self.cfg.readiness_timeout_seconds
        last = "no answer yet"
        polls = 0
        with httpx.Client(base_url=url, timeout=3.0) as http:
            while time.monotonic() < deadline:
                polls += 1
                try:
                    response = http.get("/readyz")
                    if response.status_code == 200:
                        self.report(f"{container.name} ready after {polls} polls")
                        return
                    body = (
                        response.json()
                        if response.headers.get("content-type", "").startswith("application/json")
                        else {}
                    )
                    why = f"{body.get('status', '')} {body.get('error') or ''}".strip()
                    last = f"HTTP {response.status_code} {why}"
                    if body.get("status") == "failed":
                        break  # the server gave up loading: waiting longer cannot help
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                container.reload()
                if container.status not in ("created", "running", "restarting"):
                    last = (
                        f"container {container.status} (exit code {container.attrs['State'].get('ExitCode')})"
                    )
                    break
                time.sleep(0.5)
            else:
                last = f"not ready within {self.cfg.readiness_timeout_seconds:.0f}s (last: {last})"
        logs = container.logs(tail=5).decode("utf-8", "replace").strip().replace("\n", " | ")
        raise DeployError(f"{container.name} never became ready: {last[:400]}; log: {logs[-600:]}")

    def promote(self, prepared: Prepared) -> None:
        self.report(f"switching {self.public_url} to {prepared.details['container']}")
        self.proxy.switch(int(prepared.details["port"]), _socket(prepared.details))
        prepared.switched = True
        self._mark_live(str(prepared.details["container"]), int(prepared.details["port"]))
        self._wait_switched(prepared.version)

    def _wait_switched(self, version: str, seconds: float = 15.0) -> None:
        # `nginx -s reload` only signals the master; the new workers take over a moment later.
        deadline = time.monotonic() + seconds
        seen, streak = "nothing", 0
        with httpx.Client(base_url=self.public_url, timeout=3.0) as http:
            while time.monotonic() < deadline:
                try:
                    seen = str(http.get("/version").json().get("model_version"))
                except (httpx.HTTPError, ValueError) as exc:
                    seen = type(exc).__name__
                streak = streak + 1 if seen == version else 0
                if streak >= 3:
                    return
                time.sleep(0.1)
        raise TargetError(
            f"the proxy at {self.public_url} still answers {seen} {seconds:.0f}s after switching"
        )

    def restore(self, prepared: Prepared, previous: dict[str, Any]) -> None:
        """Undo a deploy: proxy back to the previous container (still running), remove the new one."""
        if prepared.switched and previous.get("port"):
            self.report(f"switching {self.public_url} back to {previous.get('container')}")
            self.proxy.switch(int(previous["port"]), _socket(previous))
            self._mark_live(previous.get("container"), int(previous["port"]))
        self.discard(prepared)

    def discard(self, prepared: Prepared) -> None:
        container = self._container(str(prepared.details["container"]))
        if container is not None:
            self._remove(container)

    def retire(self, previous: dict[str, Any], keep_version: str | None) -> None:
        """Stop the replaced container (kept for rollback) after in-flight requests drained; remove others."""
        time.sleep(self.cfg.drain_seconds)
        name = previous.get("container")
        if name:
            old = self._container(str(name))
            if old is not None and old.status == "running":
                self.report(f"stopping {name} (kept for rollback)")
                self._call(lambda: old.stop(timeout=self.cfg.stop_timeout_seconds))
        self.prune(keep={v for v in (keep_version,) if v})

    def reconcile(self, live: dict[str, Any], keep: set[str]) -> list[str]:
        """After a deploy died half-way: the proxy back on the recorded live container, orphans removed.

        ``live`` is the alias record's details of the live release (container, port); ``keep`` the
        versions whose containers stay (live and previous). Returns what was changed, for the report.
        """
        done: list[str] = []
        name, port = live.get("container"), live.get("port")
        serving = self.proxy.upstream()
        container = self._container(str(name)) if name else None
        if (
            container is not None
            and port
            and container.status == "running"
            and serving not in self._upstreams_of(container)
        ):
            self.proxy.switch(int(port), _socket(live))
            self._mark_live(str(name), int(port))
            done.append(f"proxy switched back from {serving} to the live {name}")
        for c in self._own_containers():
            if c.labels.get(LABEL_VERSION) not in keep:
                self._remove(c)
                done.append(f"removed the orphaned container {c.name} ({c.status})")
        return done

    def _own_containers(self) -> list[Any]:
        """Every container of this target, running or not (by its label)."""
        try:
            found: list[Any] = self.client.containers.list(
                all=True, filters={"label": f"{LABEL_TARGET}={self.target}"}
            )
        except _ENGINE_ERRORS as exc:
            raise TargetError(f"cannot list containers: {exc}") from None
        return found

    def prune(self, keep: set[str]) -> list[str]:
        """Remove this target's stopped containers except those of ``keep`` versions."""
        removed = []
        for c in self._own_containers():
            if c.status != "running" and c.labels.get(LABEL_VERSION) not in keep:
                self._remove(c)
                removed.append(c.name)
        return removed


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _socket(details: dict[str, Any]) -> Path | None:
    return Path(details["socket"]) if details.get("socket") else None


def _traversable_by_all(path: Path) -> bool:
    """Whether every existing directory on the way to ``path`` lets other users through (o+x)."""
    return all(d.stat().st_mode & stat.S_IXOTH for d in [path, *path.parents] if d.exists())
