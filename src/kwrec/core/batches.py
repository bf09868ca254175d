"""Grouping changed customers into training tasks.

A distributed task costs a fixed start-up on its worker (about 1.5 CPU-seconds on Airflow 3: a fork,
parsing the DAG file, talking to the API server), while a small customer trains in a quarter of a
second; one task per customer would spend most of a 1,000-customer day starting tasks. So small
customers share a task, large ones get their own, and there are still enough tasks to keep every
worker busy. A batch that fails is retried as a whole, and the customers it already trained are found
in the store (content-addressed), so a retry redoes only the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class BatchPolicy:
    max_customers: int = 20  # 1: one task per customer
    max_bytes: int = 128 * 1024 * 1024  # of log files per task (about 30 s of work); a larger one is alone

    def __post_init__(self) -> None:
        if self.max_customers < 1 or self.max_bytes < 1:
            raise ValueError("a batch holds at least one customer and one byte")


def training_batches(log_bytes: Mapping[str, int], policy: BatchPolicy) -> list[list[str]]:
    """Customers (name -> bytes of their logs) in batches, largest first; deterministic.

    Next-fit over the customers sorted by size: a batch closes when the next customer would take it
    past ``max_bytes`` or ``max_customers``. Sorting puts the large customers in the first tasks, which
    then run while the small ones queue behind them (the longest tasks start first).
    """
    order = sorted(log_bytes, key=lambda c: (-max(0, log_bytes[c]), c))
    batches: list[list[str]] = []
    current: list[str] = []
    size = 0
    for customer in order:
        n = max(0, log_bytes[customer])
        if current and (len(current) >= policy.max_customers or size + n > policy.max_bytes):
            batches.append(current)
            current, size = [], 0
        current.append(customer)
        size += n
    if current:
        batches.append(current)
    return batches
