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
from pathlib import Path

from kwrec.errors import TargetError

_UPSTREAM_RE = re.compile(r"^# kwrec-upstream (127\.0\.0\.1:\d+|unix:\S+)$", re.M)
_TIMEOUT = 30
PID_NAME = "nginx.pid"


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

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def upstream(self) -> str | None:
        """Where the proxy sends traffic: ``127.0.0.1:PORT``, or ``unix:PATH`` of the socket it links to."""
        configured = self._configured()
        if configured is None or not configured.startswith("unix:"):
            return configured
        try:
            return f"unix:{os.readlink(self.live_link)}"
        except OSError:
            return None

    def pid(self) -> int | None:
        return running_pid(self.pid_file)

    def switch(self, upstream_port: int, socket: Path | None = None) -> None:
        """Send new traffic to ``socket`` (no reload once in socket mode) or to ``127.0.0.1:upstream_port``.

        Starts the proxy when it does not run.
        """
        if not self.nginx.is_file():
            raise TargetError(
                f"nginx not found at {self.nginx}",
                hint="install it with bash scripts/ensure-nginx.sh or set KWREC_DEPLOY__DOCKER__NGINX",
            )
        for sub in ("tmp", "logs"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        if socket is not None:
            link = self.live_link.with_name(".live.sock.new")
            link.unlink(missing_ok=True)
            link.symlink_to(socket)
            os.replace(link, self.live_link)  # atomic: a new connection finds the old or the new socket
            upstream = f"unix:{self.live_link}"
        else:
            upstream = f"127.0.0.1:{upstream_port}"
        running = self.pid() is not None
        if running and self._configured() == upstream:
            return  # socket mode already: the renamed link was the whole switch
        new = self.dir / "nginx.conf.new"
        new.write_text(self._render(upstream))
        self._run("test the new proxy config", "-t", conf=new)
        os.replace(new, self.conf)  # atomic: a concurrent reload reads the old or the new file whole
        if not running:
            self._run("start the proxy", conf=self.conf)
        else:
            self._run("reload the proxy", "-s", "reload", conf=self.conf)

    def _configured(self) -> str | None:
        try:
            m = _UPSTREAM_RE.search(self.conf.read_text())
        except OSError:
            return None
        return m[1] if m else None

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

    def _render(self, upstream: str) -> str:
        t = self.dir / "tmp"  # nginx's buffers for large bodies, private to this proxy
        # Socket mode keeps no upstream connections alive: a kept one would go on reaching the old
        # release after a switch. A unix-socket connect per request costs microseconds.
        keepalive = "" if upstream.startswith("unix:") else "keepalive 32;"
        return f"""# written by kwrec (kwrec.adapters.targets.nginx); rewritten on every deploy
# kwrec-upstream {upstream}
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
    upstream kwrec_release {{
        server {upstream} max_fails=0;
        {keepalive}
    }}
    server {{
        listen {self.host}:{self.port};
        location / {{
            proxy_pass http://kwrec_release;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            # A keep-alive connection the old container closed is retried once on a new one.
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
            proxy_read_timeout 30s;
        }}
    }}
}}
"""
