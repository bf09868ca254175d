"""A docker target with released, pushed images and one release live: what the fault tests break.

Each test module gets its own target name, image repository, proxy port and state, so modules never
share containers; everything is removed (containers, nginx, the target's watchdog with it) at the end.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from kwrec.adapters import engine
from kwrec.adapters.stores import open_store
from kwrec.adapters.targets.docker_host import LABEL_TARGET
from kwrec.adapters.targets.nginx import NginxProxy
from kwrec.pipeline.deploy import deploy_release
from kwrec.pipeline.image import build_release_image, push_release_image
from kwrec.pipeline.train import train_release
from kwrec.settings import Settings
from tests.support import ROOT, docker_target_env, free_port

A, B = "gs_2611270900", "gs_2611271000"  # B: A's data plus new shop-kr logs (shop-kr retrained)


@contextmanager
def docker_world(
    tmp: Path, prefix: str, *, releases: tuple[str, ...] = (A, B), extra_env: dict[str, str] | None = None
) -> Iterator[dict[str, Any]]:
    """Train, build and push ``releases``, deploy the first; yield settings, store, env, target, state."""
    run = uuid.uuid4().hex[:8]
    target = f"{prefix}{run}"
    data = tmp / "data"
    shutil.copytree(ROOT / "data" / "sample", data)
    env = {
        **docker_target_env(
            tmp, repository=f"kwrec-test/{prefix}{run}", target=target, run_id=run, proxy_port=free_port()
        ),
        "KWREC_STORE": str(tmp / "store"),
        "KWREC_CACHE_DIR": str(tmp / "cache"),
        **(extra_env or {}),
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        settings = Settings()
        store = open_store(env["KWREC_STORE"])
        for version in releases:
            if version == B:
                rows = [
                    f"2026-11-27T10:{i:02d}:00+09:00,{prefix}-u{i},{prefix}-s{i},새 상품 {i % 3},10,1"
                    for i in range(30)
                ]
                header = "timestamp,user_id,session_id,query,result_count,clicked\n"
                (data / "shop-kr" / "late.csv").write_text(header + "\n".join(rows) + "\n")
            train_release(settings, store, timestamp=version[3:], data_dir=data, evaluate=False)
        for version in releases:
            build_release_image(settings, store, version, lambda _: None)
            push_release_image(settings, store, version, lambda _: None)
        deploy_release(settings, store, releases[0], lambda _: None)
        try:
            yield {
                "settings": settings,
                "store": store,
                "env": env,
                "target": target,
                "run": run,
                "state": tmp / "deploy-state" / target,
                "port": int(env["KWREC_DEPLOY__DOCKER__PROXY_PORT"]),
            }
        finally:
            client = engine.connect()
            for c in client.containers.list(all=True, filters={"label": f"{LABEL_TARGET}={target}"}):
                c.remove(force=True)
            NginxProxy(Path("/usr/sbin/nginx"), tmp / "deploy-state" / target, "127.0.0.1", 0).stop()
