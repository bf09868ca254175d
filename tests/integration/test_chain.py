"""`kwrec run`: the whole release chain, day after day, on the real engine, registry and proxy;
resuming after a failed push; one chain per store (lock); the quality gate holding a worse model back.
"""

from __future__ import annotations

import json
import shutil
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from kwrec.adapters import engine
from kwrec.adapters.stores import open_store
from kwrec.adapters.targets.nginx import NginxProxy
from kwrec.cli.run import run
from kwrec.core.manifest import read_manifest
from kwrec.core.store_layout import diff_key, diff_page_key
from kwrec.pipeline import records
from kwrec.pipeline.lock import LOCK_KEY, RunInProgressError, RunLock
from kwrec.pipeline.steps import detect_changes, gate_step, release_step, train_customer_step
from kwrec.pipeline.train import train_release
from kwrec.settings import Settings
from tests.support import docker_target_env, free_port, shard_image

ROOT = Path(__file__).resolve().parents[2]
RUN = uuid.uuid4().hex[:8]
TARGET = f"chain{RUN}"
D1, D2, D3 = "2611270900", "2611280900", "2611290900"

app = typer.Typer()
app.command()(run)
app.command("noop")(lambda: None)  # two commands, so `run` is addressed by name as in `kwrec run`


def kwrec_run(*args: str) -> Any:
    return CliRunner().invoke(app, ["run", *args])


def add_rows(customer_dir: Path, name: str, word: str) -> None:
    rows = [
        f"2026-11-28T10:{i:02d}:00+09:00,{word}-u{i},{word}-s{i},{word} 상품 {i % 3},10,1" for i in range(30)
    ]
    (customer_dir / name).write_text(
        "timestamp,user_id,session_id,query,result_count,clicked\n" + "\n".join(rows) + "\n"
    )


def add_book_rows(customer_dir: Path, name: str, word: str) -> None:
    """New searches in books-en's own format (JSON lines, its own column names)."""
    rows = [
        json.dumps({"ts": 1795400000 + 60 * i, "user": f"{word}-u{i}", "query": f"{word} series {i % 3}"})
        for i in range(30)
    ]
    (customer_dir / name).write_text("\n".join(rows) + "\n")


# ---- the lock and the gate (no engine needed) -----------------------------------------------------


