"""nginx adapter: the stable port clients use on a Docker host, in front of the release containers.

kwrec runs its own nginx master (own config, pid file and logs under the state directory), so it
needs only Debian's nginx binary (scripts/ensure-nginx.sh) and never touches the system service.

Two ways to move traffic:
- **socket** (releases whose API also listens on a unix socket): nginx connects to ``live.sock``, a
  symbolic link; a switch renames a new link over it. nginx follows the link on every new upstream
  connection, so no reload happens, and clients' idle keep-alive connections to nginx stay open (a reload
  closes them, and a client that reuses one at that instant and does not retry sees a failed request).
  Upstream connections kept alive to the old release are closed when it stops; nginx retries a request
  whose kept-alive connection failed on a new one, which reaches the new release.
- **port** (older images): the upstream is a loopback port; a switch rewrites it and reloads nginx.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from kwrec.errors import TargetError

# One line per shard: "# kwrec-upstream s001 unix:/run/kwrec/t/live-s001.sock". Written before
# shards, the line had no shard name (its one upstream is shard s000's).
_UPSTREAM_RE = re.compile(r"^# kwrec-upstream (?:(s\d{3}) )?(127\.0\.0\.1:\d+|unix:\S+)$", re.M)
_TIMEOUT = 30
PID_NAME = "nginx.pid"
STATUS_DIR = "status"  # the files nginx answers /version, /readyz and /healthz from (several shards)
DEFAULT_SHARD = "s000"


@dataclass(frozen=True)
class Route:
    """Where one shard's traffic goes: its container's loopback port, or its unix socket."""

    port: int
    socket: Path | None = None


def running_pid(pid_file: Path) -> int | None:
    """The pid in ``pid_file`` if that process runs, else None (used for nginx and the watchdog)."""
    try:
        pid = int(pid_file.read_text().strip())
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    # A zombie (PID 1 here does not reap) is not a running process.
    return None if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X") else pid


class NginxProxy:
    def __init__(
        self, nginx: Path, state_dir: Path, host: str, port: int, live_link: Path | None = None
    ) -> None:
        self.nginx = nginx
        self.dir = state_dir.resolve()
        self.host = host
        self.port = port
        self.conf = self.dir / "nginx.conf"
        self.pid_file = self.dir / PID_NAME
        self.error_log = self.dir / "error.log"
        # In socket mode nginx's workers (another user) must reach the link: it lives beside the sockets.
        self.live_link = (live_link or self.dir / "live.sock").absolute()
        # nginx's workers read the status files too: beside the links, not in a private state dir.
        self.status_dir = self.live_link.parent / STATUS_DIR

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def link(self, shard: str) -> Path:
        """The symbolic link nginx connects through for ``shard`` in socket mode."""
        return self.live_link.with_name(f"live-{shard}.sock")

    def upstreams(self) -> dict[str, str]:
        """shard -> ``127.0.0.1:PORT``, or ``unix:PATH`` of the socket its link points at."""
        out: dict[str, str] = {}
        for shard, configured in self._configured().items():
            if configured.startswith("unix:"):
                try:
                    configured = f"unix:{os.readlink(configured.removeprefix('unix:'))}"
                except OSError:
                    continue
            out[shard] = configured
        return out

    def pid(self) -> int | None:
        return running_pid(self.pid_file)

    def switch(self, routes: dict[str, Route], customers: dict[str, str], status: bool) -> None:
        """Send each shard's traffic to its route, and each customer (customer -> shard) to its shard.

        Socket routes are a renamed link each (no reload once the config names the same links); a new
        config (ports, shards or customers changed) is tested, then nginx is reloaded (or started).
        ``status``: /version, /readyz and /healthz come from the status files (several shards) instead
        of the one shard.
        """
        if not self.nginx.is_file():
            raise TargetError(
                f"nginx not found at {self.nginx}",
                hint="install it with bash scripts/ensure-nginx.sh or set KWREC_DEPLOY__DOCKER__NGINX",
            )
        for sub in ("tmp", "logs"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.status_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        upstreams: dict[str, str] = {}
        for shard, route in sorted(routes.items()):
            if route.socket is not None:
                link = self.link(shard)
                new_link = link.with_name(f".{link.name}.new")
                new_link.unlink(missing_ok=True)
                new_link.symlink_to(route.socket)
                os.replace(new_link, link)  # atomic: a new connection finds the old or the new socket
                upstreams[shard] = f"unix:{link}"
            else:
                upstreams[shard] = f"127.0.0.1:{route.port}"
        text = self._render(upstreams, customers, status)
        running = self.pid() is not None
        try:
            same = self.conf.read_text() == text
        except OSError:
            same = False
        if running and same:
            return  # socket mode already: the renamed links were the whole switch
        new = self.dir / "nginx.conf.new"
        new.write_text(text)
        self._run("test the new proxy config", "-t", conf=new)
        os.replace(new, self.conf)  # atomic: a concurrent reload reads the old or the new file whole
        if not running:
            self._run("start the proxy", conf=self.conf)
        else:
            self._run("reload the proxy", "-s", "reload", conf=self.conf)

    def _configured(self) -> dict[str, str]:
        try:
            text = self.conf.read_text()
        except OSError:
            return {}
        return {m[1] or DEFAULT_SHARD: m[2] for m in _UPSTREAM_RE.finditer(text)}

    def stop(self) -> None:
        if self.pid() is not None:
            self._run("stop the proxy", "-s", "quit", conf=self.conf)

    def _run(self, what: str, *args: str, conf: Path) -> None:
        cmd = [str(self.nginx), "-p", f"{self.dir}/", "-e", str(self.error_log), "-c", str(conf), *args]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT, check=False)  # noqa: S603
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TargetError(f"could not {what}: {exc}") from None
        if proc.returncode != 0:
            tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            raise TargetError(f"could not {what} ({self.conf}): {tail}")

    def _render(self, upstreams: dict[str, str], customers: dict[str, str], status: bool) -> str:
        t = self.dir / "tmp"  # nginx's buffers for large bodies, private to this proxy
        status_dir = self.status_dir
        default = min(upstreams)
        # Socket mode keeps no upstream connections alive: a kept one would go on reaching the old
        # release after a switch. A unix-socket connect per request costs microseconds.
        blocks = "\n".join(
            f"    upstream kwrec_{shard} {{ server {up} max_fails=0; "
            f"{'' if up.startswith('unix:') else 'keepalive 32; '}}}"
            for shard, up in sorted(upstreams.items())
        )
        marks = "\n".join(f"# kwrec-upstream {shard} {up}" for shard, up in sorted(upstreams.items()))
        # Customers of the default shard (and unknown ones, which it answers with a 404) need no entry.
        routes = "\n".join(
            f'        "{c}" kwrec_{s};'
            for c, s in sorted(customers.items())
            if s != default and s in upstreams
        )
        proxy = """proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            # A keep-alive connection the old container closed is retried once on a new one.
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
            proxy_read_timeout 30s;"""
        files = ""
        if status:
            # Several shards: the endpoint's /version names them all, /readyz and /healthz are 200 only
            # when every shard is (the files are written by each switch and kept current by the watchdog).
            files = f"""
        location = /version {{ default_type application/json; alias {status_dir}/version.json; }}
        location = /readyz {{
            default_type application/json; root {status_dir};
            try_files /ready.json =503; error_page 503 /unready.json;
        }}
        location = /healthz {{
            default_type application/json; root {status_dir};
            try_files /alive.json =503; error_page 503 /unready.json;
        }}
        location = /unready.json {{ internal; default_type application/json; root {status_dir}; }}"""
        return f"""# written by kwrec (kwrec.adapters.targets.nginx); rewritten on every deploy
{marks}
worker_processes 1;
pid {self.pid_file};
error_log {self.error_log} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {t / "body"};
    proxy_temp_path {t / "proxy"};
    fastcgi_temp_path {t / "fastcgi"};
    uwsgi_temp_path {t / "uwsgi"};
    scgi_temp_path {t / "scgi"};
    map_hash_bucket_size 128;
    map $kwrec_customer $kwrec_shard {{
        default kwrec_{default};
{routes}
    }}
{blocks}
    server {{
        listen {self.host}:{self.port};
        location ~ ^/v1/(?<kwrec_customer>[^/]+) {{
            proxy_pass http://$kwrec_shard;
            {proxy}
        }}{files}
        location / {{
            proxy_pass http://kwrec_{default};
            {proxy}
        }}
    }}
}}
"""
