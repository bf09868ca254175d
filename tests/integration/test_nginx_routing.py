"""The endpoint's routing on a real nginx: each customer to its shard, the fleet's status from files.

Two tiny HTTP servers on loopback stand in for shard containers (each answers with its own name), so
what is tested is nginx and kwrec's config: the customer map, the default shard for unknown customers,
switching one shard by its socket link without a reload, and /version, /readyz, /healthz.
"""

from __future__ import annotations

import json
import os
import shutil
import socketserver
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from kwrec.adapters.targets.fleet_status import write_health, write_version
from kwrec.adapters.targets.nginx import NginxProxy, Route
from tests.support import free_port

NGINX = Path("/usr/sbin/nginx")
pytestmark = pytest.mark.skipif(not NGINX.is_file(), reason="needs nginx (scripts/ensure-nginx.sh)")


def _handler(name: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"shard": name, "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    return Handler


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self) -> Any:  # http.server wants a (host, port) client address
        conn, _ = super().get_request()
        return conn, ("local", 0)


@pytest.fixture
def public_dir() -> Iterator[Path]:
    """A directory nginx's workers (another user) can reach: pytest's own tmp is private to root."""
    path = Path(tempfile.mkdtemp(prefix="kwrec-routing-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def shards(public_dir: Path) -> Iterator[dict[str, Any]]:
    servers: dict[str, Any] = {}
    for name in ("a", "b", "c"):
        tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _handler(name))
        sock = public_dir / "sockets" / f"{name}.sock"
        sock.parent.mkdir(exist_ok=True, mode=0o755)
        unix = _UnixServer(str(sock), _handler(name))
        os.chmod(sock, 0o777)  # nginx's workers run as another user
        for srv in (tcp, unix):
            threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers[name] = {"port": tcp.server_address[1], "socket": sock, "servers": (tcp, unix)}
    yield servers
    for s in servers.values():
        for srv in s["servers"]:
            srv.shutdown()


def test_customers_reach_their_shard_and_the_status_reflects_every_shard(
    tmp_path: Path, public_dir: Path, shards: dict[str, Any]
) -> None:
    proxy = NginxProxy(
        NGINX, tmp_path / "state", "127.0.0.1", free_port(), live_link=public_dir / "sockets" / "live.sock"
    )
    customers = {"shop": "s000", "news": "s001", "books": "s001"}
    a, b = shards["a"], shards["b"]
    try:
        write_version(
            proxy.status_dir,
            "gs_2612020900",
            "0.1.0",
            {
                "s000": {"version": "gs_2612010900", "customers": ["shop"]},
                "s001": {"version": "gs_2612020900", "customers": ["news", "books"]},
            },
        )
        write_health(proxy.status_dir, "gs_2612020900", {"s000": "ready", "s001": "ready"})
        proxy.switch({"s000": Route(a["port"]), "s001": Route(b["port"], b["socket"])}, customers, True)
        with httpx.Client(base_url=proxy.url, timeout=5) as http:

            def shard_of(path: str) -> str:
                return str(http.get(path).json()["shard"])

            assert shard_of("/v1/shop/autocomplete?q=x") == "a"
            assert shard_of("/v1/news/popular") == shard_of("/v1/books/related?q=y") == "b"
            assert shard_of("/v1/unknown/popular") == "a"  # the default shard answers it (a 404 there)
            assert shard_of("/metrics") == "a"
            version = http.get("/version").json()
            assert version["model_version"] == "gs_2612020900"
            assert version["customers"] == ["books", "news", "shop"]
            assert version["shards"]["s000"] == {"model_version": "gs_2612010900", "customers": ["shop"]}
            assert http.get("/readyz").status_code == 200 and http.get("/healthz").status_code == 200

            # One shard not ready: the endpoint is not ready, but alive.
            write_health(proxy.status_dir, "gs_2612020900", {"s000": "ready", "s001": "HTTP 503"})
            ready = http.get("/readyz")
            assert ready.status_code == 503 and ready.json()["shards"]["s001"] == "HTTP 503"
            assert http.get("/healthz").status_code == 200
            write_health(proxy.status_dir, "gs_2612020900", {"s000": "ready", "s001": "not running"})
            assert http.get("/healthz").status_code == 503

            # Shard s001 moves to another socket: a renamed link, no reload (the config is unchanged).
            conf = proxy.conf.read_text()
            pid = proxy.pid()
            c = shards["c"]
            proxy.switch({"s000": Route(a["port"]), "s001": Route(c["port"], c["socket"])}, customers, True)
            assert proxy.conf.read_text() == conf and proxy.pid() == pid
            assert shard_of("/v1/news/popular") == "c" and shard_of("/v1/shop/popular") == "a"
            assert proxy.upstreams() == {"s000": f"127.0.0.1:{a['port']}", "s001": f"unix:{c['socket']}"}

            # A customer moves to another shard (a rebalance): the map changes, nginx reloads.
            proxy.switch(
                {"s000": Route(a["port"]), "s001": Route(c["port"], c["socket"])},
                {**customers, "shop": "s001"},
                True,
            )
            assert proxy.conf.read_text() != conf
            deadline = 50
            while shard_of("/v1/shop/popular") != "c" and deadline:
                deadline -= 1
                threading.Event().wait(0.1)
            assert shard_of("/v1/shop/popular") == "c"
    finally:
        proxy.stop()
