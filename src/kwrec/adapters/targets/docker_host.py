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

from kwrec.adapters import engine, targets
from kwrec.adapters.image.context import UDS_LABEL
from kwrec.adapters.targets import NO_RULES, RULES_DIR_IN_CONTAINER, Prepared, RulesWiring
from kwrec.adapters.targets.docker_watch import LIVE_FILE, LOG_FILE, PID_FILE
from kwrec.adapters.targets.fleet_status import shard_state, write_health, write_version
from kwrec.adapters.targets.nginx import NginxProxy, Route, running_pid
from kwrec.core.manifest import ImageRecord, Manifest, release_shards
from kwrec.core.rules_store import RULES_PREFIX
from kwrec.errors import DeployError, TargetError
from kwrec.reporting import Report
from kwrec.settings.deploy import DockerTargetSettings

LABEL_TARGET = "kwrec.deploy.target"
LABEL_VERSION = "kwrec.deploy.version"
_SOCKET_DIR_IN_CONTAINER = "/run/kwrec"
_SOCKET_NAME = "api.sock"
_ENGINE_ERRORS = (docker.errors.DockerException, requests.RequestException)


def image_reference(version: str, image: ImageRecord | None) -> tuple[str, str | None]:
    """(what to run, its registry digest): the pushed ``repo@sha256:...``, else the built image id."""
    if image is not None and image.reference and image.digest:
        return image.reference, image.digest
    if image is not None and image.id:
        return image.id, None
    raise DeployError(
        f"release {version} has no image",
        hint=f"run `kwrec build --version {version}` and `kwrec push --version {version}`",
    )