def test_a_second_run_on_the_same_store_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(str(tmp_path / "store"))
    lock = RunLock(store, "other-host:4242", "gs_2611270900", 600).acquire()
    monkeypatch.setenv("KWREC_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("KWREC_DATA_DIR", str(ROOT / "data" / "sample"))
    result = kwrec_run("--timestamp", D1, "--json")
    assert result.exit_code == 3, result.output
    assert "another release chain is running" in result.output and "other-host:4242" in result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["ok"] is False
    assert not store.exists(f"releases/gs_{D1}/run.json")  # nothing of the second run happened
    with pytest.raises(RunInProgressError):
        RunLock(store, "third:1", "gs_2611270900", 600).acquire()
    lock.release()
    RunLock(store, "third:1", "gs_2611270900", 600).acquire().release()
    # A lock whose process died on this host does not have to expire first.
    dead = RunLock(store, f"{socket.gethostname()}:999999999", "gs_2611270900", 600).acquire()
    assert dead.raw
    RunLock(store, "fourth:1", "gs_2611270900", 600).acquire().release()


def _history(customer_dir: Path, days: int, start: datetime) -> None:
    customer_dir.mkdir(parents=True, exist_ok=True)
    words = [f"item{n:02d} case" for n in range(40)] + [f"gadget {n}" for n in range(40)]
    rows = []
    for d in range(days):
        for u in range(60):
            q = words[(u * 7 + d * 3) % len(words) if u % 3 else (u + d) % 10]
            when = start + timedelta(days=d, minutes=u)
            rows.append(f"{when.isoformat()},u{u},s{d}-{u},{q}")
    (customer_dir / "events.csv").write_text("timestamp,user_id,session_id,query\n" + "\n".join(rows) + "\n")


def test_gate_holds_a_worse_model_back_and_keeps_the_live_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KWREC_DEPLOY__NAME", TARGET)
    data = tmp_path / "data"
    start = datetime(2026, 11, 1, tzinfo=UTC)
    _history(data / "alpha", 25, start)
    settings = Settings(store=str(tmp_path / "store"), cache_dir=tmp_path / "cache", data_dir=data)
    store = open_store(settings.store)
    live = train_release(settings, store, timestamp=D1, evaluate=False).manifest
    lease = records.acquire_lease(store, TARGET, "docker", live.version, "deploy", 60)
    records.set_live(store, TARGET, "docker", lease, live.version, {})
    # Day 2: the export was truncated to its last two days: a model trained on them is far worse.
    shutil.rmtree(data / "alpha")
    _history(data / "alpha", 2, start + timedelta(days=23))
    assert detect_changes(settings, store).changed == ["alpha"]
    entry = train_customer_step(settings, store, "alpha", D2, lambda _: None)
    assert entry.status == "trained" and entry.artifact != live.customers["alpha"].artifact
    settings.run.gate_tolerance = 0.02
    # The training task made the comparison: its numbers decide, and the gate reads no log again.
    assert entry.gate is not None and entry.gate["live_artifact"] == live.customers["alpha"].artifact
    shutil.move(data / "alpha", tmp_path / "away")
    [decision] = gate_step(settings, store, {"alpha": entry}, lambda _: None).decisions
    shutil.move(tmp_path / "away", data / "alpha")
    # The same decision as the gate that reads the logs and trains the candidate again.
    [serial] = gate_step(
        settings, store, {"alpha": entry.model_copy(update={"gate": None})}, lambda _: None
    ).decisions
    assert serial == decision
    assert decision.action == "held back", decision
    assert decision.new_mrr is not None and decision.live_mrr is not None
    assert decision.new_mrr < decision.live_mrr - 0.02
    outcome = release_step(settings, store, D2, {"alpha": entry}, {}, [], [decision], lambda _: None)
    kept = read_manifest(store, f"gs_{D2}").customers["alpha"]
    assert kept.artifact == live.customers["alpha"].artifact and kept.status == "reused"
    assert outcome.reused == ["alpha"] and any("HELD BACK" in p for p in outcome.manifest.problems)
    gate = json.loads(store.read_bytes(f"releases/gs_{D2}/gate.json"))
    assert gate["live"] == live.version and gate["decisions"][0]["action"] == "held back"
    # With a tolerance that large, the same candidate ships.
    settings.run.gate_tolerance = 1.0
    [accepted] = gate_step(settings, store, {"alpha": entry}, lambda _: None).decisions
    assert accepted.action == "accepted"


def test_gate_accepts_when_the_live_model_cannot_be_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After an upgrade the live artifact may be of an older format: the gate must not block the release.
    monkeypatch.setenv("KWREC_DEPLOY__NAME", TARGET)
    data = tmp_path / "data"
    _history(data / "alpha", 10, datetime(2026, 11, 1, tzinfo=UTC))
    settings = Settings(store=str(tmp_path / "store"), cache_dir=tmp_path / "cache", data_dir=data)
    store = open_store(settings.store)
    live = train_release(settings, store, timestamp=D1, evaluate=False).manifest
    lease = records.acquire_lease(store, TARGET, "docker", live.version, "deploy", 60)
    records.set_live(store, TARGET, "docker", lease, live.version, {})
    meta = Path(settings.store) / live.customers["alpha"].artifact_key / "meta.json"
    meta.write_text(meta.read_text().replace('"format": ', '"format": 999, "old_format": '))
    _history(data / "alpha", 12, datetime(2026, 11, 1, tzinfo=UTC))
    entry = train_customer_step(settings, store, "alpha", D2, lambda _: None)
    [decision] = gate_step(settings, store, {"alpha": entry}, lambda _: None).decisions
    assert decision.action == "accepted" and decision.note and "not comparable" in decision.note


# ---- the whole chain on the engine ------------------------------------------------------------------

needs_engine = pytest.mark.skipif(
    not Path("/var/run/docker.sock").exists() or not Path("/usr/sbin/nginx").exists(),
    reason="needs the engine and nginx (scripts/setup-test-env.sh, scripts/ensure-nginx.sh)",
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("chain")
    data = tmp / "data"
    data.mkdir()
    for customer in ("books-en", "shop-kr"):  # day 1: two customers
        shutil.copytree(ROOT / "data" / "sample" / customer, data / customer)
    port = free_port()
    env = {
        "KWREC_STORE": str(tmp / "store"),
        "KWREC_DATA_DIR": str(data),
        "KWREC_CACHE_DIR": str(tmp / "cache"),
        **docker_target_env(
            tmp, repository=f"kwrec-test/chain{RUN}", target=TARGET, run_id=RUN, proxy_port=port
        ),
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        yield {"tmp": tmp, "data": data, "port": port, "store": open_store(env["KWREC_STORE"]), "mp": mp}
    client = engine.connect()
    for c in client.containers.list(all=True, filters={"label": f"kwrec.deploy.target={TARGET}"}):
        c.remove(force=True)
    NginxProxy(Path("/usr/sbin/nginx"), tmp / "deploy-state" / TARGET, "127.0.0.1", 0).stop()


def _summary(result: Any) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def _api(port: int, customer: str, q: str) -> dict[str, Any]:
    r = httpx.get(f"http://127.0.0.1:{port}/v1/{customer}/autocomplete", params={"q": q}, timeout=5)
    assert r.status_code == 200, r.text
    return dict(r.json())


@needs_engine
@pytest.mark.docker
@pytest.mark.slow
def test_days_resume_after_a_failed_push(world: dict[str, Any]) -> None:
    store, data, port, mp = world["store"], world["data"], world["port"], world["mp"]
    day1 = _summary(kwrec_run("--timestamp", D1, "--json"))
    assert sorted(day1["trained"]) == ["books-en", "shop-kr"] and day1["verified"] is True
    books1 = read_manifest(store, f"gs_{D1}").customers["books-en"].artifact
    assert _api(port, "books-en", "harry")["model_version"] == f"gs_{D1}"

    # Day 2: a new customer, and new logs for shop-kr. books-en is untouched.
    shutil.copytree(ROOT / "data" / "sample" / "news-kr", data / "news-kr")
    add_rows(data / "shop-kr", "day2.csv", "겨울")
    day2 = _summary(kwrec_run("--timestamp", D2, "--json"))
    assert sorted(day2["trained"]) == ["news-kr", "shop-kr"] and day2["reused"] == ["books-en"]
    assert day2["previous"] == f"gs_{D1}" and day2["verified"] is True
    m2 = read_manifest(store, f"gs_{D2}")
    assert m2.customers["books-en"].artifact == books1  # same checksum: reused, not retrained
    for customer, q in (("books-en", "harry"), ("shop-kr", "겨울"), ("news-kr", "날씨")):
        assert _api(port, customer, q)["model_version"] == f"gs_{D2}"
    assert _api(port, "shop-kr", "겨울")["suggestions"]
    # The release step stored the review against day 1, the release live before it; day 1 had none.
    assert not store.exists(diff_key(f"gs_{D1}"))
    review = json.loads(store.read_bytes(diff_key(f"gs_{D2}")))
    assert (review["old"], review["new"]) == (f"gs_{D1}", f"gs_{D2}")
    status = {c["customer"]: c["status"] for c in review["customers"]}
    assert status == {"books-en": "reused", "news-kr": "new", "shop-kr": "retrained"}
    assert store.read_bytes(diff_page_key(f"gs_{D2}")).startswith(b"<!DOCTYPE html>")

    # The same timestamp again: nothing to do.
    again = _summary(kwrec_run("--timestamp", D2, "--json"))
    assert {s["status"] for s in again["steps"]} == {"skipped"}

    # Day 3: the push fails (registry down); the run stops there and day 2 keeps serving.
    add_book_rows(data / "books-en", "day3.jsonl", "novel")
    mp.setenv("KWREC_IMAGE__REGISTRY__URL", f"127.0.0.1:{free_port()}")
    mp.setenv("KWREC_IMAGE__REGISTRY__RETRIES", "0")
    failed = kwrec_run("--timestamp", D3)
    assert failed.exit_code != 0, failed.output
    assert "step push failed" in failed.output and f"gs_{D2} keeps serving" in failed.output
    assert f"kwrec run --timestamp {D3}" in failed.output
    assert _api(port, "books-en", "harry")["model_version"] == f"gs_{D2}"
    run_record = json.loads(store.read_bytes(f"releases/gs_{D3}/run.json"))
    assert run_record["steps"]["push"]["status"] == "failed"
    built = shard_image(read_manifest(store, f"gs_{D3}"))
    assert built is not None

    # The registry is back: the re-run continues at push, without training or building again.
    mp.setenv("KWREC_IMAGE__REGISTRY__URL", "127.0.0.1:5000")
    day3 = _summary(kwrec_run("--timestamp", D3, "--json"))
    steps = {s["name"]: s["status"] for s in day3["steps"]}
    assert day3["resumed_from"] == "push"
    assert all(steps[s] == "skipped" for s in ("detect", "train", "gate", "release", "build"))
    assert steps["push"] == steps["deploy"] == steps["verify"] == "ran"
    assert day3["trained"] == ["books-en"] and day3["verified"] is True
    rebuilt = shard_image(read_manifest(store, f"gs_{D3}"))
    assert rebuilt is not None and rebuilt.id == built.id
    assert _api(port, "books-en", "novel")["model_version"] == f"gs_{D3}"
    assert b'"free"' in store.read_bytes(LOCK_KEY)
