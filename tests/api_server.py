"""Shared by the API tests: a tiny two-customer release, and `kwrec serve` run as a real process.

The release is trained once per test session (cached here, not in a fixture, because several test modules
import these helpers and a fixture imported into each of them would train once per module).
Servers listen on 127.0.0.1 only, on a free port, and are always stopped.
"""

from __future__ import annotations

import atexit
import csv
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.support import free_port

OLD_TS = "2605010000"
NEW_TS = "2605020000"
OLD_VERSION = f"gs_{OLD_TS}"
NEW_VERSION = f"gs_{NEW_TS}"

# Two customers with disjoint vocabularies, so that any keyword in an answer tells whose it is.
VOCAB: dict[str, list[str]] = {
    "alpha-kr": [
        "아이폰",
        "아이폰 케이스",
        "아이패드",
        "갤럭시",
        "갤럭시 버즈",
        "노트북",
        "게이밍 노트북",
        "원피스",
        "니트 원피스",
        "롱패딩",
        "에어팟 프로",
        "모니터",
    ],
    "beta-en": [
        "python programming",
        "python cookbook",
        "harry potter",
        "hunger games",
        "history of rome",
        "data science",
        "deep learning",
        "dune",
        "dracula",
        "pride and prejudice",
    ],
}
# Keywords searched in the same sessions, so related answers exist.
SESSIONS: dict[str, list[list[str]]] = {
    "alpha-kr": [
        ["아이폰", "아이폰 케이스", "에어팟 프로"],
        ["노트북", "게이밍 노트북", "모니터"],
        ["원피스", "니트 원피스"],
    ],
    "beta-en": [["python programming", "python cookbook", "data science"], ["harry potter", "hunger games"]],
}


def write_logs(root: Path) -> None:
    """A few hundred events per customer: every keyword searched by many users, heavier ones more often."""
    start = datetime(2026, 4, 25, tzinfo=UTC)
    for customer, words in VOCAB.items():
        folder = root / customer
        folder.mkdir(parents=True)
        rows: list[tuple[str, str, str, str]] = []
        t = start
        for user in range(40):
            uid = f"u{user:03d}"
            for i, word in enumerate(words):
                # heavier weight for earlier words: best-first order is predictable
                for rep in range(max(1, (len(words) - i) // 3)):
                    t += timedelta(minutes=7)
                    rows.append((t.isoformat(), uid, f"s{user}-{i}-{rep}", word))
            for j, session in enumerate(SESSIONS[customer]):
                sid = f"r{user}-{j}"
                for word in session:
                    t += timedelta(seconds=90)
                    rows.append((t.isoformat(), uid, sid, word))
        with (folder / "events.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["timestamp", "user_id", "session_id", "query"])
            writer.writerows(rows)


@functools.cache
def trained_store() -> Path:
    """A local store with two releases of the two customers (the second reuses the first's artifacts)."""
    from kwrec.adapters.stores import open_store
    from kwrec.pipeline.train import train_release
    from kwrec.settings import load_settings

    root = Path(tempfile.mkdtemp(prefix="kwrec-api-test-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    write_logs(root / "data")
    settings = load_settings(store=str(root / "store"), cache_dir=root / "cache")
    store = open_store(settings.store, settings.s3)
    for ts in (OLD_TS, NEW_TS):
        outcome = train_release(settings, store, timestamp=ts, data_dir=root / "data", evaluate=False)
        assert not outcome.failed, outcome.failed
    return root / "store"


def corrupted_store() -> Path:
    """A copy of the trained store where one artifact file has a flipped byte."""
    src = trained_store()
    dst = Path(tempfile.mkdtemp(prefix="kwrec-api-corrupt-")) / "store"
    atexit.register(shutil.rmtree, dst.parent, ignore_errors=True)
    shutil.copytree(src, dst)
    victim = next(
        p for p in sorted((dst / "artifacts" / "alpha-kr").rglob("kw*")) if p.is_file() and p.stat().st_size
    )
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    return dst


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    client: httpx.Client

    def get(self, path: str, **params: object) -> httpx.Response:
        return self.client.get(path, params=params or None)  # type: ignore[arg-type]


def wait_until(url: str, expect: Sequence[int], timeout: float) -> httpx.Response | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code in expect:
                return r
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    return None


@contextmanager
def run_server(
    store: Path,
    *args: str,
    ready: bool = True,
    env: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Iterator[Server]:
    """`kwrec serve` on 127.0.0.1 and a free port, until the block ends. ``ready=False``: only wait for
    /healthz (for a server that is expected never to become ready)."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="kwrec-serve-", suffix=".log")[1])
    cmd = [sys.executable, "-m", "kwrec.cli.serve", "--store", str(store), "--host", "127.0.0.1"]
    cmd += ["--port", str(port), *args]
    full_env = {**os.environ, "KWREC_CACHE_DIR": str(store.parent / "cache"), **(env or {})}
    full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=full_env)
    url = f"http://127.0.0.1:{port}"
    server = Server(url, proc, log, httpx.Client(base_url=url, timeout=10))
    try:
        probe = server.url + ("/readyz" if ready else "/healthz")
        if wait_until(probe, [200], timeout) is None:
            raise AssertionError(f"server did not come up: {log.read_text(errors='replace')[-3000:]}")
        yield server
    finally:
        server.client.close()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.unlink(missing_ok=True)
