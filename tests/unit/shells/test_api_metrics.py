"""AnswerTally: per-answer counts kept as plain integers and moved into the Prometheus counters."""

from __future__ import annotations

import threading

from prometheus_client import REGISTRY

from kwrec.api.metrics import AnswerTally


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_counts_reach_the_counters_and_none_is_lost_while_flushing() -> None:
    tally, customer, n = AnswerTally(), "tally-test", 200_000
    stop = threading.Event()

    def flush_all_the_time() -> None:
        while not stop.is_set():
            tally.flush()

    flusher = threading.Thread(target=flush_all_the_time)
    flusher.start()
    try:
        for i in range(n):
            tally.count(customer, "autocomplete", i % 3, hit=i % 2 == 0)  # 0, 1 or 2 suggestions
    finally:
        stop.set()
        flusher.join()
    tally.flush()
    labels = {"customer": customer, "kind": "autocomplete"}
    assert _value("kwrec_answers_total", **labels) == n
    assert _value("kwrec_suggestions_total", **labels) == sum(i % 3 for i in range(n))
    assert _value("kwrec_empty_answers_total", **labels) == len(range(0, n, 3))
    assert _value("kwrec_answer_cache_total", customer=customer, result="hit") == n / 2
    assert _value("kwrec_answer_cache_total", customer=customer, result="miss") == n / 2
    tally.flush()  # nothing new: nothing added twice
    assert _value("kwrec_answers_total", **labels) == n
