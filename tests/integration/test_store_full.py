"""A store that runs out of space (a real tmpfs filled up) fails the run, never a customer's data.

Before: the artifact upload's ENOSPC was taken for "this customer's data failed to train", the customer
kept its old model, the run exited 0 and a re-run said "nothing to do". Now the step fails with the cause,
the previous release stays the newest, and the same command succeeds once there is room again.
Needs root (mount); skips with the reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kwrec.adapters.stores import open_store
from kwrec.core.manifest import latest_version, read_manifest
from kwrec.errors import ChainStepError
from kwrec.pipeline.runner import run_chain
from kwrec.pipeline.train import train_release
from kwrec.settings import Settings

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
D1, D2 = "2611270900", "2611280900"


def _mount(point: Path, size: str, *, remount: bool = False) -> None:
    opts = f"remount,size={size}" if remount else f"size={size},mode=0755"
    args = ["mount", "-o", opts, point] if remount else ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", point]
    subprocess.run([str(a) for a in args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    point = tmp_path / "disk"
    point.mkdir()
    try:
        _mount(point, "64m")
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc.stderr.decode(errors='replace').strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True, timeout=30)


def _grow_shop(data: Path) -> None:
    """New logs for shop-kr only: the next release retrains it (and writes a new artifact)."""
    rows = [f"2026-11-28T10:{i:02d}:00+09:00,n-u{i},n-s{i},노트북 파우치 {i % 4},120,1" for i in range(40)]
    (data / "shop-kr" / "new.csv").write_text(
        "timestamp,user_id,session_id,query,result_count,clicked\n" + "\n".join(rows) + "\n"
    )


def _fill(point: Path, leave_bytes: int) -> None:
    """Shrink the tmpfs to what it holds now plus ``leave_bytes``: the next artifact cannot be written."""
    fs = os.statvfs(point)
    used = (fs.f_blocks - fs.f_bfree) * fs.f_frsize  # in pages, as tmpfs counts them
    _mount(point, str(used + leave_bytes), remount=True)


def test_a_full_store_fails_the_run_and_the_next_run_redoes_it(small_disk: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data" / "sample", data)
    store_url = str(small_disk / "store")
    settings = Settings(store=store_url, cache_dir=tmp_path / "cache", data_dir=data)
    store = open_store(store_url)
    day1 = train_release(settings, store, timestamp=D1, evaluate=False).manifest
    _grow_shop(data)
    _fill(small_disk, 64 * 1024)  # room for a manifest, not for a model

    env = {**os.environ, "KWREC_STORE": store_url, "KWREC_CACHE_DIR": str(tmp_path / "cache")}
    cli = [sys.executable, "-m", "kwrec.cli.main", "train", "--data", str(data), "--timestamp", D2]
    cli.append("--no-evaluate")
    failed = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert failed.returncode != 0, failed.stdout + failed.stderr
    assert "No space left on device" in failed.stderr and "Traceback" not in failed.stderr, failed.stderr
    assert latest_version(store) == day1.version  # nothing half-trained became the newest release

    # The chain names the step; the live (newest) release is untouched.
    with pytest.raises(ChainStepError) as err:
        run_chain(settings, D2, lambda _: None, store=store)
    assert err.value.step == "train" and "No space left on device" in str(err.value)
    assert err.value.retryable  # the DAG retries it: space may come back
    assert latest_version(store) == day1.version

    # Room again: the same command trains the changed customer for real.
    _mount(small_disk, "64m", remount=True)
    again = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    day2 = read_manifest(store, f"gs_{D2}")
    assert day2.customers["shop-kr"].trained_in == f"gs_{D2}"
    assert day2.customers["shop-kr"].artifact != day1.customers["shop-kr"].artifact
    assert day2.customers["books-en"].artifact == day1.customers["books-en"].artifact
