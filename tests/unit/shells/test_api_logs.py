"""The server's log lines: JSON when asked for, and no typed query in the access log unless opted in."""

from __future__ import annotations

import json
import logging
import time

from kwrec.reporting import AccessFields, JsonFormatter, redact_query
from tests.api_server import run_server, trained_store

PHONE = "010-1234-5678"


def _log_lines(server_log: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in server_log.splitlines() if line.startswith("{")]


def test_json_logs_and_an_access_log_without_the_typed_query() -> None:
    env = {"KWREC_LOG__FORMAT": "json"}
    with run_server(trained_store(), "--access-log", env=env) as srv:
        assert srv.get("/v1/alpha-kr/autocomplete", q=PHONE, limit=3).status_code == 200
        deadline = time.monotonic() + 10
        while "/v1/alpha-kr/autocomplete" not in srv.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        text = srv.log.read_text()
    assert PHONE not in text and "01012345678" not in text and "010-1234" not in text
    lines = _log_lines(text)
    assert lines and all({"ts", "level", "logger", "message"} <= set(line) for line in lines)
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert access and access[0]["path"] == "/readyz", text  # the test's readiness probes came first
    access = [line for line in access if str(line["path"]).startswith("/v1/")]
    assert len(access) == 1, text
    assert access[0]["path"] == f"/v1/alpha-kr/autocomplete?q=<{len(PHONE)} chars>&limit=3"
    assert access[0]["status"] == 200 and access[0]["method"] == "GET"
    assert any(line["logger"] == "uvicorn.error" for line in lines)  # uvicorn's own lines are JSON too


def test_raw_queries_only_when_opted_in() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/v1/c/related?q={PHONE}", "1.1", 200), None,
    )  # fmt: skip
    AccessFields(raw=True).filter(record)
    assert PHONE in record.getMessage()
    AccessFields(raw=False).filter(record)
    assert PHONE not in record.getMessage() and "q=<13 chars>" in record.getMessage()
    out = json.loads(JsonFormatter().format(record))
    assert out["level"] == "info" and out["client"] == "127.0.0.1:5000" and out["status"] == 200
    assert redact_query("/healthz") == "/healthz"
    assert redact_query("/v1/c/popular?limit=5&x=a%20b") == "/v1/c/popular?limit=5&x=<3 chars>"
