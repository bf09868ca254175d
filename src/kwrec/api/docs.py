"""``/docs`` (Swagger UI) and ``/redoc`` with their scripts served by the API itself.

FastAPI's defaults load both UIs from a CDN, so on a machine without internet (or behind a strict proxy)
the pages stay blank. The assets come from the ``fastapi-offline`` wheel (MIT; Swagger UI is Apache-2.0,
ReDoc MIT, their licences are in that package), read once at start and served with a long cache life:
their names change with the package version, never their content.

One URL inside ReDoc's bundle still points at a CDN (the "API docs by Redocly" logo in its menu): it is
rewritten to the favicon served here, so /redoc makes no request beyond the API (checked in a browser by
tests/integration/test_docs_offline.py).
"""

from __future__ import annotations

from importlib import metadata, resources

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.exceptions import HTTPException
from starlette.responses import Response

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
_REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
_CACHE = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}


def _asset_prefix() -> str:
    # The package version in the path: a new version's assets are never served from a stale cache.
    return f"/docs-assets/{metadata.version('fastapi-offline')}"


def install_offline_docs(app: FastAPI) -> None:
    """Add ``/docs``, ``/redoc`` and their assets; the app must be created with ``docs_url=None`` and
    ``redoc_url=None``."""
    files = resources.files("fastapi_offline").joinpath("static")
    assets = {name: files.joinpath(name).read_bytes() for name in ASSETS}
    prefix = _asset_prefix()
    redoc_js = assets["redoc.standalone.js"]
    assets["redoc.standalone.js"] = redoc_js.replace(_REDOC_LOGO, f"{prefix}/favicon.png".encode())
    title = f"{app.title} {app.version}"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{prefix}/swagger-ui-bundle.js",
            swagger_css_url=f"{prefix}/swagger-ui.css",
            swagger_favicon_url=f"{prefix}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> Response:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{title} - ReDoc",
            redoc_js_url=f"{prefix}/redoc.standalone.js",
            redoc_favicon_url=f"{prefix}/favicon.png",
            with_google_fonts=False,  # fonts.googleapis.com is a network request too
        )

    @app.get(prefix + "/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        body = assets.get(name)
        if body is None:
            raise HTTPException(404, f"no documentation asset {name!r}")
        return Response(body, media_type=ASSETS[name], headers=_CACHE)
