"""Contract tests of the serving API over real HTTP (`kwrec serve` under uvicorn on 127.0.0.1)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.api_server import (
    NEW_VERSION,
    OLD_VERSION,
    VOCAB,
    Server,
    corrupted_store,
    run_server,
    trained_store,
)
from tests.support import API_OPERATIONS

ANSWER_KEYS = {"customer", "model_version", "query", "suggestions"}
LIST_KEYS = {"customer", "model_version", "suggestions"}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with run_server(trained_store()) as srv:
        yield srv


def _check_answer(body: dict[str, object], customer: str, keys: set[str]) -> list[str]:
    assert set(body) == keys
    assert body["customer"] == customer
    assert body["model_version"] == NEW_VERSION
    suggestions = body["suggestions"]
    assert isinstance(suggestions, list)
    for s in suggestions:
        assert set(s) == {"keyword", "score"}
        assert isinstance(s["keyword"], str) and isinstance(s["score"], float | int)
    scores = [s["score"] for s in suggestions]
    assert scores == sorted(scores, reverse=True), "best first"
    return [s["keyword"] for s in suggestions]


def test_health_ready_version(server: Server) -> None:
    assert server.get("/healthz").json() == {"status": "ok"}
    ready = server.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "model_version": NEW_VERSION, "customers": 2}
    version = server.get("/version").json()
    assert version["model_version"] == NEW_VERSION  # no --model-version: the newest release
    assert version["customers"] == ["alpha-kr", "beta-en"]
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", version["code_version"])


def test_autocomplete(server: Server) -> None:
    r = server.get("/v1/alpha-kr/autocomplete", q="아이")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["query"] == "아이"
    keywords = _check_answer(body, "alpha-kr", ANSWER_KEYS)
    assert "아이폰" in keywords and "아이패드" in keywords
    latin = _check_answer(
        server.get("/v1/beta-en/autocomplete", q="py", limit=1).json(), "beta-en", ANSWER_KEYS
    )
    assert latin == ["python programming"]


def test_autocomplete_korean_typing(server: Server) -> None:
    # mid-syllable prefix, 초성 and a 한/영 layout mistake all reach 아이폰
    for typed in ("아이ㅍ", "ㅇㅇㅍ", "dkdlvh"):
        keywords = _check_answer(
            server.get("/v1/alpha-kr/autocomplete", q=typed).json(), "alpha-kr", ANSWER_KEYS
        )
        assert "아이폰" in keywords, typed


def test_related(server: Server) -> None:
    body = server.get("/v1/beta-en/related", q="python programming").json()
    keywords = _check_answer(body, "beta-en", ANSWER_KEYS)
    assert "python cookbook" in keywords
    unknown = server.get("/v1/beta-en/related", q="never searched").json()
    assert _check_answer(unknown, "beta-en", ANSWER_KEYS) == []


@pytest.mark.parametrize("kind", ["popular", "trending"])
def test_lists(server: Server, kind: str) -> None:
    r = server.get(f"/v1/alpha-kr/{kind}", limit=3)
    assert r.status_code == 200
    keywords = _check_answer(r.json(), "alpha-kr", LIST_KEYS)
    assert 1 <= len(keywords) <= 3
    default = _check_answer(server.get(f"/v1/alpha-kr/{kind}").json(), "alpha-kr", LIST_KEYS)
    assert len(default) <= 10


def test_limit_bounds(server: Server) -> None:
    assert len(server.get("/v1/alpha-kr/popular", limit=50).json()["suggestions"]) <= 50
    for bad in ("0", "51", "-1", "abc", "1.5", ""):
        r = server.get("/v1/alpha-kr/autocomplete", q="아", limit=bad)
        assert r.status_code == 422, bad
        assert r.json()["error"] == "invalid_request"


def test_unknown_customer_is_404_naming_it(server: Server) -> None:
    for path in ("autocomplete?q=a", "related?q=a", "popular", "trending"):
        r = httpx.get(f"{server.url}/v1/gamma-jp/{path}")
        assert r.status_code == 404
        body = r.json()
        assert body["error"] == "unknown_customer" and body["customer"] == "gamma-jp"
        assert "gamma-jp" in body["message"]


def test_invalid_customer_id_is_422(server: Server) -> None:
    for bad in ("UPPER", "-dash", "a" * 64, "%ED%A0%80", "a.b", "%00"):
        r = httpx.get(f"{server.url}/v1/{bad}/popular")
        assert r.status_code == 422, bad
        assert r.json()["error"] == "invalid_request"


def test_query_length_after_normalisation(server: Server) -> None:
    assert server.get("/v1/alpha-kr/autocomplete", q="가" * 100).status_code == 200
    long = server.get("/v1/alpha-kr/autocomplete", q="가" * 101)
    assert long.status_code == 422 and long.json()["details"][0]["loc"] == ["query", "q"]
    # space runs collapse: 248 raw characters that normalise to 99
    spaced = "   ".join("가" * 50) + "\u3000" * 50
    assert server.get("/v1/alpha-kr/autocomplete", q=spaced).status_code == 200
    # one ligature NFKC-expands to 18 characters: 6 of them are over the limit
    assert server.get("/v1/alpha-kr/related", q="\ufdfa" * 6).status_code == 422
    assert server.get("/v1/alpha-kr/autocomplete").status_code == 422  # q is required


@pytest.mark.parametrize(
    "raw_q",
    [
        "%ED%A0%80",  # a lone surrogate, UTF-8 encoded
        "%ED%B0%80%ED%A0%80",
        "%FF%FE%00",
        "%00",
        "%1B%5B31m%07",  # ANSI escape, bell
        "%F0%9F%98%80%F0%9F%91%8D",  # emoji
        "%E2%80%AE%E2%80%8B%EF%BB%BF",  # RTL override, zero-width space, BOM
        "%E1%84%8B%E1%85%A1",  # conjoining jamo
        "iPhone%20%EC%BC%80%EC%9D%B4%EC%8A%A4%20%D0%BF%D1%80%D0%B8",  # mixed scripts
        "%",
        "%%%",
        "+",
        "%C0%AF",  # overlong encoding
        "a%0D%0AX-Injected:%201",
    ],
)
def test_any_unicode_answers_without_500(server: Server, raw_q: str) -> None:
    for kind in ("autocomplete", "related"):
        r = httpx.get(f"{server.url}/v1/alpha-kr/{kind}?q={raw_q}&limit=5")
        assert r.status_code == 200, (kind, raw_q, r.text)
        assert set(r.json()) == ANSWER_KEYS
        assert "x-injected" not in r.headers


def test_errors_are_json(server: Server) -> None:
    r = httpx.get(f"{server.url}/no/such/path")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = httpx.post(f"{server.url}/v1/alpha-kr/popular")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


def test_tenant_isolation(server: Server) -> None:
    """No prefix, keyword or list of one customer ever yields the other customer's keywords."""
    for customer, own in VOCAB.items():
        foreign = {kw for other, words in VOCAB.items() if other != customer for kw in words}
        probes = {kw[:n] for words in VOCAB.values() for kw in words for n in (1, 2, 3, len(kw))}
        for q in sorted(probes):
            for kind in ("autocomplete", "related"):
                got = {
                    s["keyword"]
                    for s in server.get(f"/v1/{customer}/{kind}", q=q, limit=50).json()["suggestions"]
                }
                assert not got & foreign, (customer, kind, q, got & foreign)
        for kind in ("popular", "trending"):
            got = {s["keyword"] for s in server.get(f"/v1/{customer}/{kind}", limit=50).json()["suggestions"]}
            assert got and got <= set(own), (customer, kind, got - set(own))


