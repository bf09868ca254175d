"""nginx adapter: the stable port clients use on a Docker host, in front of the release containers.

kwrec runs its own nginx master (own config, pid file and logs under the state directory), so it
needs only Debian's nginx binary (scripts/ensure-nginx.sh) and never touches the system service.
Traffic moves by rewriting the upstream and ``nginx -s reload``: the master starts workers with the
new upstream and lets the old workers finish their in-flight requests, so no client request fails.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from kwrec.errors import TargetError

_UPSTREAM_RE = re.compile(r"^# kwrec-upstream 127\.0\.0\.1:(\d+)$", re.M)
_TIMEOUT = 30


class NginxProxy:
    def __init__(self, nginx: Path, state_dir: Path, host: str, port: int) -> None:
        self.nginx = nginx
        self.dir = state_dir.resolve()
        self.host = host
        self.port = port
        self.conf = self.dir / "nginx.conf"
        self.pid_file = self.dir / "nginx.pid"
        self.error_log = self.dir / "error.log"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def upstream_port(self) -> int | None:
        try:
            m = _UPSTREAM_RE.search(self.conf.read_text())
        except OSError:
            return None
        return int(m[1]) if m else None

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (OSError, ValueError):
            return None
        # A zombie (PID 1 here does not reap) is not a running proxy.
        return None if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X") else pid

    def switch(self, upstream_port: int) -> None:
        """Point the proxy at ``127.0.0.1:upstream_port``; start it when it does not run."""
        if not self.nginx.is_file():
            raise TargetError(
                f"nginx not found at {self.nginx}",
                hint="install it with bash scripts/ensure-nginx.sh or set KWREC_DEPLOY__DOCKER__NGINX",
            )
        for sub in ("tmp", "logs"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        new = self.dir / "nginx.conf.new"
        new.write_text(self._render(upstream_port))
        self._run("test the new proxy config", "-t", conf=new)
        os.replace(new, self.conf)  # atomic: a concurrent reload reads the old or the new file whole
        if self.pid() is None:
            self._run("start the proxy", conf=self.conf)
        else:
            self._run("reload the proxy", "-s", "reload", conf=self.conf)

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

    def _render(self, upstream_port: int) -> str:
        t = self.dir / "tmp"  # nginx's buffers for large bodies, private to this proxy
        return f"""# written by kwrec (kwrec.adapters.targets.nginx); rewritten on every deploy
# kwrec-upstream 127.0.0.1:{upstream_port}
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
        server 127.0.0.1:{upstream_port} max_fails=0;
        keepalive 32;
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
