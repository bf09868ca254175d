"""CORS for client sites: only configured origins get the header, and only for GETs."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kwrec.api.app import create_app
from kwrec.api.state import ServingState
from kwrec.settings import ServeSettings, Settings


def test_configured_origin_is_allowed_and_others_are_not() -> None:
    settings = Settings(serve=ServeSettings(cors_origins=["https://shop.example"]))
    client = TestClient(create_app(settings, state=ServingState()))
    ok = client.get("/healthz", headers={"Origin": "https://shop.example"})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://shop.example"
    other = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = client.options(
        "/v1/shop-kr/autocomplete",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 400


def test_no_cors_headers_by_default() -> None:
    client = TestClient(create_app(Settings(), state=ServingState()))
    assert (
        "access-control-allow-origin" not in client.get("/healthz", headers={"Origin": "https://a.b"}).headers
    )
