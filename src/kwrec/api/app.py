"""The serving API (contract: "Serving API" in PRODUCT.md). ``create_app(settings)`` builds it.

Hot path: handlers are ``async def`` (a look-up takes microseconds, far less than a hop to the thread
pool) and return orjson bytes in a plain ``Response``, so no pydantic model is built or validated per
request. The response models in ``schemas`` only describe the answers in the OpenAPI document.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from importlib import resources
from typing import Annotated, Any

import orjson
from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from kwrec import __version__
from kwrec.api import metrics
from kwrec.api.docs import install_offline_docs
from kwrec.api.schemas import (
    ErrorOut,
    HealthOut,
    ListAnswer,
    QueryAnswer,
    ReadyOut,
    VersionOut,
    first_example,
)
from kwrec.api.state import ServingState, start_loading
from kwrec.core.answers import MAX_QUERY_CHARS, Kind, answer, query_too_long
from kwrec.core.models.customer_model import CustomerModel
from kwrec.ids import CUSTOMER_RE
from kwrec.settings import Settings

log = logging.getLogger("kwrec.api")

MAX_LIMIT = 50
JSON = "application/json"
# Answers cached per worker: a release is immutable while it is served, and search traffic is heavily
# skewed (the same short prefixes again and again), so the hot prefixes cost one dict look-up.
# 32768 answers of ~0.5 KB each bound the cache at roughly 16 MB per worker.
ANSWER_CACHE_SIZE = 32768

CustomerPath = Annotated[
    str,
    Path(
        pattern=CUSTOMER_RE.pattern,
        description="customer id (1-63 of a-z 0-9 _ -); a valid id that is not in the release gives 404",
        examples=["shop-kr"],
    ),
]
QueryParam = Annotated[
    str,
    Query(
        description=f"what the user typed: any Unicode; at most {MAX_QUERY_CHARS} characters after "
        "normalisation (NFKC, invisible characters removed, spaces collapsed), else 422",
        examples=["아이폰"],
    ),
]
LimitParam = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="how many suggestions, at most")]


def _answer(model: type[BaseModel]) -> dict[str, Any]:
    """A 200 response of ``model`` with the model's own first example (one place to keep it)."""
    example = first_example(model)
    return {"model": model, **(_example(example) if example else {})}


def _example(body: dict[str, Any]) -> dict[str, Any]:
    return {"content": {JSON: {"example": body}}}


_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {
        "model": ErrorOut,
        "description": "the customer is not in the served release",
        **_example(
            {
                "error": "unknown_customer",
                "message": "customer 'nope' is not in release gs_2612061500",
                "customer": "nope",
            }
        ),
    },
    422: {
        "model": ErrorOut,
        "description": "a bad parameter",
        **_example(
            {
                "error": "invalid_request",
                "message": "invalid parameter: query.limit",
                "details": [
                    {
                        "loc": ["query", "limit"],
                        "msg": "Input should be less than or equal to 50",
                        "type": "less_than_equal",
                    }
                ],
            }
        ),
    },
    503: {
        "model": ErrorOut,
        "description": "the release is still loading (or failed to load)",
        **_example({"error": "not_ready", "message": "the release is loading, try again shortly"}),
    },
}
QUERY_RESPONSES: dict[int | str, dict[str, Any]] = {200: _answer(QueryAnswer), **_ERRORS}
LIST_RESPONSES: dict[int | str, dict[str, Any]] = {200: _answer(ListAnswer), **_ERRORS}


def json_bytes(body: Any) -> bytes:
    try:
        return orjson.dumps(body)
    except TypeError:
        # orjson refuses lone surrogates; Starlette already replaces them when it decodes a URL, so this
        # is only a safety net: escape instead of failing with a 500.
        return orjson.dumps(_escape_surrogates(body))


def json_response(body: Any, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json_bytes(body), status_code=status_code, media_type=JSON, headers=headers)


def _escape_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {k: _escape_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape_surrogates(v) for v in value]
    return value


