"""Live rules on the docker target (real engine, nginx, containers): `kwrec block`/`pin` take effect at the
stable endpoint within a minute, without retraining or redeploying, in every kind of answer and through
초성 and 한/영 look-ups; a restarted replica applies them before it is ready; unblock and expiry bring the
keyword back; the next release keeps the block; a replica that cannot read the rules keeps its last ones
and says so in /metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from kwrec.adapters import engine
from kwrec.core.text.hangul import choseong, keystrokes
from kwrec.core.text.keyboard import jamo_to_latin
from kwrec.pipeline import records
from kwrec.pipeline.deploy import deploy_release
from tests.integration.docker_world import A, B, docker_world
from tests.support import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]

WITHIN = 60.0  # the promise: a rule is live everywhere within a minute
POLL = "2"  # the replicas' poll interval in this test (default 10 s)
KWREC = str(Path(sys.executable).with_name("kwrec"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("rules")
    with docker_world(tmp, "rules", releases=(A, B), extra_env={"KWREC_RULES__POLL_SECONDS": POLL}) as w:
        w["http"] = httpx.Client(base_url=f"http://127.0.0.1:{w['port']}", timeout=5)
        yield w
        w["http"].close()


def kwrec(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([KWREC, *args], capture_output=True, text=True, env=os.environ.copy(), timeout=60)
    assert done.returncode == 0, done.stderr
    return done


def keywords(http: httpx.Client, kind: str, q: str | None = None, limit: int = 20) -> list[str]:
    params: dict[str, Any] = {"limit": limit}
    if q is not None:
        params["q"] = q
    r = http.get(f"/v1/shop-kr/{kind}", params=params)
    assert r.status_code == 200, r.text
    return [s["keyword"] for s in r.json()["suggestions"]]


def within(check: Callable[[], bool], limit: float = WITHIN) -> float:
    return wait_until(check, limit)


def live_shard(world: dict[str, Any]) -> dict[str, Any]:
    alias, _ = records.read_alias(world["store"], world["target"])
    assert alias is not None
    return dict(alias.details["shards"]["s000"])


def test_block_contains_and_pin_are_live_within_a_minute(world: dict[str, Any]) -> None:
    http = world["http"]
    top = keywords(http, "popular")[0]
    prefix = top[:2]
    # A query whose related answer holds the keyword, to see it leave that kind too.
    related_q = next(k for k in keywords(http, "popular") if k != top and top in keywords(http, "related", k))
    lookups = {"autocomplete": prefix, "초성": choseong(top), "한/영": jamo_to_latin(keystrokes(prefix))}
    assert all(top in keywords(http, "autocomplete", q) for q in lookups.values()), lookups
    word = next(
        w for k in keywords(http, "autocomplete", prefix) for w in k.split() if w != top and len(w) >= 2
    )
    with_word = [k for k in keywords(http, "autocomplete", prefix) if word in k.split()]
    assert with_word

    kwrec("block", "shop-kr", top, "--reason", "court-order", "--note", "order 2026-123")
    kwrec("block", "shop-kr", word, "--reason", "privacy", "--match", "contains")
    kwrec("pin", "shop-kr", "겨울", "롱패딩 블랙 특가", "--position", "1", "--note", "winter campaign")

    def blocked_everywhere() -> bool:
        answers = [keywords(http, "autocomplete", q) for q in lookups.values()]
        answers += [keywords(http, k) for k in ("popular", "trending")]
        answers.append(keywords(http, "related", related_q))
        return all(top not in a and not any(word in k for k in a) for a in answers)

    took = within(blocked_everywhere)
    assert took < WITHIN
    print(f"block and contains-block live in all answers at the stable endpoint after {took:.1f} s")
    assert keywords(http, "autocomplete", prefix)  # the answer was filled from below, not emptied
    for typed in ("겨울", "rudnf"):  # the prefix, and typed on the wrong layout
        within(lambda t=typed: keywords(http, "autocomplete", t)[:1] == ["롱패딩 블랙 특가"])
    listed = kwrec("rules", "shop-kr", "--json").stdout
    assert top in listed and "롱패딩 블랙 특가" in listed


def test_a_restarted_replica_applies_the_rules_before_it_is_ready(world: dict[str, Any]) -> None:
    listed = json.loads(kwrec("rules", "shop-kr", "--json").stdout)["rules"]
    blocked = [r["keyword"] for r in listed if r["kind"] == "block" and r["match"] == "exact"]
    assert blocked
    shard = live_shard(world)
    container = engine.connect().containers.get(shard["container"])
    container.restart(timeout=5)
    direct = httpx.Client(base_url=f"http://127.0.0.1:{shard['port']}", timeout=2)
    first: list[str] | None = None
    deadline = time.monotonic() + 60
    while first is None and time.monotonic() < deadline:
        try:
            r = direct.get("/v1/shop-kr/popular", params={"limit": 50})
            if r.status_code == 200:
                first = [s["keyword"] for s in r.json()["suggestions"]]
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    assert first is not None, "the restarted replica never answered"
    assert not set(blocked) & set(first)  # its very first answer already applies the blocks


def test_unblock_and_expiry_bring_the_keyword_back(world: dict[str, Any]) -> None:
    http = world["http"]
    rules = json.loads(kwrec("rules", "shop-kr", "--json").stdout)["rules"]
    exact = next(r["keyword"] for r in rules if r["kind"] == "block" and r["match"] == "exact")
    kwrec("unblock", "shop-kr", exact)
    within(lambda: exact in keywords(http, "popular", limit=50))

    second = keywords(http, "popular")[1]
    until = (datetime.now(UTC) + timedelta(seconds=12)).isoformat(timespec="seconds")
    kwrec("block", "shop-kr", second, "--reason", "other", "--until", until)
    within(lambda: second not in keywords(http, "popular", limit=50))
    # No further command: the replicas drop the rule when its window closes.
    within(lambda: second in keywords(http, "popular", limit=50), limit=12 + WITHIN)
    history = kwrec("rules", "--history", "--json").stdout
    assert history.count('"action":"block"') >= 3 and '"action":"unblock"' in history


def test_the_next_release_keeps_the_block(world: dict[str, Any]) -> None:
    http = world["http"]
    target = keywords(http, "popular")[0]
    kwrec("block", "shop-kr", target, "--reason", "defamation")
    within(lambda: target not in keywords(http, "popular", limit=50))
    deploy_release(world["settings"], world["store"], B, lambda _: None)
    assert http.get("/version").json()["model_version"] == B
    assert target not in keywords(http, "popular", limit=50)
    assert all(target not in keywords(http, "autocomplete", target[:n]) for n in (1, 2))


def test_a_replica_that_cannot_read_the_rules_keeps_them_and_says_so(world: dict[str, Any]) -> None:
    http = world["http"]
    blocked = keywords(http, "popular")[0]
    kwrec("block", "shop-kr", blocked, "--reason", "illegal")
    within(lambda: blocked not in keywords(http, "popular", limit=50))
    rules_dir = Path(world["store"].root) / "rules"
    shard = live_shard(world)
    direct = httpx.Client(base_url=f"http://127.0.0.1:{shard['port']}", timeout=2)

    def metric(name: str) -> float:
        for line in direct.get("/metrics").text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return float("nan")

    errors_before = metric("kwrec_rules_poll_errors_total")
    version = metric("kwrec_rules_version")
    rules_dir.chmod(0o000)  # the replica's user can no longer read the store's rules
    try:
        within(lambda: metric("kwrec_rules_poll_errors_total") > errors_before)
        within(lambda: metric("kwrec_rules_age_seconds") > 2 * float(POLL))
        assert metric("kwrec_rules_version") == version  # the last rules, still applied
        assert direct.get("/readyz").status_code == 200
        assert blocked not in keywords(http, "popular", limit=50)
    finally:
        rules_dir.chmod(0o755)
    within(lambda: metric("kwrec_rules_age_seconds") < 2 * float(POLL) + 1)
