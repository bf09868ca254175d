"""A store written by the flat layout (before core/adapters/pipeline) keeps working under this one.

The code of the last flat-layout commit trains, builds, pushes and deploys release L into a store; this
code then reads its records byte for byte, deploys a new release N over it, and rolls back to L, verified
live through nginx. Needs the repository's history (a clone, not a tarball) and the Docker test set-up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import uuid
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pytest

from kwrec.adapters import engine
from kwrec.adapters.stores import open_store
from kwrec.adapters.targets.nginx import NginxProxy
from kwrec.core.manifest import read_manifest
from kwrec.core.store_layout import manifest_key, run_record_key, target_key
from kwrec.pipeline import records
from kwrec.pipeline.deploy import deploy_release, rollback, verify_live
from kwrec.pipeline.image import build_release_image, push_release_image
from kwrec.pipeline.train import train_release
from kwrec.settings import Settings
from tests.support import docker_target_env, free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
FLAT_LAYOUT = "ea03f922c7c432ec7c42006adf8365d335ff9ccf"  # the last commit before the layered tree (issue 10)
L, N = "gs_2611250900", "gs_2611260900"
RUN = uuid.uuid4().hex[:8]
TARGET = f"legacy{RUN}"


def _old_tree(dest: Path) -> Path:
    """The flat-layout sources (git archive) with their compiled look-up module."""
    git = ["git", "-C", str(ROOT)]
    probe = subprocess.run(
        [*git, "cat-file", "-e", f"{FLAT_LAYOUT}^{{commit}}"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip(f"commit {FLAT_LAYOUT} (the flat layout) is not in this checkout's history")
    archive = subprocess.run(
        [*git, "archive", FLAT_LAYOUT, "src", "setup.py", "pyproject.toml", "README.md", "image.lock"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    models = dest / "src" / "kwrec" / "models"
    ext = sysconfig.get_config_var("EXT_SUFFIX")
    subprocess.run(
        [
            *("gcc", "-O2", "-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}"),
            *(str(models / "_mapped.c"), "-o", str(models / f"_mapped{ext}")),
        ],
        check=True,
        capture_output=True,
    )
    return dest


def _old_kwrec(tree: Path, env: dict[str, str], *args: str) -> str:
    """Run the flat layout's CLI (same interpreter and dependencies, its own sources)."""
    proc = subprocess.run(
        [sys.executable, "-m", "kwrec.cli.main", *args],
        env={**os.environ, **env, "PYTHONPATH": str(tree / "src")},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, f"old kwrec {args}: {proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("legacy")
    tree = _old_tree(tmp / "flat")
    data = tmp / "data"
    shutil.copytree(ROOT / "data" / "sample", data)
    store_url = str(tmp / "store")
    env = {
        **docker_target_env(
            tmp, repository=f"kwrec-test/legacy{RUN}", target=TARGET, run_id=RUN, proxy_port=free_port()
        ),
        "KWREC_STORE": store_url,
        "KWREC_CACHE_DIR": str(tmp / "cache"),
        "KWREC_DATA_DIR": str(data),
    }
    for args in (
        ("train", "--timestamp", L[3:], "--no-evaluate"),
        ("build", "--version", L),
        ("push", "--version", L),
        ("deploy", "--version", L),
    ):
        _old_kwrec(tree, env, *args)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        yield {"settings": Settings(), "store": open_store(store_url), "data": data, "env": env}
        client = engine.connect()
        for c in client.containers.list(all=True, filters={"label": f"kwrec.deploy.target={TARGET}"}):
            c.remove(force=True)
        NginxProxy(Path("/usr/sbin/nginx"), tmp / "deploy-state" / TARGET, "127.0.0.1", 0).stop()


def _served(env: dict[str, str]) -> str:
    port = env["KWREC_DEPLOY__DOCKER__PROXY_PORT"]
    return str(httpx.get(f"http://127.0.0.1:{port}/version", timeout=5).json()["model_version"])


def test_a_flat_layout_release_deploys_and_rolls_back_under_the_new_tree(legacy: dict[str, Any]) -> None:
    settings, store, env = legacy["settings"], legacy["store"], legacy["env"]
    assert _served(env) == L

    # The old records read back and serialise to the very bytes the old code wrote.
    old_manifest = store.read_bytes(manifest_key(L))
    manifest = read_manifest(store, L)
    assert manifest.to_bytes() == old_manifest
    assert manifest.image is not None and manifest.image.digest and manifest.image.pushes
    assert manifest.deployments and manifest.deployments[-1].outcome == "live"
    alias, _ = records.read_alias(store, TARGET)
    assert alias is not None and alias.live == L and store.exists(target_key(TARGET))
    assert not store.exists(run_record_key(L))  # `kwrec train` + deploy: no chain run record

    # A release of this code goes live over it...
    log: list[str] = []
    train_release(settings, store, timestamp=N[3:], data_dir=legacy["data"], evaluate=False)
    build_release_image(settings, store, N, log.append)
    push_release_image(settings, store, N, log.append)
    deployed = deploy_release(settings, store, N, log.append)
    assert deployed.previous == L and _served(env) == N

    # ...and the rollback brings the flat-layout release back, verified by this code's probe.
    back = rollback(settings, store, log.append)
    assert back.version == L and _served(env) == L
    assert verify_live(settings, store, log.append).ok
    assert read_manifest(store, N).deployments[-1].outcome == "rolled back"
    assert read_manifest(store, L).deployments[-1].action == "rollback"
