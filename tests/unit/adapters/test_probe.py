"""The probe's latency rule: an answer over budget is asked again once; only a slow-again answer fails.

A real HTTP server on 127.0.0.1 answers slowly on the requests a test chooses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from kwrec.adapters.probe import VerifyReport, _Probe


class Slow:
    def __init__(self, slow_calls: set[int]) -> None:
        self.slow_calls, self.calls = slow_calls, 0


@pytest.fixture
def server() -> Iterator[tuple[str, Slow]]:
    plan = Slow(set())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            plan.calls += 1
            if plan.calls in plan.slow_calls:
                time.sleep(0.3)
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", plan
    finally:
        httpd.shutdown()


@pytest.mark.parametrize(("slow", "fails", "calls"), [(set(), False, 1), ({1}, False, 2), ({1, 2}, True, 2)])
def test_a_slow_answer_fails_only_when_slow_twice(
    server: tuple[str, Slow], slow: set[int], fails: bool, calls: int
) -> None:
    url, plan = server
    plan.slow_calls = slow
    report = VerifyReport(base_url=url, version="gs_2611270900", budget_ms=150)
    with httpx.Client(base_url=url, timeout=5) as client:
        probe = _Probe(client, report)
        assert probe.get("x", "/x") is not None
    assert plan.calls == calls
    assert [c.name for c in report.checks if not c.ok] == (["latency x"] if fails else [])
    assert (probe.last_ms > 150) is fails