def shards_of(details: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The per-shard part of a deployment's details; one written before shards is shard s000's."""
    return targets.shards_of(details, ("container", "container_id", "port", "image", "digest", "socket"))


class DockerTarget:
    kind = "docker"
    # nginx answers /version and /readyz for the whole fleet, from status files
    shard_header: str | None = None

    def __init__(
        self,
        cfg: DockerTargetSettings,
        target: str,
        report: Report,
        pull_auth: Any = None,
        rules: RulesWiring = NO_RULES,
    ) -> None:
        self.cfg = cfg
        self.rules = rules
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

    def container_name(self, version: str, shard: str) -> str:
        return f"{self.cfg.container_prefix}-{self.target}-{version}-{shard}"

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
        """Start (or restart the kept container of) every shard that does not serve yet; wait until ready.

        A shard whose container already serves it (unchanged since the live release) is left alone.
        """
        shards: dict[str, dict[str, Any]] = {}
        prepared = Prepared(
            manifest.version,
            self.public_url,
            {"release": manifest.version, "code_version": manifest.code_version, "shards": shards},
        )
        serving = self.proxy.upstreams() if self.proxy.pid() is not None else {}
        started: list[tuple[str, Any]] = []
        try:
            for shard, rec in release_shards(manifest).items():
                name = self.container_name(rec.built_in, shard)
                container = self._container(name)
                if (
                    container is not None
                    and container.status == "running"
                    and serving.get(shard) in self._upstreams_of(container)
                ):
                    ref, digest = image_reference(rec.built_in, rec.image)
                    shards[shard] = self._details(container, ref, digest, rec.built_in, rec.customers)
                    continue
                container, ref, digest = self._start(rec.built_in, rec.image, name, container)
                shards[shard] = self._details(container, ref, digest, rec.built_in, rec.customers)
                prepared.direct[shard] = f"http://127.0.0.1:{shards[shard]['port']}"
                started.append((shard, container))
            for shard, container in started:
                self._wait_ready(container, prepared.direct[shard])
                sock = self._socket_of(container.name)
                if sock.is_socket():  # made by the API once it listens: known only now
                    shards[shard]["socket"] = str(sock)
        except BaseException:
            # Never leave a broken release's container behind (it would restart forever).
            self.discard(prepared)
            raise
        prepared.redeployed = [shard for shard, _ in started]
        if not started:
            self.report(f"every shard of {manifest.version} already runs: only the routing changes")
        return prepared

    def _details(
        self, container: Any, ref: str, digest: str | None, version: str, customers: list[str]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "container": container.name,
            "container_id": container.id[:12],
            "port": self._host_port(container),
            "image": ref,
            "digest": digest,
            "version": version,
            "customers": list(customers),
        }
        sock = self._socket_of(container.name)
        if sock.is_socket():
            out["socket"] = str(sock)
        return out

    def _start(
        self, version: str, image: ImageRecord | None, name: str, container: Any | None
    ) -> tuple[Any, str, str | None]:
        """The shard's container started: the kept one when it runs this image, else a new one."""
        ref, digest = image_reference(version, image)
        if container is not None:
            image_id = engine.inspect_image(self.client, ref)
            if image_id is not None and container.image.id == image_id["Id"] and self._rules_wired(container):
                if container.status != "running":
                    self.report(f"starting the kept container {name}")
                    self._call(container.start)
                return container, ref, digest
            self.report(f"removing the stale container {name}")
            self._remove(container)
        self._ensure_image(ref)
        config = (engine.inspect_image(self.client, ref) or {}).get("Config") or {}
        socket_mode = self._socket_mode(config)
        container = self._run(ref, name, version, config.get("User") if socket_mode else None)
        return container, ref, digest

    def _run(self, ref: str, name: str, version: str, socket_user: str | None) -> Any:
        """Start the release's container on a host port of its own that survives restarts.

        An engine-chosen port (``127.0.0.1::8000``) changes when the restart policy brings a crashed
        container back, and nginx would keep pointing at the old one; a port fixed at creation does not.
        With ``socket_user`` (the image's user; None: no socket mode) the API also listens on a unix
        socket in a host directory that user may write.
        """
        volumes: dict[str, dict[str, str]] = {}
        environment = dict(self.rules.env)
        if socket_user is not None:
            host_dir = self._socket_of(name).parent
            self._make_socket_dir(host_dir, socket_user)
            volumes[str(host_dir)] = {"bind": _SOCKET_DIR_IN_CONTAINER, "mode": "rw"}
            environment["KWREC_SERVE__UDS"] = f"{_SOCKET_DIR_IN_CONTAINER}/{_SOCKET_NAME}"
        if self.rules.host_store is not None:
            # Only the rules: the replica reads nothing else of the store, and cannot write it.
            rules_dir = Path(self.rules.host_store) / RULES_PREFIX
            rules_dir.mkdir(parents=True, exist_ok=True)
            volumes[str(rules_dir)] = {"bind": f"{RULES_DIR_IN_CONTAINER}/{RULES_PREFIX}", "mode": "ro"}
        extra: dict[str, Any] = {"volumes": volumes, "environment": environment}
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

    def _rules_wired(self, container: Any) -> bool:
        """Whether a kept container reads the live rules as this target would wire them now."""
        env = dict(
            e.split("=", 1) for e in (container.attrs.get("Config") or {}).get("Env") or [] if "=" in e
        )
        if any(env.get(k) != v for k, v in self.rules.env.items()):
            return False
        if self.rules.host_store is None:
            return True
        want = str(Path(self.rules.host_store) / RULES_PREFIX)
        return any(m.get("Source") == want for m in container.attrs.get("Mounts") or [])

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
        """Why the live release does not serve (a container gone or stopped, the proxy down), or None."""
        shards = shards_of(live)
        if not shards:
            return None
        if self.proxy.pid() is None:
            return f"the proxy (nginx) of {self.public_url} is not running"
        serving = self.proxy.upstreams()
        for shard, d in shards.items():
            name, port = d.get("container"), d.get("port")
            container = self._container(str(name))
            if container is None:
                return f"the live container {name} (shard {shard}) is gone"
            if container.status != "running":
                code = container.attrs.get("State", {}).get("ExitCode")
                return f"the live container {name} (shard {shard}) is {container.status} (exit code {code})"
            own = self._upstreams_of(container)
            if serving.get(shard) not in own:
                return (
                    f"the proxy sends shard {shard} to {serving.get(shard)}, "
                    f"but {name} listens on {', '.join(sorted(own))}"
                )
            if port and f"127.0.0.1:{port}" not in own:
                return f"{name} listens on {', '.join(sorted(own))}, the records say port {port}"
        return None

    def _route(self, details: dict[str, Any]) -> None:
        """Point the proxy at a deployment's shards, write the endpoint's status, tell the watchdog."""
        shards = shards_of(details)
        release = details.get("release")
        # One shard of this very release answers for itself; otherwise the endpoint answers /version and
        # the health checks for all shards (fleet_status).
        status = release is not None and (
            len(shards) > 1 or any(d.get("version") != release for d in shards.values())
        )
        customers = {c: shard for shard, d in shards.items() for c in d.get("customers") or []}
        routes = {shard: Route(int(d["port"]), _socket(d)) for shard, d in shards.items()}
        status_dir = self.proxy.status_dir
        if status:
            write_version(status_dir, str(release), details.get("code_version"), shards)
            write_health(
                status_dir, str(release), {s: shard_state(int(d["port"])) for s, d in shards.items()}
            )
        self.proxy.switch(routes, customers, status)
        self._mark_live(details, status)

    def _mark_live(self, details: dict[str, Any], status: bool) -> None:
        """Tell the watchdog which containers to keep running (and start it if it does not run)."""
        state = self.proxy.dir
        live = {
            "release": details.get("release"),
            "status": status,
            "status_dir": str(self.proxy.status_dir),
            "shards": {
                s: {"container": d.get("container"), "port": d.get("port")}
                for s, d in shards_of(details).items()
            },
        }
        (state / LIVE_FILE).write_text(json.dumps(live))
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
        moved = (
            ", ".join(str(prepared.details["shards"][s]["container"]) for s in prepared.direct)
            or "no new container"
        )
        self.report(f"switching {self.public_url} to {prepared.version} ({moved})")
        prepared.switched = True
        self._route(prepared.details)
        self._wait_switched(prepared)

    def _wait_switched(self, prepared: Prepared, seconds: float = 15.0) -> None:
        """Until the endpoint answers for the new release: its /version, and each new shard's customer.

        ``nginx -s reload`` only signals the master; the new workers take over a moment later.
        """
        deadline = time.monotonic() + seconds
        probes = [("/version", prepared.version)] + [
            (f"/v1/{d['customers'][0]}/popular", str(d["version"]))
            for d in (prepared.details["shards"][s] for s in prepared.direct)
        ]
        with httpx.Client(base_url=self.public_url, timeout=3.0) as http:
            for path, want in probes:
                seen, streak = "nothing", 0
                while streak < 3:
                    if time.monotonic() >= deadline:
                        raise TargetError(
                            f"the proxy at {self.public_url} still answers {seen} at {path} "
                            f"{seconds:.0f}s after switching to {want}"
                        )
                    try:
                        seen = str(http.get(path, params={"limit": 1}).json().get("model_version"))
                    except (httpx.HTTPError, ValueError) as exc:
                        seen = type(exc).__name__
                    streak = streak + 1 if seen == want else 0
                    if streak < 3:
                        time.sleep(0.1)

    def restore(self, prepared: Prepared, previous: dict[str, Any]) -> None:
        """Undo a deploy: proxy back to the previous containers (still running), remove the new ones."""
        if prepared.switched and shards_of(previous):
            self.report(
                f"switching {self.public_url} back to {previous.get('release') or 'the previous release'}"
            )
            self._route(previous)
        self.discard(prepared, keep=_names(previous))

    def discard(self, prepared: Prepared, keep: set[str] | None = None) -> None:
        """Remove the containers this prepare started (never one the previous release still uses)."""
        for shard in prepared.direct:
            name = str(prepared.details["shards"].get(shard, {}).get("container", ""))
            container = self._container(name) if name and name not in (keep or set()) else None
            if container is not None:
                self._remove(container)

    def retire(self, previous: dict[str, Any], current: dict[str, Any], keep_version: str | None) -> None:
        """Stop the replaced containers (kept for rollback) after in-flight requests drained."""
        live = _names(current)
        replaced = [n for n in sorted(_names(previous)) if n not in live]
        if replaced:
            time.sleep(self.cfg.drain_seconds)
        for name in replaced:
            old = self._container(name)
            if old is not None and old.status == "running":
                self.report(f"stopping {name} (kept for rollback)")
                self._call(functools.partial(old.stop, timeout=self.cfg.stop_timeout_seconds))
        self.prune(keep={v for v in (keep_version,) if v}, names=live | _names(previous))

    def reconcile(self, live: dict[str, Any], keep: set[str]) -> list[str]:
        """After a deploy died half-way: the proxy back on the recorded live containers, orphans removed.

        ``live`` is the alias record's details of the live release; ``keep`` the versions whose
        containers stay (live and previous). Returns what was changed, for the report.
        """
        done: list[str] = []
        shards = shards_of(live)
        serving = self.proxy.upstreams()
        moved = []
        for shard, d in shards.items():
            container = self._container(str(d.get("container")))
            if (
                container is not None
                and container.status == "running"
                and serving.get(shard) not in self._upstreams_of(container)
            ):
                moved.append(f"shard {shard} from {serving.get(shard)} to the live {d.get('container')}")
        if moved:
            self._route(live)
            done.extend(f"proxy switched back: {m}" for m in moved)
        names = _names(live)
        for c in self._own_containers():
            if c.name not in names and c.labels.get(LABEL_VERSION) not in keep:
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

    def prune(self, keep: set[str], names: set[str] | None = None) -> list[str]:
        """Remove this target's stopped containers except those of ``keep`` versions or ``names``."""
        removed = []
        for c in self._own_containers():
            if (
                c.status != "running"
                and c.labels.get(LABEL_VERSION) not in keep
                and c.name not in (names or set())
            ):
                self._remove(c)
                removed.append(c.name)
        return removed


def _names(details: dict[str, Any]) -> set[str]:
    return {str(d["container"]) for d in shards_of(details).values() if d.get("container")}


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _socket(details: dict[str, Any]) -> Path | None:
    return Path(details["socket"]) if details.get("socket") else None


def _traversable_by_all(path: Path) -> bool:
    """Whether every existing directory on the way to ``path`` lets other users through (o+x)."""
    return all(d.stat().st_mode & stat.S_IXOTH for d in [path, *path.parents] if d.exists())
