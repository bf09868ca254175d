"""Training tasks of a distributed run: every changed customer in exactly one batch, batches within
their bounds, large customers alone, the same batches every time."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kwrec.core.batches import BatchPolicy, training_batches

sizes = st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), st.integers(0, 10_000), max_size=60)


@given(sizes, st.integers(1, 12), st.integers(1, 20_000))
def test_every_customer_once_and_batches_within_bounds(
    log_bytes: dict[str, int], max_customers: int, max_bytes: int
) -> None:
    policy = BatchPolicy(max_customers, max_bytes)
    batches = training_batches(log_bytes, policy)
    flat = [c for b in batches for c in b]
    assert sorted(flat) == sorted(log_bytes)
    for b in batches:
        assert 1 <= len(b) <= max_customers
        # Over the byte bound only when one customer alone is larger.
        assert sum(log_bytes[c] for c in b) <= max_bytes or len(b) == 1
    assert training_batches(dict(reversed(list(log_bytes.items()))), policy) == batches


def test_small_customers_share_a_task_and_a_large_one_has_its_own() -> None:
    log_bytes = {"big": 50_000_000, "mid": 9_000_000, **{f"c{i:02d}": 10_000 for i in range(45)}}
    batches = training_batches(log_bytes, BatchPolicy(max_customers=20, max_bytes=16_000_000))
    assert batches[0] == ["big"]  # the longest task starts first
    assert batches[1][0] == "mid" and len(batches[1]) == 20
    assert [len(b) for b in batches] == [1, 20, 20, 6]


def test_one_task_per_customer_when_asked() -> None:
    log_bytes = {"a": 1, "b": 2, "c": 3}
    assert training_batches(log_bytes, BatchPolicy(max_customers=1)) == [["c"], ["b"], ["a"]]


def test_a_policy_without_room_is_refused() -> None:
    with pytest.raises(ValueError):
        BatchPolicy(max_customers=0)
