"""Release records without an engine: the target lease race, alias stack, and the golden-answer rule."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kwrec.adapters.probe import golden_problem
from kwrec.adapters.stores import open_store
from kwrec.errors import DeployInProgressError
from kwrec.pipeline import records


def test_two_racing_deploys_exactly_one_takes_the_lease(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))
    for round_ in range(10):
        target = f"race{round_}"
        barrier = threading.Barrier(8)
        won: list[str] = []
        lost: list[str] = []

        def go(i: int, target: str = target, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                records.acquire_lease(store, target, "docker", f"gs_26112709{i:02d}", "deploy", 60)
                won.append(f"{i:02d}")
            except DeployInProgressError as exc:
                lost.append(str(exc))

        threads = [threading.Thread(target=go, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1 and len(lost) == 7
        assert all(f"target {target} is busy: deploy of gs_26112709{won[0]}" in m for m in lost)


def test_alias_stack_deploys_and_rollbacks(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "store"))

    def live(v: str, rollback: bool = False) -> records.TargetAlias:
        lease = records.acquire_lease(store, "t", "docker", v, "deploy", 60)
        return records.set_live(store, "t", "docker", lease, v, {"port": 1}, rollback=rollback)

    live("gs_2611270900")
    live("gs_2611271000")
    alias = live("gs_2611271100")
    assert (alias.live, alias.previous) == ("gs_2611271100", "gs_2611271000")
    alias = live("gs_2611271000", rollback=True)
    assert (alias.live, alias.previous) == ("gs_2611271000", "gs_2611270900")
    # A lease held by another process blocks; an expired one (its process died) is taken over.
    records.acquire_lease(store, "t", "docker", "gs_2611271200", "deploy", -1)
    records.acquire_lease(store, "t", "docker", "gs_2611271200", "deploy", 60)
    with pytest.raises(DeployInProgressError, match="busy"):
        records.acquire_lease(store, "t", "docker", "gs_2611271300", "deploy", 60)


@pytest.mark.parametrize(
    ("got", "ok"),
    [
        (["a", "b", "c"], True),
        (["a", "c", "b", "x"], True),  # lower keywords may swap
        (["a", "x", "b", "y", "c"], True),  # or move down by up to two
        (["a", "x", "y", "z", "b", "c"], False),
        (["b", "a", "c"], False),  # the best answer must not change
        ([], False),
    ],
)
def test_golden_rule(got: list[str], ok: bool) -> None:
    assert (golden_problem(["a", "b", "c"], got) is None) is ok
