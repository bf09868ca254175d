"""Shard assignment: sticky from day to day, new customers on the least-loaded shard, bounded layers."""

from __future__ import annotations

import random

import pytest

from kwrec.core.shards import (
    ShardPolicy,
    assign_shards,
    layer_groups,
    shard_fingerprint,
)


def _zipf_sizes(n: int, seed: int = 7) -> dict[str, int]:
    rng = random.Random(seed)
    return {f"c{i:04d}": int(5_000_000 / (i + 1)) + rng.randint(1_000, 5_000) for i in range(n)}


def test_every_customer_gets_a_shard_within_the_budget() -> None:
    sizes = _zipf_sizes(1000)
    got = assign_shards(sizes, {}, ShardPolicy(shards=1, max_customers=100))
    assert set(got) == set(sizes)
    counts: dict[str, int] = {}
    for s in got.values():
        counts[s] = counts.get(s, 0) + 1
    assert len(counts) == 10 and max(counts.values()) <= 100


def test_assignment_is_sticky_and_new_customers_fill_the_least_loaded_shard() -> None:
    sizes = _zipf_sizes(300)
    day1 = assign_shards(sizes, {}, ShardPolicy(shards=3, max_customers=200))
    day2_sizes = {**sizes, "new-small": 1_000}
    for c in list(sizes)[:10]:  # ten customers retrained: other sizes, same shard
        day2_sizes[c] = sizes[c] * 3
    day2 = assign_shards(day2_sizes, day1, ShardPolicy(shards=3, max_customers=200))
    assert all(day2[c] == day1[c] for c in sizes)
    load = {s: sum(day2_sizes[c] for c, x in day1.items() if x == s) for s in set(day1.values())}
    assert day2["new-small"] == min(load, key=lambda s: (load[s], s))


def test_a_full_fleet_opens_a_new_shard_instead_of_overfilling() -> None:
    sizes = {f"c{i}": 10 for i in range(4)}
    day1 = assign_shards(sizes, {}, ShardPolicy(shards=1, max_customers=4))
    assert set(day1.values()) == {"s000"}
    day2 = assign_shards({**sizes, "c9": 10}, day1, ShardPolicy(shards=1, max_customers=4))
    assert day2["c9"] == "s001" and all(day2[c] == "s000" for c in sizes)


def test_byte_budget_and_removed_customers() -> None:
    sizes = {"big": 900, "mid": 500, "small": 100}
    got = assign_shards(sizes, {}, ShardPolicy(shards=1, max_customers=10, max_bytes=1000))
    assert got["big"] != got["mid"]  # together they exceed the budget
    # A shard that lost every customer disappears; the others keep their names.
    left = assign_shards({"mid": 500}, got, ShardPolicy(shards=1, max_customers=10, max_bytes=1000))
    assert left == {"mid": got["mid"]}


def test_rebalance_recomputes_only_when_asked() -> None:
    sizes = {f"c{i}": 1 for i in range(6)}
    skewed = {c: "s000" for c in sizes}
    kept = assign_shards(sizes, skewed, ShardPolicy(shards=2, max_customers=10))
    assert all(kept[c] == "s000" for c in sizes)
    balanced = assign_shards(sizes, skewed, ShardPolicy(shards=2, max_customers=10), rebalance=True)
    assert sorted(list(balanced.values()).count(s) for s in ("s000", "s001")) == [3, 3]


@pytest.mark.parametrize("n", [1, 99, 100, 101, 1000])
def test_layers_stay_within_the_budget_and_are_stable(n: int) -> None:
    customers = [f"c{i:04d}" for i in range(n)]
    groups = layer_groups(customers, 100)
    assert len(groups) <= 100
    assert sorted(c for g in groups for c in g) == customers
    if n <= 100:
        assert all(len(g) == 1 for g in groups)
    if n > 100:
        # A customer's group does not depend on which other customers exist: a new customer changes
        # its own group's layer only, every other layer stays byte-identical.
        again = layer_groups([*customers, "zz-new"], 100)
        changed = {tuple(g) for g in again} - {tuple(g) for g in groups}
        assert len(changed) == 1 and "zz-new" in next(iter(changed))


def test_the_fingerprint_names_what_the_image_is_built_from() -> None:
    a = shard_fingerprint({"x": "sha256:1", "y": "sha256:2"}, "0.1.0", "base:1")
    assert a == shard_fingerprint({"y": "sha256:2", "x": "sha256:1"}, "0.1.0", "base:1")
    assert a != shard_fingerprint({"x": "sha256:1", "y": "sha256:3"}, "0.1.0", "base:1")
    assert a != shard_fingerprint({"x": "sha256:1", "y": "sha256:2"}, "0.2.0", "base:1")
    assert a != shard_fingerprint({"x": "sha256:1"}, "0.1.0", "base:1")