def error_response(
    status_code: int, code: str, message: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> Response:
    return json_response({"error": code, "message": message, **extra}, status_code, headers)


def resolve_customer(state: ServingState, customer: str) -> CustomerModel | Response:
    """The customer's model, or the error answer (503 while loading, 404 when not in the release)."""
    model = state.models.get(customer)
    if model is not None:
        return model
    if state.status == "failed":
        # Loading is over and is not retried: waiting will not help. The cause (paths, store errors) is
        # for operators, on /readyz and in the log, not in public answers.
        return error_response(503, "not_ready", "the release failed to load (see /readyz)")
    if state.status != "ready":
        return error_response(503, "not_ready", f"the release is {state.status}, try again shortly")
    return error_response(
        404,
        "unknown_customer",
        f"customer {customer!r} is not in release {state.model_version}",
        customer=customer,
    )


def check_query(q: str) -> Response | None:
    """A 422 answer when the normalised query is too long, else None."""
    too_long = query_too_long(q)
    if too_long is not None:
        return error_response(
            422,
            "invalid_request",
            too_long,
            details=[{"loc": ["query", "q"], "msg": f"at most {MAX_QUERY_CHARS} characters"}],
        )
    return None


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> Response:
        # The input is not echoed back: it can be arbitrary bytes from anyone.
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        where = ", ".join(".".join(str(p) for p in d["loc"]) for d in details)
        return error_response(422, "invalid_request", f"invalid parameter: {where}", details=details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def crashed(_request: Request, exc: Exception) -> Response:
        log.exception("kwrec: unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "internal error")


def _static(name: str) -> bytes:
    return resources.files("kwrec.api").joinpath("static", name).read_bytes()


def _on_ready(state: ServingState) -> None:
    metrics.MODEL_INFO.labels(state.model_version or "", __version__).set(1)
    metrics.READY.set(1)
    metrics.LOAD_SECONDS.set(state.load_seconds or 0.0)
    if state.model_version:
        metrics.set_release(state.model_version)
    for customer, model in state.models.items():
        metrics.CUSTOMER_KEYWORDS.labels(customer).set(model.keyword_count)


def create_app(settings: Settings, *, state: ServingState | None = None) -> FastAPI:
    """The API app. The release loads in a background thread started by the lifespan, unless a
    ``state`` is passed in (already loaded, or deliberately left loading)."""
    st = state if state is not None else ServingState()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if state is None:
            metrics.READY.set(0)
            start_loading(st, settings, on_ready=_on_ready)
        if metrics.multiprocess_dir() is not None:
            metrics.start_flushing()
        try:
            yield
        finally:
            # A worker that stops (a restart, a scale-down) moves its last counts into the shared files:
            # the counts since the last periodic flush would otherwise go with it.
            if metrics.multiprocess_dir() is not None:
                metrics.TALLY.flush()

    app = FastAPI(
        title="kwrec",
        version=__version__,
        summary="Search-keyword recommendations: autocomplete, related, popular and trending keywords",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_offline_docs(app)
    app.state.kwrec = st
    if settings.serve.cors_origins:
        # Client sites call the API straight from their search box; only GETs, no credentials.
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.serve.cors_origins, allow_methods=["GET"], max_age=3600
        )
    _install_error_handlers(app)
    index_html, demo_js = _static("index.html"), _static("demo.js")

    @functools.lru_cache(maxsize=ANSWER_CACHE_SIZE)
    def cached_answer(
        customer: str, kind: Kind, q: str | None, limit: int, rules_generation: int
    ) -> tuple[bytes, int]:
        # Only reached for a customer of the loaded release. The models never change once loaded; the
        # rules do, and each change (or a rule's window opening or closing) is a new generation.
        rules = st.rules.for_customer(customer)
        body = answer(st.models[customer], st.model_version or "", kind, q, limit, rules)
        return json_bytes(body), len(body["suggestions"])

    tally = metrics.TALLY.count

    def answered(customer: str, kind: Kind, q: str | None, limit: int) -> Response:
        hits = cached_answer.cache_info().hits
        content, suggestions = cached_answer(customer, kind, q, limit, st.rules.generation)
        tally(customer, kind, suggestions, cached_answer.cache_info().hits > hits)
        return Response(content, media_type=JSON)

    async def query_kind(kind: Kind, customer: str, q: str, limit: int) -> Response:
        model = resolve_customer(st, customer)
        if isinstance(model, Response):
            return model
        bad = check_query(q)
        if bad is not None:
            return bad
        return answered(customer, kind, q, limit)

    async def list_kind(kind: Kind, customer: str, limit: int) -> Response:
        model = resolve_customer(st, customer)
        if isinstance(model, Response):
            return model
        return answered(customer, kind, None, limit)

    @app.get("/v1/{customer}/autocomplete", responses=QUERY_RESPONSES, tags=["suggestions"])
    async def autocomplete(customer: CustomerPath, q: QueryParam, limit: LimitParam = 10) -> Response:
        """Completions of what the user has typed so far, best first."""
        return await query_kind("autocomplete", customer, q, limit)

    @app.get("/v1/{customer}/related", responses=QUERY_RESPONSES, tags=["suggestions"])
    async def related(customer: CustomerPath, q: QueryParam, limit: LimitParam = 10) -> Response:
        """Keywords searched together with this keyword, best first (empty for an unknown keyword)."""
        return await query_kind("related", customer, q, limit)

    @app.get("/v1/{customer}/popular", responses=LIST_RESPONSES, tags=["suggestions"])
    async def popular(customer: CustomerPath, limit: LimitParam = 10) -> Response:
        """The customer's most searched keywords recently."""
        return await list_kind("popular", customer, limit)

    @app.get("/v1/{customer}/trending", responses=LIST_RESPONSES, tags=["suggestions"])
    async def trending(customer: CustomerPath, limit: LimitParam = 10) -> Response:
        """Keywords rising fastest against their own recent past."""
        return await list_kind("trending", customer, limit)

    @app.get("/healthz", responses={200: _answer(HealthOut)}, tags=["operations"])
    async def healthz() -> Response:
        """The process is alive (answers even while the release loads)."""
        return json_response({"status": "ok"})

    @app.get(
        "/readyz",
        responses={
            200: _answer(ReadyOut),
            503: {"model": ReadyOut, **_example({"status": "loading", "error": None})},
        },
        tags=["operations"],
    )
    async def readyz() -> Response:
        """200 once every customer's model is loaded and answers its golden queries, else 503."""
        if st.status == "ready":
            return json_response(
                {"status": "ready", "model_version": st.model_version, "customers": len(st.models)}
            )
        return json_response({"status": st.status, "error": st.error}, 503)

    @app.get("/version", responses={200: _answer(VersionOut), 503: _ERRORS[503]}, tags=["operations"])
    async def version() -> Response:
        """The served model version, the code version and the customers of the release."""
        if st.status == "failed":
            return error_response(503, "not_ready", "the release failed to load (see /readyz)")
        if st.status != "ready":
            return error_response(503, "not_ready", f"the release is {st.status}")
        return json_response(
            {
                "model_version": st.model_version,
                "code_version": st.code_version,
                "release_code_version": st.release_code_version,
                "customers": sorted(st.models),
            }
        )

    @app.get(
        "/metrics",
        response_class=Response,
        responses={
            200: {
                "content": {
                    "text/plain": {
                        "schema": {"type": "string"},
                        "example": "# TYPE kwrec_ready gauge\nkwrec_ready 1.0\n",
                    }
                }
            }
        },
        tags=["operations"],
    )
    async def metrics_endpoint() -> Response:
        """Prometheus metrics (every worker's, in multiprocess mode)."""
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def demo_page() -> Response:
        return Response(index_html, media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)

    @app.get("/demo.js", include_in_schema=False)
    async def demo_script() -> Response:
        return Response(demo_js, media_type="text/javascript; charset=utf-8", headers=_PAGE_HEADERS)

    app.add_middleware(metrics.MetricsMiddleware, known_customers=st.known_customers)
    return app


# Keywords come from end users' search logs: the page renders them with textContent only, and the policy
# forbids inline script so that even a rendering mistake cannot run injected code.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}