def test_metrics(server: Server) -> None:
    server.get("/v1/beta-en/autocomplete", q="ha")
    server.get("/v1/unknown-one/popular")
    text = server.get("/metrics").text
    assert (
        'kwrec_http_requests_total{customer="beta-en",endpoint="/v1/{customer}/autocomplete",status="200"}'
        in text
    )
    assert (
        'kwrec_http_request_duration_seconds_bucket{customer="beta-en",endpoint="/v1/{customer}/autocomplete"'
        in text
    )
    # customers outside the release do not become label values
    assert "unknown-one" not in text
    assert 'kwrec_model_info{code_version="' in text and f'model_version="{NEW_VERSION}"' in text
    assert "kwrec_ready 1.0" in text


def _sample(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    line = f"{name}{{{want}}} " if labels else f"{name} "
    found = [ln for ln in text.splitlines() if ln.startswith(line)]
    assert found, f"no sample {line!r} in /metrics"
    return float(found[0].rsplit(" ", 1)[1])


def test_answer_metrics_per_customer(server: Server) -> None:
    before = server.get("/metrics").text
    labels = {"customer": "beta-en", "kind": "autocomplete"}
    answers0 = _sample(before, "kwrec_answers_total", **labels) if "kwrec_answers_total{" in before else 0.0
    empty0 = _sample(before, "kwrec_empty_answers_total", **labels) if answers0 else 0.0
    got = len(server.get("/v1/beta-en/autocomplete", q="pyt", limit=3).json()["suggestions"])
    server.get("/v1/beta-en/autocomplete", q="pyt", limit=3)  # the same answer again: from the cache
    assert server.get("/v1/beta-en/autocomplete", q="zzqqxxjj").json()["suggestions"] == []
    server.get("/v1/unknown-one/autocomplete", q="pyt")  # 404: not an answer, no label value
    text = server.get("/metrics").text
    assert _sample(text, "kwrec_answers_total", **labels) == answers0 + 3
    assert _sample(text, "kwrec_empty_answers_total", **labels) == empty0 + 1
    assert _sample(text, "kwrec_suggestions_total", **labels) >= 2 * got > 0
    assert _sample(text, "kwrec_answer_cache_total", customer="beta-en", result="hit") >= 1
    assert "unknown-one" not in text
    # the release's age, from its version's timestamp (UTC)
    trained = datetime.strptime(NEW_VERSION.rsplit("_", 1)[1], "%y%m%d%H%M").replace(tzinfo=UTC).timestamp()
    assert _sample(text, "kwrec_model_trained_timestamp_seconds") == trained
    assert abs(_sample(text, "kwrec_model_age_seconds") - (time.time() - trained)) < 60


def test_docs_and_openapi(server: Server) -> None:
    assert server.get("/docs").status_code == 200
    spec = server.get("/openapi.json").json()
    for path in API_OPERATIONS:
        assert path in spec["paths"], path
    auto = spec["paths"]["/v1/{customer}/autocomplete"]["get"]
    assert {"200", "404", "422", "503"} <= set(auto["responses"])
    ref = auto["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    answer = spec["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(answer["required"]) == ANSWER_KEYS


def test_openapi_describes_every_field_and_answer(server: Server) -> None:
    spec = server.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for name in (
        "SuggestionOut",
        "QueryAnswer",
        "ListAnswer",
        "ErrorOut",
        "HealthOut",
        "ReadyOut",
        "VersionOut",
    ):
        for field, prop in schemas[name]["properties"].items():
            assert prop.get("description"), f"{name}.{field} has no description"
    for path, ops in spec["paths"].items():
        for status, response in ops["get"]["responses"].items():
            content = response.get("content", {})
            assert any("example" in c for c in content.values()), f"{path} {status}: no example"


@pytest.mark.parametrize(
    ("status", "path", "params"),
    [(404, "/v1/nope/autocomplete", {"q": "a"}), (422, "/v1/alpha-kr/autocomplete", {"q": "a", "limit": 99})],
)
def test_error_examples_have_the_real_shape(
    server: Server, status: int, path: str, params: dict[str, object]
) -> None:
    spec = server.get("/openapi.json").json()
    example = spec["paths"]["/v1/{customer}/autocomplete"]["get"]["responses"][str(status)]["content"][
        "application/json"
    ]["example"]
    real = server.get(path, **params)
    assert real.status_code == status
    body = real.json()
    assert set(body) == set(example) and body["error"] == example["error"]
    if status == 422:
        assert set(body["details"][0]) == set(example["details"][0])
        assert body["details"][0]["loc"] == example["details"][0]["loc"]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_nothing_from_elsewhere(server: Server, page: str) -> None:
    html = server.get(page).text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)""", html) + re.findall(r"""url: ?['"]([^'"]+)""", html)
    assert urls, html[:2000]
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"{page} loads {url}"
        r = server.get(url)
        assert r.status_code == 200, url
    scripts = [u for u in urls if u.endswith(".js")]
    assert scripts and all(len(server.get(u).content) > 500_000 for u in scripts), scripts
    assert server.get("/docs-assets/0/nothing.js").status_code == 404


def test_demo_page_served(server: Server) -> None:
    page = server.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/demo.js">' in page.text
    js = server.get("/demo.js")
    assert js.status_code == 200 and "textContent" in js.text and ".innerHTML" not in js.text


def test_pinned_model_version() -> None:
    with run_server(trained_store(), "--model-version", OLD_VERSION) as srv:
        assert srv.get("/version").json()["model_version"] == OLD_VERSION
        assert srv.get("/v1/alpha-kr/popular").json()["model_version"] == OLD_VERSION


def test_corrupted_artifact_never_ready_but_alive() -> None:
    with run_server(corrupted_store(), ready=False) as srv:
        assert srv.get("/healthz").status_code == 200
        body: dict[str, str] = {}
        for _ in range(200):  # "loading" first, then "failed" once the checksum check has run
            r = srv.get("/readyz")
            assert r.status_code == 503
            body = r.json()
            if body["status"] == "failed":
                break
            time.sleep(0.05)
        assert body["status"] == "failed"
        assert "corrupted" in body["error"]
        assert srv.get("/version").status_code == 503
        r = srv.get("/v1/alpha-kr/autocomplete", q="아")
        assert r.status_code == 503 and r.json()["error"] == "not_ready"
        # Not "try again shortly": a failed load is not retried. And the cause, with the store's paths,
        # is for /readyz and the log, not for public answers.
        assert r.json()["message"] == "the release failed to load (see /readyz)"
        assert srv.get("/healthz").status_code == 200


def test_two_workers_share_metrics() -> None:
    with run_server(trained_store(), "--workers", "2", timeout=60) as srv:
        ok = 0
        for _ in range(40):  # a new connection each time, so both workers answer some
            r = httpx.get(f"{srv.url}/v1/alpha-kr/popular", params={"limit": 2}, timeout=10)
            assert r.status_code in (200, 503)  # 503: that worker is still loading
            ok += r.status_code == 200
        assert ok > 0
        # whichever worker answers the scrape reports every worker's requests
        text = srv.get("/metrics").text
        prefix = (
            'kwrec_http_requests_total{customer="alpha-kr",endpoint="/v1/{customer}/popular",status="200"}'
        )
        line = next(ln for ln in text.splitlines() if ln.startswith(prefix))
        assert float(line.rsplit(" ", 1)[1]) == ok

        # answers are counted in plain integers per worker and reach the shared files within a flush
        # interval (5 s), so the scrape soon reports both workers' answers too
        def answers() -> float:
            text = srv.get("/metrics").text
            if 'kwrec_answers_total{customer="alpha-kr",kind="popular"}' not in text:
                return 0.0
            return _sample(text, "kwrec_answers_total", customer="alpha-kr", kind="popular")

        deadline = time.monotonic() + 15
        while answers() != ok and time.monotonic() < deadline:
            time.sleep(0.5)
        assert answers() == ok
        assert _sample(srv.get("/metrics").text, "kwrec_model_age_seconds") > 0


def test_a_worker_that_stops_keeps_its_answer_counts() -> None:
    # Answers are tallied in plain integers and flushed every 5 s: a worker stopped (SIGTERM, as a
    # restart or scale-down does) right after answering must flush on its way out, not lose them.
    import psutil

    with run_server(trained_store(), "--workers", "2", timeout=60) as srv:
        workers = psutil.Process(srv.process.pid).children(recursive=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # both workers loaded: every answer is a 200
            codes = {httpx.get(f"{srv.url}/readyz", timeout=10).status_code for _ in range(8)}
            if codes == {200}:
                break
            time.sleep(0.2)
        for _ in range(20):
            r = httpx.get(f"{srv.url}/v1/alpha-kr/popular", params={"limit": 2}, timeout=10)
            assert r.status_code == 200
        for w in workers:  # both, well inside the flush interval: only the flush on exit can save them
            w.terminate()
        psutil.wait_procs(workers, timeout=15)
        deadline = time.monotonic() + 30  # uvicorn starts new workers
        while time.monotonic() < deadline:
            try:
                text = httpx.get(f"{srv.url}/metrics", timeout=5).text
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert _sample(text, "kwrec_answers_total", customer="alpha-kr", kind="popular") == 20
