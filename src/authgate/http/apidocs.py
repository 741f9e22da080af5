"""``/docs`` (Swagger UI) served from an installed package, never a CDN.

FastAPI's own page loads Swagger UI from jsDelivr and bootstraps it with an inline
script, so offline it is blank and it needs a loose CSP. Here the assets come from the
``fastapi-offline`` package (Swagger UI 5, which reads OpenAPI 3.1), the bootstrap is a
static file of ours, and the page's policy allows scripts from 'self' only. ReDoc is not
served: it fetches its logo from its CDN.
"""

from __future__ import annotations

from html import escape

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

__all__ = ["ASSETS", "install"]

#: Where the Swagger UI files are served (under /docs, so the docs policy applies).
ASSETS = "/docs/assets"

_SWAGGER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - API docs</title>
<link rel="icon" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css"></head>
<body><div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{init}"></script></body></html>
"""


def install(app: FastAPI) -> None:
    """Add ``/docs`` and its assets; create the app with ``docs_url=None, redoc_url=None``."""
    app.mount(ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-assets")
    openapi = app.openapi_url or "/openapi.json"

    async def swagger(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", ""))
        return HTMLResponse(
            _SWAGGER.format(
                title=escape(app.title),
                assets=escape(root + ASSETS),
                openapi=escape(root + openapi),
                init=escape(root + "/static/swagger-init.js"),
            )
        )

    app.add_route("/docs", swagger, methods=["GET"], include_in_schema=False)
